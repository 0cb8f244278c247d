// Package ownership says which package owns which table of the product's
// schema: the owner is the only package whose code writes the table;
// every other package goes through the owner's functions (inside its own
// transaction when the change must be atomic). The package's test reads
// the Go sources and the migrations and fails when another package writes
// a table, when a migration creates a table without an owner, or when the
// README's table disagrees with this map.
package ownership

// Owners maps each table to the package (import path below the module)
// that owns it.
var Owners = map[string]string{
	"products":               "internal/catalog",
	"inventory":              "internal/inventory",
	"inventory_buckets":      "internal/inventory",
	"inventory_gate":         "internal/inventory",
	"reservations":           "internal/inventory",
	"checkouts":              "internal/checkout",
	"checkout_items":         "internal/checkout",
	"orders":                 "internal/order",
	"order_items":            "internal/order",
	"payment_transactions":   "internal/payment",
	"payment_disputes":       "internal/payment",
	"payment_breakers":       "internal/payment",
	"payment_breaker_events": "internal/payment",
	"stripe_events":          "internal/webhook",
	"audit_log":              "internal/audit",
	"processed_messages":     "internal/events",
	"consumer_failures":      "internal/events",
	"outbox_emails":          "internal/notify",
	"shipments":              "internal/events/shipping",
	"ops_audit":              "cmd/checkoutctl",
}

// Exceptions are packages allowed to write tables they do not own, and why.
var Exceptions = map[string]string{
	"cmd/bench": "seeds its throwaway benchmark database with raw rows",
}
