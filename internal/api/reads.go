package api

import (
	"context"

	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/checkout"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/order"
	"github.com/checkout-dev/checkout/internal/readpool"
)

// Reads is the API's read replica (docs/replicas.md): Reader picks, per
// read, the replica or the primary, and the stores here are on the
// replica's pool (Deps' own are on the primary's). Which route reads where:
//
//   - GET /v1/products/{sku} (its stock level; the product itself comes
//     from the catalog cache or the primary, so an admin's change shows at
//     once) and GET /v1/orders/{id}: from the replica while it is within
//     the lag bound; what the replica does not have (a product or an order
//     just created) is asked of the primary, so a client never gets a 404
//     for something it was just told exists.
//   - GET /v1/checkouts/{id}[?wait=N]: Store.WaitFrom: the replica's
//     answer only for a settled checkout (completed, needs_review), the
//     primary's for anything else, also right after POST /v1/checkouts.
//   - Everything else reads the primary: the writes and the reads inside
//     them, the catalog cache's fills (an entry cached from a lagging
//     replica would outlive the lag by its TTL), the admin's inventory
//     reads (an admin reads what they just wrote), the stock gate's status
//     (compared with Redis, which is live) and a checkout's next action.
type Reads struct {
	Reader    *readpool.Reader
	Checkouts *checkout.Store
	Orders    *order.Service
	Inventory *inventory.Store
}

// NewReads returns the read side on reader's replica, or nil when reader
// has none (every route then reads the primary, as without replicas).
func NewReads(reader *readpool.Reader) *Reads {
	if reader == nil || !reader.Replicated() {
		return nil
	}
	pool := reader.Pool(readpool.Replica)
	inv := inventory.New(pool, inventory.Options{Actor: "api-replica"})
	return &Reads{Reader: reader, Checkouts: checkout.NewStore(pool),
		Orders: order.NewService(pool, inv), Inventory: inv}
}

// stores are the read stores of one side.
type stores struct {
	checkouts *checkout.Store
	orders    *order.Service
	inventory *inventory.Store
}

func (h *Handler) stores(side readpool.Side) stores {
	if r := h.d.Reads; side == readpool.Replica && r != nil {
		return stores{checkouts: r.Checkouts, orders: r.Orders, inventory: r.Inventory}
	}
	return stores{checkouts: h.d.Checkouts, orders: h.d.Orders, inventory: h.d.Inventory}
}

func (h *Handler) reader() *readpool.Reader {
	if h.d.Reads == nil {
		return nil
	}
	return h.d.Reads.Reader
}

// read runs fn on the replica's stores when the reader picks the replica,
// else on the primary's; a replica's failure, or its "not found" (the row
// may not be replayed yet), is asked of the primary.
func read[T any](ctx context.Context, h *Handler, fn func(ctx context.Context, s stores) (T, error)) (T, error) {
	v, _, err := readpool.Read(ctx, h.reader(), func(ctx context.Context, side readpool.Side) (T, error) {
		return fn(ctx, h.stores(side))
	}, func(_ T, err error) bool { return !apperr.Is(err, apperr.NotFound) })
	return v, err
}

// checkoutSource reads checkout id of user for Store.WaitFrom: through
// the reader when there is a replica, from the primary when asked (and
// always without a replica).
func (h *Handler) checkoutSource(id uuid.UUID, user string) checkout.Source {
	return func(ctx context.Context, primary bool) (checkout.Checkout, bool, error) {
		if primary {
			c, err := h.d.Checkouts.GetForUser(ctx, id, user)
			return c, true, err
		}
		c, side, err := readpool.Read(ctx, h.reader(), func(ctx context.Context, side readpool.Side) (checkout.Checkout, error) {
			return h.stores(side).checkouts.GetForUser(ctx, id, user)
		}, nil)
		return c, side == readpool.Primary, err
	}
}
