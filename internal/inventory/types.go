package inventory

import (
	"time"

	"github.com/google/uuid"
)

// Limits on a reservation request.
const (
	MaxLines    = 100  // lines per reservation
	MaxQuantity = 1000 // units per line
)

// Reservation statuses, as stored in reservations.status.
const (
	StatusReserved  = "reserved"
	StatusCommitted = "committed"
	StatusReleased  = "released"
)

// Release reasons, as stored in reservations.release_reason.
const (
	ReasonCompensation = "compensation"
	ReasonExpired      = "expired"
)

// Audit actions written to audit_log.action.
const (
	ActionReserve   = "reserve"
	ActionRelease   = "release"
	ActionCommit    = "commit"
	ActionExpire    = "expire"
	ActionSetOnHand = "set_on_hand"
)

// Line is one SKU and the number of units wanted.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Reservation is the stock held for one checkout.
type Reservation struct {
	CheckoutID uuid.UUID `json:"checkout_id"`
	// Lines are sorted by SKU.
	Lines     []Line    `json:"lines"`
	ExpiresAt time.Time `json:"expires_at"`
	// Replayed is true when the reservation already existed (an earlier
	// call, or a concurrent duplicate, made it) and no stock was touched.
	Replayed bool `json:"replayed"`
}

// Level is the stock of one SKU. Available is OnHand - Reserved.
type Level struct {
	SKU       string `json:"sku"`
	OnHand    int    `json:"on_hand"`
	Reserved  int    `json:"reserved"`
	Available int    `json:"available"`
}

func newLevel(sku string, onHand, reserved int) Level {
	return Level{SKU: sku, OnHand: onHand, Reserved: reserved, Available: onHand - reserved}
}
