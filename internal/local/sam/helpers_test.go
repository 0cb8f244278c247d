package sam

import (
	"os"
	"path/filepath"
	"testing"
)

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// loadRepoTemplate loads /<repo>/template.yaml with its defaults.
func loadRepoTemplate(t *testing.T) *Template {
	t.Helper()
	tpl, err := Load(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatalf("Load(template.yaml): %v", err)
	}
	return tpl
}

func mustParse(t *testing.T, src string) *Template {
	t.Helper()
	tpl, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tpl
}
