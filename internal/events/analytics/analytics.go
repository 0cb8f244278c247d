// Package analytics is the analytics consumer: it appends order events to
// newline-delimited JSON files that a warehouse loader (BigQuery, Redshift
// COPY, Snowflake, DuckDB) reads as they are.
//
// Layout: <Dir>/dt=YYYY-MM-DD/order_events-<UTC time>-<first event id>.ndjson,
// one file per SQS batch, partitioned by the day the batch was written.
// A file is written to a hidden temporary name in the same folder, synced,
// then renamed: readers never see a partial file. Loaders must ignore names
// starting with ".".
package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/events"
)

// ConsumerName keys this consumer's rows in processed_messages.
const ConsumerName = "analytics"

// Row is one line of a batch file: the event flattened for a warehouse
// table. Amounts are integer minor units.
type Row struct {
	EventID       string        `json:"event_id"`
	Type          string        `json:"type"`
	SchemaVersion int           `json:"schema_version"`
	OccurredAt    time.Time     `json:"occurred_at"`
	LoadedAt      time.Time     `json:"loaded_at"`
	OrderID       string        `json:"order_id"`
	CheckoutID    string        `json:"checkout_id"`
	UserID        string        `json:"user_id"`
	Amount        int64         `json:"amount"`
	Currency      string        `json:"currency"`
	ItemCount     int           `json:"item_count"`
	Items         []events.Item `json:"items"`
	MessageID     string        `json:"sqs_message_id"`
}

// Writer writes batch files under Dir.
type Writer struct {
	Dir string
	Now func() time.Time // default time.Now
}

// WriteBatch is the consumer's BatchWork: it writes ds as one file. The
// file is renamed into place before the claiming transaction commits, so a
// failed commit can leave a file whose events are delivered again:
// delivery to the warehouse is at least once, and every row carries its
// event_id for the loader to deduplicate on.
func (w *Writer) WriteBatch(_ context.Context, _ pgx.Tx, ds []events.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	t := now().UTC()
	dir := filepath.Join(w.Dir, "dt="+t.Format("2006-01-02"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*.ndjson")
	if err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	enc := json.NewEncoder(f)
	for _, d := range ds {
		e := d.Event
		n := 0
		for _, it := range e.Order.Items {
			n += it.Quantity
		}
		if err := enc.Encode(Row{EventID: e.EventID, Type: e.Type, SchemaVersion: e.SchemaVersion,
			OccurredAt: e.OccurredAt.UTC(), LoadedAt: t, OrderID: e.Order.OrderID, CheckoutID: e.Order.CheckoutID,
			UserID: e.Order.UserID, Amount: e.Order.Amount, Currency: e.Order.Currency, ItemCount: n,
			Items: e.Order.Items, MessageID: d.MessageID}); err != nil {
			return fmt.Errorf("analytics: write %s: %w", tmp, err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("analytics: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("analytics: close %s: %w", tmp, err)
	}
	final := filepath.Join(dir, fmt.Sprintf("order_events-%s-%s.ndjson", t.Format("20060102T150405.000000000Z"), ds[0].Event.EventID))
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil { // make the rename durable
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// NewConsumer returns the analytics consumer writing under dir.
func NewConsumer(pool *pgxpool.Pool, dir string, log *slog.Logger) *events.Consumer {
	w := &Writer{Dir: dir}
	return &events.Consumer{Name: ConsumerName, Pool: pool, BatchWork: w.WriteBatch, Log: log}
}
