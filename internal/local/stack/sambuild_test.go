package stack_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSamBuildIsTheProjectsBuild: `sam build` builds every function with
// the repository's own Makefile (template Metadata BuildMethod makefile, a
// functions/<name>/Makefile with its build-<LogicalId> target calling
// lambda-bootstrap for that function, the flags the Lambda tests prove),
// in the source tree and never from SAM's cache (samconfig.toml). So the
// template, the Makefiles and samconfig cannot drift apart.
func TestSamBuildIsTheProjectsBuild(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	tpl := loadRepoTemplate(t)
	for _, id := range tpl.FunctionIDs() {
		f := tpl.Functions[id]
		if f.BuildMethod != "makefile" {
			t.Errorf("%s: BuildMethod %q; want makefile", id, f.BuildMethod)
			continue
		}
		mk, err := os.ReadFile(filepath.Join(root, f.CodeURI, "Makefile"))
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		if !regexp.MustCompile(`(?m)^build-`+id+`:`).Match(mk) || !strings.Contains(string(mk), "lambda-bootstrap FUNCTION="+f.Name+" ") {
			t.Errorf("%s: %s/Makefile has no build-%s target building %s:\n%s", id, f.CodeURI, id, f.Name, mk)
		}
		// What make would run (-n: print, do not build).
		cmd := exec.Command("make", "-n", "-s", "-C", filepath.Join(root, f.CodeURI), "build-"+id, "ARTIFACTS_DIR=/tmp/sam-artifacts/"+id)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: make -n: %v\n%s", id, err, out)
			continue
		}
		for _, want := range []string{"GOOS=linux GOARCH=arm64", "CGO_ENABLED=0", "-tags lambda.norpc", "-trimpath", `-ldflags "-s -w"`,
			`-o "/tmp/sam-artifacts/` + id + `/bootstrap" ./functions/` + f.Name} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: sam build would run %s; want %q in it", id, out, want)
			}
		}
	}
	cfg, err := os.ReadFile(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"default", "dev", "prod"} {
		section := regexp.MustCompile(`(?s)\[` + env + `\.build\.parameters\](.*?)(\n\[|$)`).FindSubmatch(cfg)
		if section == nil || !strings.Contains(string(section[1]), "cached = false") || !strings.Contains(string(section[1]), "build_in_source = true") {
			t.Errorf("samconfig.toml [%s.build.parameters] must set cached = false and build_in_source = true", env)
		}
	}
}
