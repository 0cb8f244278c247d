package sam

import (
	"path/filepath"
	"testing"
)

// loadFixture loads testdata/template.yaml, a small application in the
// shapes the model understands, with its defaults.
func loadFixture(t *testing.T) *Template {
	t.Helper()
	tpl, err := Load(filepath.Join("testdata", "template.yaml"))
	if err != nil {
		t.Fatalf("Load(testdata/template.yaml): %v", err)
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
