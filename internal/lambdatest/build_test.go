package lambdatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"
)

// rieModule is the pinned Runtime Interface Emulator (the aws-lambda-runtime-interface-emulator module, pinned here).
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// buildParallelism bounds concurrent `go build`s (a 2-core machine).
const buildParallelism = 2

// repoRoot returns the module root: the nearest parent of the working
// directory holding go.mod.
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
			t.Fatal("lambdatest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// discoverFunctions lists functions/<name> folders: those with a main.go
// (to build and test) and those without one yet.
func discoverFunctions(t *testing.T, root string) (withMain, withoutMain []string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatalf("lambdatest: read functions/: %v", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, "functions", e.Name(), "main.go")); err == nil {
			withMain = append(withMain, e.Name())
		} else {
			withoutMain = append(withoutMain, e.Name())
		}
	}
	sort.Strings(withMain)
	sort.Strings(withoutMain)
	return withMain, withoutMain
}

// built is the outcome of building one function.
type built struct {
	path string // <dir>/<name>/bootstrap
	size int64  // bytes
	took time.Duration
	err  error // with the compiler's output
}

// buildAll builds every named function as outDir/<name>/bootstrap, at most
// buildParallelism at a time, with the deployment flags for the host
// architecture.
func buildAll(t *testing.T, root, outDir string, names []string) map[string]built {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("lambdatest: the go command is not on PATH: %v", err)
	}
	out := make(map[string]built, len(names))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, buildParallelism)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			b := buildOne(goBin, root, outDir, name)
			mu.Lock()
			out[name] = b
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func buildOne(goBin, root, outDir, name string) built {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	path := filepath.Join(outDir, name, "bootstrap")
	cmd := exec.CommandContext(ctx, goBin, "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w",
		"-o", path, "./functions/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	start := time.Now()
	err := cmd.Run()
	b := built{path: path, took: time.Since(start)}
	if err != nil {
		b.err = fmt.Errorf("CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags \"-s -w\" ./functions/%s: %w\n%s",
			name, err, output.String())
		return b
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.err = fmt.Errorf("go build ./functions/%s produced no bootstrap: %w", name, err)
		return b
	}
	b.size = fi.Size()
	return b
}

// rieBinary returns the path of aws-lambda-rie: <root>/bin, then PATH, else
// it is installed into <root>/bin. When it cannot be installed the test is
// skipped, or fails when CI is set.
func rieBinary(t *testing.T, root string) string {
	t.Helper()
	local := filepath.Join(root, "bin", "aws-lambda-rie")
	if isExecutable(local) {
		return local
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	goBin, err := exec.LookPath("go")
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goBin, "install", rieModule)
		cmd.Env = append(os.Environ(), "GOBIN="+filepath.Join(root, "bin"), "CGO_ENABLED=0")
		var out []byte
		if out, err = cmd.CombinedOutput(); err == nil && isExecutable(local) {
			return local
		}
		if err == nil {
			err = errors.New("go install succeeded but bin/aws-lambda-rie is missing")
		}
		err = fmt.Errorf("%w\n%s", err, out)
	}
	msg := fmt.Sprintf("aws-lambda-rie is not installed and `go install %s` failed: %v", rieModule, err)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg + " (set CI to make this a failure)")
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// hostArch is GOOS/GOARCH of the builds.
func hostArch() string { return runtime.GOOS + "/" + runtime.GOARCH }
