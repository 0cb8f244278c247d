package stack_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestCfnLint runs AWS's cfn-lint (SAM transform included) on template.yaml:
// exit 0 means no errors and no warnings. Skipped when cfn-lint is not
// installed, unless CI is set.
func TestCfnLint(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("cfn-lint not found and CI is set: install it (pip install cfn-lint)")
		}
		t.Skip("cfn-lint not installed")
	}
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, filepath.Join(root, "template.yaml"))
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint template.yaml: %v\n%s", err, out)
	}
}
