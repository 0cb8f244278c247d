package ownership_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/checkout-dev/checkout/internal/ownership"
)

var (
	createTable = regexp.MustCompile(`(?i)CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)`)
	// A write: INSERT INTO t, UPDATE t (not ON CONFLICT's DO UPDATE SET, not
	// FOR UPDATE), DELETE FROM t, TRUNCATE t.
	write = regexp.MustCompile(`(?i)(\bDO\s+|\bFOR\s+(?:NO\s+KEY\s+)?)?\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE)\s+([a-z_]+)`)
)

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestOnlyOwnersWrite: every table the migrations create has an owner,
// and no package but its owner (or a listed exception) writes it.
func TestOnlyOwnersWrite(t *testing.T) {
	t.Parallel()
	r := root(t)
	migrations, err := filepath.Glob(filepath.Join(r, "migrations", "*.sql"))
	if err != nil || len(migrations) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	tables := map[string]bool{}
	for _, m := range migrations {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range createTable.FindAllStringSubmatch(string(b), -1) {
			tables[strings.ToLower(c[1])] = true
		}
	}
	for table := range tables {
		if ownership.Owners[table] == "" {
			t.Errorf("migration creates %s, which has no owner in ownership.Owners", table)
		}
	}
	for table := range ownership.Owners {
		if !tables[table] {
			t.Errorf("ownership.Owners lists %s, which no migration creates", table)
		}
	}
	writes := 0
	for _, dir := range []string{"internal", "cmd", "functions"} {
		err := filepath.WalkDir(filepath.Join(r, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			rel, _ := filepath.Rel(r, path)
			pkg := filepath.ToSlash(filepath.Dir(rel))
			if _, ok := ownership.Exceptions[pkg]; ok {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range write.FindAllStringSubmatch(string(b), -1) {
				table := strings.ToLower(m[3])
				if m[1] != "" || !tables[table] {
					continue // DO UPDATE / FOR UPDATE, or not a table
				}
				writes++
				if owner := ownership.Owners[table]; owner != pkg {
					t.Errorf("%s writes %s (%s), which %s owns", rel, table, strings.Join(strings.Fields(m[0]), " "), owner)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if writes < 20 {
		t.Fatalf("only %d writes found: the scanner is broken", writes)
	}
}

// TestReadmeListsTheOwners: the README's table of owners is this map.
func TestReadmeListsTheOwners(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| `([a-z_/]+)` \\|$")
	got := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		got[m[1]] = m[2]
	}
	var missing []string
	for table, owner := range ownership.Owners {
		if got[table] != owner {
			missing = append(missing, table+" → "+owner)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 || len(got) != len(ownership.Owners) {
		t.Fatalf("README's table of owners differs: missing or wrong %v; README lists %d tables, the map %d", missing, len(got), len(ownership.Owners))
	}
}
