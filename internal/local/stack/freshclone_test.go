package stack_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/checkout-dev/checkout/internal/local/stack"
)

// TestStartsWithoutADataDirectory: `make dev` in a fresh clone, where
// .data does not exist yet, both with DATABASE_URL (nothing else creates
// the directory before the endpoints file is written: it crashed with
// "open .data/endpoints.json.tmp: no such file or directory") and with the
// embedded PostgreSQL under it.
func TestStartsWithoutADataDirectory(t *testing.T) {
	t.Parallel()
	for name, ownDB := range map[string]bool{"with DATABASE_URL": true, "with the embedded PostgreSQL": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			// The embedded cluster runs as the postgres user (we may be
			// root): let it reach its data directory, as in a clone.
			for _, d := range []string{tmp, filepath.Dir(tmp)} {
				if err := os.Chmod(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			dir := filepath.Join(tmp, "fresh-clone", ".data")
			e := startE2EWith(t, roomy, func(o *stack.Options) {
				o.DataDir = dir
				if !ownDB {
					o.DatabaseURL = ""
				}
			})
			if r := e.do("GET", "/v1/health", "", "", nil, ""); r.status != 200 {
				t.Fatalf("health: %d %s", r.status, r.raw)
			}
			if _, err := os.Stat(filepath.Join(dir, "endpoints.json")); err != nil {
				t.Fatalf("endpoints file: %v", err)
			}
		})
	}
}
