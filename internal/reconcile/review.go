package reconcile

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/audit"
)

// Item is a manual-review message from reconciliation. Its type is the
// reason; summary is the one line a person acts on.
type Item struct {
	Type       string         `json:"type"`
	CheckoutID string         `json:"checkout_id"`
	Summary    string         `json:"summary"`
	Detail     map[string]any `json:"detail,omitempty"`
}

// Reviewer hands an item to a person.
type Reviewer interface {
	Review(ctx context.Context, it Item) error
}

// SQSReviewer sends items to the manual-review queue.
type SQSReviewer struct {
	Client   *sqs.Client
	QueueURL string
}

// Review implements Reviewer.
func (q SQSReviewer) Review(ctx context.Context, it Item) error {
	body, err := json.Marshal(it)
	if err != nil {
		return err
	}
	_, err = q.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.QueueURL), MessageBody: aws.String(string(body))})
	return err
}

// review sends one item per (checkout, reason, key) — key tells apart two
// problems of one kind (two refunds, two disputes) — and records it in the
// audit log, which is also how a repeat is recognised.
func (r *Reconciler) review(ctx context.Context, res *Result, id uuid.UUID, reason, key, summary string, detail map[string]any) error {
	dedupe := reason + ":" + key
	sent, err := audit.HasKey(ctx, r.Pool, id, "review_requested", dedupe)
	if err != nil {
		return fmt.Errorf("reconcile: look up review: %w", err)
	}
	res.Reviews = append(res.Reviews, reason)
	if sent {
		return nil
	}
	if err := r.Review.Review(ctx, Item{Type: reason, CheckoutID: id.String(), Summary: summary, Detail: detail}); err != nil {
		return fmt.Errorf("reconcile: send review: %w", err)
	}
	r.log().WarnContext(ctx, "reconcile: sent to manual review", "checkout_id", id, "reason", reason, "summary", summary)
	d := map[string]any{"key": dedupe, "reason": reason, "summary": summary}
	for k, v := range detail {
		d[k] = v
	}
	return audit.Write(ctx, r.Pool, audit.Entry{Actor: "reconcile", Action: "review_requested", CheckoutID: id, Detail: d})
}
