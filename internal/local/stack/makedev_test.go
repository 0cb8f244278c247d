package stack_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/checkout-dev/checkout/localaws/pgtest"
)

// TestMakeDevFromAFreshClone runs the README's `make dev` in a fresh clone
// of this repository (no .data, no bin), both with DATABASE_URL and with
// the embedded PostgreSQL, on free ports, and waits for the health route.
// It is skipped outside a git checkout (a source tarball).
func TestMakeDevFromAFreshClone(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		t.Skip("not a git checkout: nothing to clone")
	}
	for name, ownDB := range map[string]bool{"with DATABASE_URL": true, "with the embedded PostgreSQL": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			// The embedded cluster runs as the postgres user when we are
			// root: let it into the clone, as in a developer's home.
			for _, d := range []string{tmp, filepath.Dir(tmp)} {
				if err := os.Chmod(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			clone := filepath.Join(tmp, "c")
			if out, err := exec.Command("git", "clone", "-q", root, clone).CombinedOutput(); err != nil {
				t.Fatalf("git clone: %v\n%s", err, out)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "make", "dev")
			cmd.Dir = clone
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
			cmd.WaitDelay = 30 * time.Second
			env := []string{"CHECKOUT_ADDR=127.0.0.1:0", "CHECKOUT_SQS_ADDR=127.0.0.1:0", "CHECKOUT_SFN_ADDR=127.0.0.1:0",
				"CHECKOUT_STRIPE_ADDR=127.0.0.1:0", "DATABASE_URL=", "REDIS_URL="}
			if ownDB {
				env = append(env, "DATABASE_URL="+pgtest.NewDB(t))
			}
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = cmd.Stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
				_ = cmd.Wait()
			}()
			apiLine := regexp.MustCompile(`^\s+API\s+(http://127\.0\.0\.1:\d+)`)
			var api string
			var log strings.Builder
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				log.WriteString(sc.Text() + "\n")
				if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
					api = m[1]
					break
				}
			}
			if api == "" {
				t.Fatalf("make dev never said where the API is:\n%s", log.String())
			}
			go func() { _, _ = io.Copy(io.Discard, out) }()
			resp, err := http.Get(api + "/v1/health")
			if err != nil {
				t.Fatalf("health: %v\n%s", err, log.String())
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("health: %d\n%s", resp.StatusCode, log.String())
			}
			if _, err := os.Stat(filepath.Join(clone, ".data", "endpoints.json")); err != nil {
				t.Fatalf("endpoints file: %v", err)
			}
		})
	}
}
