package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ValidationError says why a message body is not a valid OrderEvent. Field
// is a JSON path such as "order.items[0].quantity" ("" for the whole body).
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return "invalid event: " + e.Reason
	}
	return "invalid event: " + e.Field + ": " + e.Reason
}

// IsValidationError reports whether err (or an error it wraps) is a
// *ValidationError: a message that no retry can fix.
func IsValidationError(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

// MaxEventBytes is the largest body accepted (the SQS message size limit).
const MaxEventBytes = 256 * 1024

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Decode parses and validates a message body against the event schema
// (docs/events.md). It accepts exactly the versions and types this build
// knows (SchemaVersion 1, TypeOrderCreated); unknown extra fields are
// ignored so producers can add optional fields within a version. On failure
// the error is a *ValidationError naming the first offending field.
func Decode(body []byte) (OrderEvent, error) {
	var ev OrderEvent
	if len(body) > MaxEventBytes {
		return ev, &ValidationError{Reason: fmt.Sprintf("body is %d bytes, more than %d", len(body), MaxEventBytes)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return ev, &ValidationError{Reason: "body is not JSON: " + err.Error()}
	}
	if dec.More() {
		return ev, &ValidationError{Reason: "body has data after the JSON value"}
	}
	root, ok := raw.(map[string]any)
	if !ok {
		return ev, &ValidationError{Reason: "body must be a JSON object"}
	}
	v := validator{}
	version := v.integer(root, "", "schema_version", 1, math.MaxInt32)
	if v.err == nil && version != SchemaVersion {
		v.fail("schema_version", fmt.Sprintf("unsupported version %d (this consumer reads %d)", version, SchemaVersion))
	}
	ev.SchemaVersion = int(version)
	ev.EventID = v.uuid(root, "", "event_id")
	ev.Type = v.str(root, "", "type", 100)
	if v.err == nil && ev.Type != TypeOrderCreated {
		v.fail("type", fmt.Sprintf("unknown event type %q", ev.Type))
	}
	ev.OccurredAt = v.timestamp(root, "", "occurred_at")
	if o := v.object(root, "", "order"); o != nil {
		ev.Order = v.order(o)
	}
	if v.err != nil {
		return OrderEvent{}, v.err
	}
	return ev, nil
}

// Validate checks an event built in Go against the same rules as Decode.
func (e OrderEvent) Validate() error {
	b, err := json.Marshal(e)
	if err != nil {
		return &ValidationError{Reason: err.Error()}
	}
	_, err = Decode(b)
	return err
}

type validator struct{ err *ValidationError }

func (v *validator) fail(field, reason string) {
	if v.err == nil {
		v.err = &ValidationError{Field: field, Reason: reason}
	}
}

func path(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func (v *validator) get(m map[string]any, prefix, name string) (any, bool) {
	if v.err != nil {
		return nil, false
	}
	x, ok := m[name]
	if !ok || x == nil {
		v.fail(path(prefix, name), "is required")
		return nil, false
	}
	return x, true
}

func (v *validator) str(m map[string]any, prefix, name string, maxLen int) string {
	x, ok := v.get(m, prefix, name)
	if !ok {
		return ""
	}
	s, ok := x.(string)
	switch {
	case !ok:
		v.fail(path(prefix, name), "must be a string")
	case strings.TrimSpace(s) == "":
		v.fail(path(prefix, name), "must not be empty")
	case len(s) > maxLen:
		v.fail(path(prefix, name), fmt.Sprintf("is longer than %d bytes", maxLen))
	}
	return s
}

func (v *validator) uuid(m map[string]any, prefix, name string) string {
	s := v.str(m, prefix, name, 36)
	if v.err != nil {
		return ""
	}
	if len(s) != 36 {
		v.fail(path(prefix, name), "must be a UUID in its 36-character form")
		return ""
	}
	u, err := uuid.Parse(s)
	if err != nil {
		v.fail(path(prefix, name), "must be a UUID")
		return ""
	}
	return u.String()
}

func (v *validator) timestamp(m map[string]any, prefix, name string) time.Time {
	s := v.str(m, prefix, name, 64)
	if v.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		v.fail(path(prefix, name), "must be an RFC 3339 timestamp")
	}
	return t
}

// integer accepts a JSON number written as an integer (no fraction, no
// exponent) within [lo, hi].
func (v *validator) integer(m map[string]any, prefix, name string, lo, hi int64) int64 {
	x, ok := v.get(m, prefix, name)
	if !ok {
		return 0
	}
	n, ok := x.(json.Number)
	if !ok {
		v.fail(path(prefix, name), "must be an integer")
		return 0
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		v.fail(path(prefix, name), "must be an integer (minor units, no fraction or exponent)")
		return 0
	}
	if i < lo || i > hi {
		v.fail(path(prefix, name), fmt.Sprintf("must be between %d and %d", lo, hi))
	}
	return i
}

func (v *validator) object(m map[string]any, prefix, name string) map[string]any {
	x, ok := v.get(m, prefix, name)
	if !ok {
		return nil
	}
	o, ok := x.(map[string]any)
	if !ok {
		v.fail(path(prefix, name), "must be an object")
	}
	return o
}

func (v *validator) order(o map[string]any) Order {
	var out Order
	out.OrderID = v.uuid(o, "order", "order_id")
	out.CheckoutID = v.uuid(o, "order", "checkout_id")
	out.UserID = v.str(o, "order", "user_id", 255)
	out.Amount = v.integer(o, "order", "amount", 0, math.MaxInt64)
	out.Currency = v.str(o, "order", "currency", 3)
	if v.err == nil {
		if _, ok := CurrencyExponent(out.Currency); !ok {
			v.fail("order.currency", fmt.Sprintf("%q is not an ISO 4217 currency code", out.Currency))
		}
	}
	x, ok := v.get(o, "order", "items")
	if !ok {
		return out
	}
	items, ok := x.([]any)
	switch {
	case !ok:
		v.fail("order.items", "must be an array")
		return out
	case len(items) == 0:
		v.fail("order.items", "must not be empty")
		return out
	case len(items) > 1000:
		v.fail("order.items", "has more than 1000 lines")
		return out
	}
	for i, it := range items {
		p := fmt.Sprintf("order.items[%d]", i)
		m, ok := it.(map[string]any)
		if !ok {
			v.fail(p, "must be an object")
			return out
		}
		item := Item{
			SKU:        v.str(m, p, "sku", 64),
			Name:       v.str(m, p, "name", 200),
			Quantity:   int(v.integer(m, p, "quantity", 1, 1_000_000)),
			UnitAmount: v.integer(m, p, "unit_amount", 0, math.MaxInt64),
		}
		if v.err == nil && !skuPattern.MatchString(item.SKU) {
			v.fail(p+".sku", "must match "+skuPattern.String())
		}
		out.Items = append(out.Items, item)
	}
	return out
}
