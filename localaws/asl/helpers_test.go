package asl

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/checkout-dev/checkout/localaws/asl/asltest"
)

// runnerMap runs tasks by Resource with functions that may fail.
type runnerMap map[string]func(req TaskRequest) (any, error)

func (r runnerMap) RunTask(_ context.Context, req TaskRequest) (json.RawMessage, error) {
	f, ok := r[req.Resource]
	if !ok {
		return nil, &TaskError{ErrorName: "NoSuchResource", Cause: req.Resource}
	}
	v, err := f(req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func mustParse(t *testing.T, def string) *Definition {
	t.Helper()
	d, err := Parse([]byte(def))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

// run executes def to the end on a fresh env, round-tripping the cursor
// through JSON after every step (as the durable layer does).
func run(t *testing.T, def *Definition, env *Env, input string) (Cursor, []Event) {
	t.Helper()
	if env.Clock == nil {
		env.Clock = asltest.NewClock(false)
	}
	c, err := def.Begin(json.RawMessage(input), env.Clock.Now())
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	var all []Event
	final, err := def.Run(context.Background(), env, c, func(next Cursor, evs []Event) error {
		b, err := json.Marshal(next)
		if err != nil {
			return err
		}
		var back Cursor
		if err := json.Unmarshal(b, &back); err != nil {
			return err
		}
		if !reflect.DeepEqual(normCursor(back), normCursor(next)) {
			t.Errorf("cursor does not round-trip:\n%+v\n%+v", back, next)
		}
		all = append(all, evs...)
		return nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return final, all
}

func normCursor(c Cursor) Cursor {
	c.EnteredAt = c.EnteredAt.UTC()
	if c.ResumeAt != nil {
		r := c.ResumeAt.UTC()
		c.ResumeAt = &r
	}
	return c
}

// jsonEq compares two JSON texts structurally.
func jsonEq(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func eventTypes(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}
