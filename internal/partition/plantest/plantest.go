// Package plantest reads PostgreSQL's plans of the product's lookups on
// the partitioned tables, for the tests that check them (no Seq Scan of a
// partition that holds rows; pruning where the key allows it).
package plantest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Node is one node of EXPLAIN (ANALYZE, FORMAT JSON).
type Node struct {
	NodeType        string  `json:"Node Type"`
	Relation        string  `json:"Relation Name"`
	Index           string  `json:"Index Name"`
	Loops           float64 `json:"Actual Loops"`
	SubplansRemoved int     `json:"Subplans Removed"`
	Plans           []Node  `json:"Plans"`
}

// Walk calls f on n and every node below it.
func (n Node) Walk(f func(Node)) {
	f(n)
	for _, c := range n.Plans {
		c.Walk(f)
	}
}

// Removed returns how many subplans the executor pruned at start-up.
func (n Node) Removed() int {
	r := 0
	n.Walk(func(x Node) { r += x.SubplansRemoved })
	return r
}

// Explain runs EXPLAIN (ANALYZE, FORMAT JSON) of query with args on conn
// and returns its plan and the plan's text form (for the log). generic
// plans query as a prepared statement under plan_cache_mode
// force_generic_plan: the plan a cached statement may get, made without
// the parameters' values (EXPLAIN of the query itself always plans with
// them, as PostgreSQL does for the first executions of a statement).
func Explain(t testing.TB, conn *pgx.Conn, generic bool, query string, args ...any) (Node, string) {
	t.Helper()
	ctx := context.Background()
	if generic {
		if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan; PREPARE lookup AS "+query); err != nil {
			t.Fatal(err)
		}
		defer conn.Exec(ctx, "DEALLOCATE lookup; RESET plan_cache_mode") //nolint:errcheck
		// EXECUTE takes no bind parameters: the values go in as literals.
		ps := make([]string, len(args))
		for i, a := range args {
			switch v := a.(type) {
			case int:
				ps[i] = fmt.Sprint(v)
			case time.Time:
				ps[i] = "'" + v.Format(time.RFC3339Nano) + "'"
			default:
				ps[i] = "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'"
			}
		}
		query, args = "EXECUTE lookup("+strings.Join(ps, ", ")+")", nil
	}
	var raw []byte
	if err := conn.QueryRow(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) "+query, args...).Scan(&raw); err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	var out []struct {
		Plan Node `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out) != 1 {
		t.Fatalf("EXPLAIN output %s: %v", raw, err)
	}
	rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Plan, strings.Join(lines, "\n")
}

// Large is the fewest rows (the planner's estimate) that make a partition
// large: a Seq Scan of one fails Scans.
const Large = 100

// Scans returns the scans of the partitions of table that ran (loops > 0),
// node type and index (a bitmap scan's index too) by partition, and fails t on a Seq Scan of a
// partition whose estimate in rows is Large or more (the empty months
// ahead may be read whole: they hold nothing).
func Scans(t testing.TB, n Node, table string, rows map[string]int64) map[string]string {
	t.Helper()
	ran := map[string]string{}
	n.Walk(func(x Node) {
		if !strings.HasPrefix(x.Relation, table+"_") || x.Loops == 0 {
			return
		}
		if x.NodeType == "Seq Scan" && rows[x.Relation] >= Large {
			t.Errorf("Seq Scan on %s (%d rows)", x.Relation, rows[x.Relation])
		}
		index := x.Index
		if x.NodeType == "Bitmap Heap Scan" { // its index is its child's
			x.Walk(func(c Node) {
				if c.NodeType == "Bitmap Index Scan" {
					index = c.Index
				}
			})
		}
		ran[x.Relation] = strings.TrimSpace(x.NodeType + " " + index)
	})
	return ran
}
