package lambdatest

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Packages no deployed Lambda may link: the local AWS emulator (a module of
// its own, whatever its package), the local stack that wires it, the Stripe
// fake, the consumers' test harness, and the testing package itself.
var forbiddenInLambdas = []struct{ path, why string }{
	{"github.com/checkout-dev/checkout/localaws", "the local AWS emulator module (SQS, Step Functions, API Gateway, SAM, pgtest, motoserver)"},
	{"github.com/checkout-dev/checkout/internal/local", "the local stack (make dev)"},
	{"github.com/checkout-dev/checkout/internal/stripefake", "the Stripe fake"},
	{"github.com/checkout-dev/checkout/internal/events/eventstest", "the consumers' test harness"},
	{"github.com/checkout-dev/checkout/internal/redistest", "the Redis test harness (throwaway redis-server)"},
	{"github.com/alicebob/miniredis/v2", "the embedded Redis fallback"},
	{"testing", "the testing package"},
}

// TestLambdasLinkNoEmulatorOrFakes lists, with the deployment build settings
// (linux/arm64, CGO_ENABLED=0, -tags lambda.norpc), every package each
// functions/<name> links and fails on any package of forbiddenInLambdas:
// the emulator and the fakes are for make dev and the tests only.
func TestLambdasLinkNoEmulatorOrFakes(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-tags", "lambda.norpc", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./functions/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./functions/...: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	names, _ := discoverFunctions(t, root)
	if len(lines) != len(names) || len(names) == 0 {
		t.Fatalf("go list returned %d packages for %d functions with a main.go:\n%s", len(lines), len(names), out)
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		fn, deps := fields[0], fields[1:]
		if !slices.Contains(deps, "github.com/aws/aws-lambda-go/lambda") {
			t.Errorf("%s: its dependencies lack aws-lambda-go/lambda; is the listing right? %v", fn, deps)
		}
		var bad []string
		for _, dep := range deps {
			for _, f := range forbiddenInLambdas {
				if dep == f.path || strings.HasPrefix(dep, f.path+"/") {
					bad = append(bad, dep+" ("+f.why+")")
				}
			}
		}
		sort.Strings(bad)
		if len(bad) > 0 {
			t.Errorf("%s links %s", fn, strings.Join(bad, ", "))
		}
	}
}
