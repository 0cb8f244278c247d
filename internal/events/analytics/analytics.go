// Package analytics is the analytics consumer: it stores order events as
// newline-delimited JSON objects that a warehouse loader (Athena, Glue,
// Redshift Spectrum or COPY, BigQuery, Snowflake, DuckDB) reads as they are.
//
// Layout, the same for every Sink: one object per SQS batch at
//
//	dt=YYYY-MM-DD/hour=HH/<batch id>.ndjson
//
// (Hive-style partitions), relative to the sink's root: a folder (Folder,
// local runs) or s3://BUCKET/PREFIX/ (S3, production). The partition is the
// UTC hour of the batch's earliest occurred_at and the batch id is derived
// from the batch's event ids (see BatchKey), so the key depends only on the
// events: a batch that is retried after its object was written (the claiming
// transaction failed to commit) overwrites that object instead of adding a
// second copy.
package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/events"
)

// ConsumerName keys this consumer's rows in processed_messages.
const ConsumerName = "analytics"

// Row is one line of a batch object: the event flattened for a warehouse
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

// Writer writes each batch as one object to Sink.
type Writer struct {
	Sink Sink
	Now  func() time.Time // loaded_at of the rows; default time.Now
}

// WriteBatch is the consumer's BatchWork: it writes ds as one object under
// BatchKey(ds). The object is stored before the claiming transaction
// commits, so a failed commit leaves an object whose events are delivered
// again. A retry of the same events rewrites the same key (no duplicate); a
// retry in which SQS regrouped the events into other batches writes other
// keys, so delivery to the warehouse is at least once and every row carries
// its event_id for the loader to deduplicate on.
func (w *Writer) WriteBatch(ctx context.Context, _ pgx.Tx, ds []events.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	if w.Sink == nil {
		return fmt.Errorf("analytics: no sink")
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	body, err := Encode(ds, now().UTC())
	if err != nil {
		return err
	}
	key := BatchKey(ds)
	if err := w.Sink.Put(ctx, key, body); err != nil {
		return fmt.Errorf("analytics: store batch %s in %s: %w", key, w.Sink, err)
	}
	return nil
}

// Encode renders ds as newline-delimited JSON, one Row per delivery in the
// order given, every row with loadedAt.
func Encode(ds []events.Delivery, loadedAt time.Time) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, d := range ds {
		e := d.Event
		n := 0
		for _, it := range e.Order.Items {
			n += it.Quantity
		}
		if err := enc.Encode(Row{EventID: e.EventID, Type: e.Type, SchemaVersion: e.SchemaVersion,
			OccurredAt: e.OccurredAt.UTC(), LoadedAt: loadedAt, OrderID: e.Order.OrderID, CheckoutID: e.Order.CheckoutID,
			UserID: e.Order.UserID, Amount: e.Order.Amount, Currency: e.Order.Currency, ItemCount: n,
			Items: e.Order.Items, MessageID: d.MessageID}); err != nil {
			return nil, fmt.Errorf("analytics: encode event %s: %w", e.EventID, err)
		}
	}
	return buf.Bytes(), nil
}

// NewConsumer returns the analytics consumer writing under the local folder
// dir (a Folder sink).
func NewConsumer(pool *pgxpool.Pool, dir string, log *slog.Logger) *events.Consumer {
	return NewSinkConsumer(pool, &Folder{Dir: dir}, log)
}

// NewSinkConsumer returns the analytics consumer writing to sink.
func NewSinkConsumer(pool *pgxpool.Pool, sink Sink, log *slog.Logger) *events.Consumer {
	w := &Writer{Sink: sink}
	return &events.Consumer{Name: ConsumerName, Pool: pool, BatchWork: w.WriteBatch, Log: log}
}
