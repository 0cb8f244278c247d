package payment

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Notice asks reconciliation to bring one payment in line with the gateway.
// The webhook sends one per event that names a PaymentIntent; the
// reconciliation job sends them for payments stuck in a non-final state.
// It carries ids only: the reconciler reads the truth from the gateway, so
// stale, duplicated or out-of-order notices are harmless.
type Notice struct {
	IntentID   string `json:"intent_id,omitempty"`
	CheckoutID string `json:"checkout_id,omitempty"`
	EventID    string `json:"event_id,omitempty"`
	EventType  string `json:"event_type,omitempty"`
	DisputeID  string `json:"dispute_id,omitempty"`
}

// DecodeNotice parses and validates a Notice (a queue message body).
func DecodeNotice(body []byte) (Notice, error) {
	var n Notice
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return Notice{}, fmt.Errorf("payment notice: %w", err)
	}
	if n.IntentID == "" && n.CheckoutID == "" {
		return Notice{}, errors.New("payment notice: names neither an intent_id nor a checkout_id")
	}
	return n, nil
}
