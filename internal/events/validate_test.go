package events_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/checkout-dev/checkout/internal/events"
	"github.com/checkout-dev/checkout/internal/events/eventstest"
)

// mutate returns a valid event body with f applied to its generic form.
func mutate(t *testing.T, f func(m map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(eventstest.JSON(eventstest.Event())), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	return eventstest.JSON(m)
}

func order(m map[string]any) map[string]any { return m["order"].(map[string]any) }
func item0(m map[string]any) map[string]any {
	return order(m)["items"].([]any)[0].(map[string]any)
}

func TestDecode(t *testing.T) {
	t.Parallel()
	ev := eventstest.Event()
	got, err := events.Decode([]byte(eventstest.JSON(ev)))
	if err != nil {
		t.Fatalf("valid event: %v", err)
	}
	if got.EventID != ev.EventID || got.Order.Amount != ev.Order.Amount || len(got.Order.Items) != 2 ||
		got.Order.Items[0].Quantity != 2 || !got.OccurredAt.Equal(ev.OccurredAt) {
		t.Fatalf("decoded %+v, want %+v", got, ev)
	}
	if err := ev.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	extra := mutate(t, func(m map[string]any) { m["future_field"] = true })
	if _, err := events.Decode([]byte(extra)); err != nil {
		t.Fatalf("unknown extra field must be ignored: %v", err)
	}

	cases := []struct {
		name, body, field, reason string
	}{
		{"not json", `{"schema_version":`, "", "not JSON"},
		{"array", `[1,2]`, "", "JSON object"},
		{"trailing data", eventstest.JSON(ev) + `{}`, "", "after the JSON value"},
		{"missing version", mutate(t, func(m map[string]any) { delete(m, "schema_version") }), "schema_version", "required"},
		{"future version", mutate(t, func(m map[string]any) { m["schema_version"] = 2 }), "schema_version", "unsupported version 2"},
		{"version as string", mutate(t, func(m map[string]any) { m["schema_version"] = "1" }), "schema_version", "integer"},
		{"bad event id", mutate(t, func(m map[string]any) { m["event_id"] = "evt_123" }), "event_id", "UUID"},
		{"unknown type", mutate(t, func(m map[string]any) { m["type"] = "order.deleted" }), "type", "unknown event type"},
		{"bad time", mutate(t, func(m map[string]any) { m["occurred_at"] = "yesterday" }), "occurred_at", "RFC 3339"},
		{"no order", mutate(t, func(m map[string]any) { delete(m, "order") }), "order", "required"},
		{"bad order id", mutate(t, func(m map[string]any) { order(m)["order_id"] = "42" }), "order.order_id", "UUID"},
		{"empty user", mutate(t, func(m map[string]any) { order(m)["user_id"] = " " }), "order.user_id", "empty"},
		{"float amount", mutate(t, func(m map[string]any) { order(m)["amount"] = 44.97 }), "order.amount", "integer"},
		{"exponent amount", mutate(t, func(m map[string]any) { order(m)["amount"] = json.Number("4.497e3") }), "order.amount", "integer"},
		{"negative amount", mutate(t, func(m map[string]any) { order(m)["amount"] = -1 }), "order.amount", "between"},
		{"lower-case currency", mutate(t, func(m map[string]any) { order(m)["currency"] = "usd" }), "order.currency", "ISO 4217"},
		{"unknown currency", mutate(t, func(m map[string]any) { order(m)["currency"] = "XYZ" }), "order.currency", "ISO 4217"},
		{"no items", mutate(t, func(m map[string]any) { order(m)["items"] = []any{} }), "order.items", "empty"},
		{"zero quantity", mutate(t, func(m map[string]any) { item0(m)["quantity"] = 0 }), "order.items[0].quantity", "between 1"},
		{"negative quantity", mutate(t, func(m map[string]any) { item0(m)["quantity"] = -3 }), "order.items[0].quantity", "between 1"},
		{"fractional unit amount", mutate(t, func(m map[string]any) { item0(m)["unit_amount"] = 19.99 }), "order.items[0].unit_amount", "integer"},
		{"bad sku", mutate(t, func(m map[string]any) { item0(m)["sku"] = "a b" }), "order.items[0].sku", "must match"},
		{"item not object", mutate(t, func(m map[string]any) { order(m)["items"] = []any{"x"} }), "order.items[0]", "object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := events.Decode([]byte(tc.body))
			if err == nil {
				t.Fatal("accepted")
			}
			var ve *events.ValidationError
			if !asValidation(err, &ve) {
				t.Fatalf("error %T %v, want *ValidationError", err, err)
			}
			if ve.Field != tc.field || !strings.Contains(ve.Reason, tc.reason) {
				t.Fatalf("got field %q reason %q, want field %q reason containing %q", ve.Field, ve.Reason, tc.field, tc.reason)
			}
			if !events.IsValidationError(err) {
				t.Fatal("IsValidationError = false")
			}
		})
	}
}

func asValidation(err error, target **events.ValidationError) bool {
	v, ok := err.(*events.ValidationError)
	if ok {
		*target = v
	}
	return ok
}

func TestCurrencyExponent(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]int{"USD": 2, "EUR": 2, "JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3, "CLF": 4} {
		if got, ok := events.CurrencyExponent(code); !ok || got != want {
			t.Errorf("%s: got %d %v, want %d", code, got, ok, want)
		}
	}
	if _, ok := events.CurrencyExponent("usd"); ok {
		t.Error("lower case accepted")
	}
}
