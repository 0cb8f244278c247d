package stockgate

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/redisconn"
)

// Limits on a reservation, the same as the inventory's.
const (
	MaxLines     = 100
	MaxQuantity  = 1000
	MaxAvailable = 1_000_000_000_000 // the most units Arm loads for one SKU
)

// Defaults for [Options].
const (
	DefaultNamespace    = "stockgate"
	DefaultHoldFor      = 20 * time.Minute
	DefaultTombstoneFor = time.Hour
	DefaultTimeout      = time.Second
)

// ErrUnavailable is matched (errors.Is) by every error that means Redis did
// not answer usefully (see [redisconn.ErrUnavailable]): the caller falls
// back to the database path.
var ErrUnavailable = redisconn.ErrUnavailable

// Options configure a [Gate].
type Options struct {
	// Namespace names the gate: every key is "{Namespace}:…", one hash tag,
	// so all of the gate's keys live in one Redis Cluster slot. No braces.
	Namespace string
	// HoldFor is how long a hold lives without Release or Commit before
	// [Gate.Expire] returns its units. It must exceed the reservation TTL
	// plus the sweeper's period, so that the database's own expiry (which
	// calls Release) always comes first; Expire is the safety net for a
	// caller that vanished between the gate and the database.
	HoldFor time.Duration
	// TombstoneFor is how long a released, committed or expired checkout
	// is remembered: a Reserve of it in that time takes nothing.
	TombstoneFor time.Duration
	// Timeout bounds every call (and the network operations inside it),
	// so a lost Redis answers ErrUnavailable instead of hanging.
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Gate is the Redis stock gate. It is safe for concurrent use.
type Gate struct {
	rdb                             redis.UniversalClient
	opts                            Options
	avail, held, lines, due, prefix string
}

// New returns the gate named opts.Namespace on rdb.
func New(rdb redis.UniversalClient, opts Options) (*Gate, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if strings.ContainsAny(opts.Namespace, "{}") {
		return nil, fmt.Errorf("stockgate: namespace %q must not contain braces", opts.Namespace)
	}
	if opts.HoldFor <= 0 {
		opts.HoldFor = DefaultHoldFor
	}
	if opts.TombstoneFor <= 0 {
		opts.TombstoneFor = DefaultTombstoneFor
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := "{" + opts.Namespace + "}:"
	return &Gate{rdb: rdb, opts: opts, prefix: p,
		avail: p + "avail", held: p + "held", lines: p + "lines", due: p + "due"}, nil
}

func (g *Gate) holdKey(id uuid.UUID) string { return g.prefix + "hold:" + id.String() }

// Line is one SKU and a number of units.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Outcome is how a Reserve ended.
type Outcome uint8

// Outcomes of [Gate.Reserve].
const (
	// Held: every line of an armed SKU is held for the checkout (Result.Lines);
	// lines of SKUs that are not armed are listed in Result.Ungated.
	Held Outcome = iota + 1
	// OutOfStock: an armed SKU has fewer units than asked (Result.Short);
	// nothing was taken.
	OutOfStock
	// NotArmed: no SKU of the cart is armed; nothing was taken and the
	// caller reserves in the database alone.
	NotArmed
)

func (o Outcome) String() string {
	switch o {
	case Held:
		return "held"
	case OutOfStock:
		return "out_of_stock"
	case NotArmed:
		return "not_armed"
	}
	return "unknown"
}

// Shortage names the line an OutOfStock answer was about.
type Shortage struct {
	SKU       string `json:"sku"`
	Requested int    `json:"requested"`
	Available int    `json:"available"`
}

// Result is the answer of [Gate.Reserve].
type Result struct {
	Outcome Outcome
	// Replayed: the checkout's hold already existed (an earlier call, or a
	// concurrent duplicate, made it) and nothing was taken now.
	Replayed bool
	// Lines are the lines held in the gate, sorted by SKU (Held only).
	Lines []Line
	// Ungated are the lines whose SKU is not armed, sorted by SKU: the
	// database must check their stock itself (Held and NotArmed).
	Ungated []Line
	// Short is set for OutOfStock.
	Short *Shortage
	// Until is when Expire may return the hold's units (Held only).
	Until time.Time
}

// Err is nil unless the outcome is OutOfStock, for which it is the same
// apperr.OutOfStock error the inventory gives (code "out_of_stock", Details
// sku, requested, available).
func (r Result) Err() error {
	if r.Outcome != OutOfStock || r.Short == nil {
		return nil
	}
	s := r.Short
	e := apperr.E(apperr.OutOfStock, "out_of_stock", "not enough stock for SKU %s: %d requested, %d available",
		s.SKU, s.Requested, max(s.Available, 0))
	e.Details = map[string]any{"sku": s.SKU, "requested": s.Requested, "available": max(s.Available, 0)}
	return e
}

// State is the state of a checkout's hold in the gate.
type State string

// States of a hold. A hold is live while StateHeld; the others are
// tombstones kept for Options.TombstoneFor.
const (
	StateNone      State = ""          // no hold, no tombstone
	StateHeld      State = "held"      // units held
	StateReleased  State = "released"  // units returned (Release)
	StateCommitted State = "committed" // units sold (Commit)
	StateExpired   State = "expired"   // units returned by Expire
)

// Settled is the answer of [Gate.Release] and [Gate.Commit].
type Settled struct {
	// Previous is the hold's state before the call. Only StateHeld means
	// this call did something; any other value is an idempotent no-op.
	Previous State
	// Lines are the lines this call settled, sorted by SKU (StateHeld only).
	Lines []Line
}

// Reserve takes every line of an armed SKU for checkoutID at once, or
// nothing: the check of every line and the take are one Lua script, atomic
// in Redis.
//
// Contract:
//   - Idempotent per checkout: while the checkout's hold lives, any further
//     Reserve answers Held with Replayed and the held lines, taking nothing
//     (if the lines asked differ from the held ones: apperr.Conflict, code
//     "gate_hold_mismatch"). After Release, Commit or Expire, Reserve
//     answers apperr.State (codes "gate_hold_released",
//     "gate_hold_committed", "gate_hold_expired") for Options.TombstoneFor,
//     also when the Release came before the Reserve: a late duplicate never
//     takes.
//   - Lines of SKUs that are not armed are not checked or taken here and
//     come back in Result.Ungated; if no line is armed the outcome is
//     NotArmed and nothing is written.
//   - OutOfStock names the first short line in SKU order; nothing is taken.
//   - Bad input: apperr.Invalid naming the field ("checkout_id", "items",
//     "items[2].sku", "items[2].quantity"; indexes in the caller's order),
//     nothing written.
//   - Redis down, slow or restarting: an error matching ErrUnavailable
//     (kind apperr.Unavailable) within Options.Timeout. The script may or
//     may not have run; calling Reserve again is safe, and so is falling
//     back to the database (a hold made by a call whose answer was lost
//     comes back through the replay, Release, Expire or Arm).
//
// The gate is not the ledger: a Held answer means "the database write may
// go ahead without the hot-row check", and the caller must still write the
// reservation to PostgreSQL (whose CHECK constraints refuse an oversell
// even when the gate is wrong), and must Release the hold if that write
// fails for good.
func (g *Gate) Reserve(ctx context.Context, checkoutID uuid.UUID, lines []Line) (Result, error) {
	sorted, err := validateReserve(checkoutID, lines)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	now := g.opts.Now()
	until := now.Add(g.opts.HoldFor)
	args := make([]any, 0, 3+2*len(sorted))
	args = append(args, checkoutID.String(), now.UnixMilli(), until.UnixMilli())
	for _, l := range sorted {
		args = append(args, l.SKU, l.Quantity)
	}
	keys := []string{g.avail, g.held, g.lines, g.due, g.holdKey(checkoutID)}
	reply, err := reserveScript.Run(ctx, g.rdb, keys, args...).Slice()
	if err != nil {
		return Result{}, redisconn.Wrap(err, "reserve in the stock gate")
	}
	switch tag(reply) {
	case "held":
		ungated := stringsOf(at(reply, 1))
		r := Result{Outcome: Held, Until: until}
		for _, l := range sorted {
			if slices.Contains(ungated, l.SKU) {
				r.Ungated = append(r.Ungated, l)
			} else {
				r.Lines = append(r.Lines, l)
			}
		}
		return r, nil
	case "replay":
		held, meta := holdLines(stringsOf(at(reply, 1)))
		r := Result{Outcome: Held, Replayed: true, Lines: held}
		if ms, err := strconv.ParseInt(meta["@until"], 10, 64); err == nil {
			r.Until = time.UnixMilli(ms)
		}
		for _, l := range sorted {
			i := slices.IndexFunc(held, func(h Line) bool { return h.SKU == l.SKU })
			switch {
			case i < 0:
				r.Ungated = append(r.Ungated, l)
			case held[i].Quantity != l.Quantity:
				return Result{}, mismatch(checkoutID, held)
			}
		}
		if len(r.Lines)+len(r.Ungated) != len(sorted) {
			return Result{}, mismatch(checkoutID, held)
		}
		return r, nil
	case "finished":
		st := fmt.Sprint(at(reply, 1))
		return Result{}, apperr.E(apperr.State, "gate_hold_"+st,
			"the stock gate's hold of checkout %s was already %s", checkoutID, st)
	case "short":
		sku := fmt.Sprint(at(reply, 1))
		avail, _ := strconv.Atoi(fmt.Sprint(at(reply, 2)))
		req := 0
		for _, l := range sorted {
			if l.SKU == sku {
				req = l.Quantity
			}
		}
		return Result{Outcome: OutOfStock, Short: &Shortage{SKU: sku, Requested: req, Available: avail}}, nil
	case "notarmed":
		return Result{Outcome: NotArmed, Ungated: sorted}, nil
	}
	return Result{}, fmt.Errorf("stockgate: unexpected reply %v", reply)
}

func mismatch(id uuid.UUID, held []Line) error {
	return apperr.E(apperr.Conflict, "gate_hold_mismatch",
		"checkout %s already holds other lines in the stock gate (%v)", id, held)
}

// Release ends checkoutID's hold and returns its units to their SKUs (those
// still armed). Use it when the checkout's reservation is released
// (compensation, a decline, the database's expiry) or when the database
// write after a Held answer failed for good.
//
// Idempotent: a second Release, a Release after Commit or Expire, and a
// Release of a checkout that holds nothing change nothing (Settled.Previous
// says what was found). A Release of a checkout that holds nothing still
// leaves a tombstone, so a Reserve of it that arrives late takes nothing.
// Errors: apperr.Invalid for a nil id; ErrUnavailable as for Reserve (then
// the units stay held until a retried Release, Expire or Arm).
func (g *Gate) Release(ctx context.Context, checkoutID uuid.UUID) (Settled, error) {
	return g.settle(ctx, checkoutID, StateReleased)
}

// Commit ends checkoutID's hold without returning its units: they were
// sold (call it after the order's transaction committed the reservation).
// Idempotent like Release; a Commit after Release or Expire changes nothing
// (the gate then counts the sold units as available: it answers Held too
// often until the next Arm, and the database refuses the excess).
func (g *Gate) Commit(ctx context.Context, checkoutID uuid.UUID) (Settled, error) {
	return g.settle(ctx, checkoutID, StateCommitted)
}

func (g *Gate) settle(ctx context.Context, id uuid.UUID, action State) (Settled, error) {
	if id == uuid.Nil {
		return Settled{}, apperr.InvalidField("checkout_id", "is required")
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	return g.settleOne(ctx, id, action)
}

func (g *Gate) settleOne(ctx context.Context, id uuid.UUID, action State) (Settled, error) {
	keys := []string{g.avail, g.held, g.lines, g.due, g.holdKey(id)}
	reply, err := settleScript.Run(ctx, g.rdb, keys, id.String(), g.opts.Now().UnixMilli(), string(action),
		g.opts.TombstoneFor.Milliseconds()).Slice()
	if err != nil {
		return Settled{}, redisconn.Wrap(err, "settle a hold in the stock gate")
	}
	switch t := tag(reply); t {
	case "held":
		lines, _ := holdLines(stringsOf(at(reply, 1)))
		return Settled{Previous: StateHeld, Lines: lines}, nil
	case "none", "notdue":
		return Settled{Previous: StateNone}, nil
	default:
		return Settled{Previous: State(t)}, nil
	}
}

// Expired is a hold returned by [Gate.Expire].
type Expired struct {
	CheckoutID uuid.UUID
	Lines      []Line
}

// Expire returns the units of at most limit holds whose deadline
// (Options.HoldFor after their Reserve) has passed, and marks them expired.
// The sweeper calls it every run. A hold reaches its deadline only if
// neither Release nor Commit came: its caller vanished between the gate and
// the database, or the database's own expiry could not reach the gate. If
// such a checkout's reservation was in fact committed, the gate counts its
// units as available again until the next Arm (safe: the database refuses
// the excess). Idempotent; ErrUnavailable as for Reserve.
func (g *Gate) Expire(ctx context.Context, limit int) ([]Expired, error) {
	if limit <= 0 {
		limit = 100
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	ids, err := g.rdb.ZRangeByScore(ctx, g.due, &redis.ZRangeBy{Min: "-inf",
		Max: strconv.FormatInt(g.opts.Now().UnixMilli(), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, redisconn.Wrap(err, "list due holds in the stock gate")
	}
	var out []Expired
	for _, s := range ids {
		id, err := uuid.Parse(s)
		if err != nil {
			g.rdb.ZRem(ctx, g.due, s)
			continue
		}
		st, err := g.settleOne(ctx, id, StateExpired)
		if err != nil {
			return out, err
		}
		if st.Previous == StateHeld {
			out = append(out, Expired{CheckoutID: id, Lines: st.Lines})
		}
	}
	return out, nil
}

// Level is a SKU's figures in the gate.
type Level struct {
	SKU string `json:"sku"`
	// Armed: the SKU is in the gate; Reserve checks and takes it.
	Armed bool `json:"armed"`
	// Available units (0 when not armed). It can be negative for a moment
	// after Arm: units of live holds whose database write the snapshot had
	// not seen yet are subtracted ahead of that write.
	Available int `json:"available"`
	// Held is the number of units in live holds (armed or not).
	Held int `json:"held"`
}

// Level returns sku's figures, read atomically. Errors: apperr.Invalid for
// a malformed SKU; ErrUnavailable.
func (g *Gate) Level(ctx context.Context, sku string) (Level, error) {
	if !skuPattern.MatchString(sku) {
		return Level{}, apperr.InvalidField("sku", "malformed SKU %q", sku)
	}
	ls, err := g.levels(ctx, sku)
	if err != nil {
		return Level{}, err
	}
	if len(ls) == 0 {
		return Level{SKU: sku}, nil
	}
	return ls[0], nil
}

// Snapshot returns every SKU that is armed or held, sorted by SKU, read in
// one atomic step (the discrepancy check compares it with the database).
func (g *Gate) Snapshot(ctx context.Context) ([]Level, error) {
	return g.levels(ctx, "")
}

func (g *Gate) levels(ctx context.Context, sku string) ([]Level, error) {
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	var args []any
	if sku != "" {
		args = append(args, sku)
	}
	reply, err := levelScript.Run(ctx, g.rdb, []string{g.avail, g.held}, args...).Slice()
	if err != nil {
		return nil, redisconn.Wrap(err, "read the stock gate")
	}
	by := map[string]*Level{}
	get := func(s string) *Level {
		if by[s] == nil {
			by[s] = &Level{SKU: s}
		}
		return by[s]
	}
	av, hd := at(reply, 0), at(reply, 1)
	pairs(av, func(s string, v *string) {
		if v != nil {
			l := get(s)
			l.Armed = true
			l.Available, _ = strconv.Atoi(*v)
		}
	})
	pairs(hd, func(s string, v *string) {
		if v != nil {
			get(s).Held, _ = strconv.Atoi(*v)
		}
	})
	out := make([]Level, 0, len(by))
	for _, l := range by {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b Level) int { return strings.Compare(a.SKU, b.SKU) })
	return out, nil
}

// Hold is one live hold of a SKU.
type Hold struct {
	CheckoutID uuid.UUID `json:"checkout_id"`
	Quantity   int       `json:"quantity"`
}

// Holds lists the live holds of sku (for the Arm protocol: the checkouts
// whose database state the caller looks up). Not atomic with anything
// else; errors as Level.
func (g *Gate) Holds(ctx context.Context, sku string) ([]Hold, error) {
	if !skuPattern.MatchString(sku) {
		return nil, apperr.InvalidField("sku", "malformed SKU %q", sku)
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	return g.holds(ctx, sku)
}

func (g *Gate) holds(ctx context.Context, sku string) ([]Hold, error) {
	var out []Hold
	iter := g.rdb.HScan(ctx, g.lines, 0, sku+"|*", 1000).Iterator()
	for iter.Next(ctx) {
		field := iter.Val()
		if !iter.Next(ctx) {
			break
		}
		id, err := uuid.Parse(strings.TrimPrefix(field, sku+"|"))
		if err != nil {
			continue
		}
		q, _ := strconv.Atoi(iter.Val())
		out = append(out, Hold{CheckoutID: id, Quantity: q})
	}
	if err := iter.Err(); err != nil {
		return nil, redisconn.Wrap(err, "list holds in the stock gate")
	}
	return out, nil
}

// Disarm takes sku out of the gate: Reserve then answers NotArmed for it
// (the database path checks it). Live holds of the SKU stay until they are
// settled (their units are then not returned anywhere) and still count in
// a later Arm. Idempotent; it reports whether the SKU was armed.
func (g *Gate) Disarm(ctx context.Context, sku string) (bool, error) {
	if !skuPattern.MatchString(sku) {
		return false, apperr.InvalidField("sku", "malformed SKU %q", sku)
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	n, err := g.rdb.HDel(ctx, g.avail, sku).Result()
	if err != nil {
		return false, redisconn.Wrap(err, "disarm a SKU in the stock gate")
	}
	return n == 1, nil
}

// tag is the first element of a script's reply.
func tag(reply []any) string { return fmt.Sprint(at(reply, 0)) }

func at(reply []any, i int) any {
	if i < len(reply) {
		return reply[i]
	}
	return nil
}

func stringsOf(v any) []string {
	xs, _ := v.([]any)
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// pairs calls fn for each field/value pair of a flat array reply (a nil
// value for a missing field).
func pairs(v any, fn func(field string, value *string)) {
	xs, _ := v.([]any)
	for i := 0; i+1 < len(xs); i += 2 {
		f := fmt.Sprint(xs[i])
		if xs[i+1] == nil {
			fn(f, nil)
			continue
		}
		s := fmt.Sprint(xs[i+1])
		fn(f, &s)
	}
}

// holdLines splits a hold's fields into its lines (sorted by SKU) and its
// @-fields.
func holdLines(flat []string) ([]Line, map[string]string) {
	meta := map[string]string{}
	var lines []Line
	for i := 0; i+1 < len(flat); i += 2 {
		if strings.HasPrefix(flat[i], "@") {
			meta[flat[i]] = flat[i+1]
			continue
		}
		q, _ := strconv.Atoi(flat[i+1])
		lines = append(lines, Line{SKU: flat[i], Quantity: q})
	}
	slices.SortFunc(lines, func(a, b Line) int { return strings.Compare(a.SKU, b.SKU) })
	return lines, meta
}

// skuPattern is the products.sku CHECK constraint.
var skuPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func validateReserve(id uuid.UUID, lines []Line) ([]Line, error) {
	if id == uuid.Nil {
		return nil, apperr.InvalidField("checkout_id", "is required")
	}
	switch {
	case len(lines) == 0:
		return nil, apperr.InvalidField("items", "must hold at least one line")
	case len(lines) > MaxLines:
		return nil, apperr.InvalidField("items", "must hold at most %d lines, got %d", MaxLines, len(lines))
	}
	seen := make(map[string]int, len(lines))
	for i, l := range lines {
		field := fmt.Sprintf("items[%d]", i)
		if !skuPattern.MatchString(l.SKU) {
			return nil, apperr.InvalidField(field+".sku", "malformed SKU %q", l.SKU)
		}
		if j, dup := seen[l.SKU]; dup {
			return nil, apperr.InvalidField(field+".sku", "duplicate SKU %q (already in items[%d])", l.SKU, j)
		}
		seen[l.SKU] = i
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			return nil, apperr.InvalidField(field+".quantity", "must be between 1 and %d, got %d", MaxQuantity, l.Quantity)
		}
	}
	sorted := slices.Clone(lines)
	slices.SortFunc(sorted, func(a, b Line) int { return strings.Compare(a.SKU, b.SKU) })
	return sorted, nil
}
