// Package cart keeps shopping carts in Redis: sessions that expire after a
// period without changes (Options.TTL, default 24 hours, refreshed by every
// change). A cart belongs to one owner (the JWT subject); to anyone else it
// does not exist. Lines are SKUs and quantities only: prices come from the
// catalog when the cart is shown or checked out, never from here.
//
// Each cart is one Redis HASH, "<prefix>cart:<id>": the fields @owner and
// @v (a version that every change increments), and one field per line (sku
// → quantity). Every change is one Lua script (owner check, bounds, write,
// TTL refresh), so concurrent changes of one cart never lose a line or
// exceed the line limit. The carts are not the record of anything: losing
// Redis loses carts, never money or stock.
package cart

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

// Limits on a cart: the same as a checkout's.
const (
	MaxLines    = 100
	MaxQuantity = 1000
	MaxOwnerLen = 255
)

// Defaults for [Options].
const (
	DefaultTTL     = 24 * time.Hour
	DefaultTimeout = time.Second
)

// Options configure a [Store].
type Options struct {
	// Prefix goes in front of every key (tests: an isolated namespace).
	Prefix string
	// TTL is the idle expiry: a cart not changed for this long is gone.
	TTL time.Duration
	// Timeout bounds every call; a Redis that does not answer in time gives
	// an apperr.Unavailable error (code "redis_unavailable").
	Timeout time.Duration
	// Now is the clock for ExpiresAt (default time.Now); Redis's own clock
	// does the expiring.
	Now func() time.Time
}

// Store is the cart store. It is safe for concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	opts Options
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, opts Options) *Store {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{rdb: rdb, opts: opts}
}

// Line is one SKU and its quantity.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Cart is a cart as stored.
type Cart struct {
	ID    uuid.UUID `json:"cart_id"`
	Owner string    `json:"-"`
	// Lines are sorted by SKU.
	Lines []Line `json:"lines"`
	// Version increases with every change (for Clear).
	Version int64 `json:"version"`
	// ExpiresAt is when the cart goes if it is not changed again.
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Store) key(id uuid.UUID) string { return s.opts.Prefix + "cart:" + id.String() }

// Create makes an empty cart for owner. Errors: apperr.Invalid "owner";
// Unavailable.
func (s *Store) Create(ctx context.Context, owner string) (Cart, error) {
	if err := validOwner(owner); err != nil {
		return Cart{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		id := uuid.New()
		reply, err := createScript.Run(ctx, s.rdb, []string{s.key(id)}, owner, s.opts.TTL.Milliseconds()).Slice()
		if err != nil {
			return Cart{}, redisconn.Wrap(err, "create a cart")
		}
		if c, ok := s.decode(id, reply); ok {
			return c, nil
		}
		if attempt == 2 {
			return Cart{}, fmt.Errorf("cart: three random cart ids in a row already exist")
		}
		// An id that exists already (never in practice): draw again.
	}
}

// SetLine sets the quantity of sku in the cart: 1..MaxQuantity adds or
// replaces the line, 0 removes it (removing an absent line is a no-op). It
// refreshes the cart's expiry and returns the cart as it is now.
//
// Errors: apperr.NotFound (code "cart_not_found") when the cart does not
// exist, has expired or belongs to someone else; apperr.Invalid naming
// "owner", "sku", "quantity", or "items" for a new line beyond MaxLines;
// Unavailable. On any error nothing was written.
func (s *Store) SetLine(ctx context.Context, id uuid.UUID, owner, sku string, quantity int) (Cart, error) {
	if err := validOwner(owner); err != nil {
		return Cart{}, err
	}
	if !skuPattern.MatchString(sku) {
		return Cart{}, apperr.InvalidField("sku", "%q is not a valid SKU", sku)
	}
	if quantity < 0 || quantity > MaxQuantity {
		return Cart{}, apperr.InvalidField("quantity", "must be between 1 and %d (0 removes the line), got %d", MaxQuantity, quantity)
	}
	if id == uuid.Nil {
		return Cart{}, notFound(id)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	reply, err := setLineScript.Run(ctx, s.rdb, []string{s.key(id)}, owner, sku, quantity, MaxLines,
		s.opts.TTL.Milliseconds()).Slice()
	if err != nil {
		return Cart{}, redisconn.Wrap(err, "change a cart")
	}
	if fmt.Sprint(at(reply, 0)) == "full" {
		return Cart{}, apperr.InvalidField("items", "the cart already holds %d lines; at most %d are allowed", MaxLines, MaxLines)
	}
	c, ok := s.decode(id, reply)
	if !ok {
		return Cart{}, notFound(id)
	}
	return c, nil
}

// Get returns the cart. It does not refresh the expiry. Errors:
// apperr.NotFound (missing, expired, someone else's); apperr.Invalid
// "owner"; Unavailable.
func (s *Store) Get(ctx context.Context, id uuid.UUID, owner string) (Cart, error) {
	if err := validOwner(owner); err != nil {
		return Cart{}, err
	}
	if id == uuid.Nil {
		return Cart{}, notFound(id)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	reply, err := getScript.Run(ctx, s.rdb, []string{s.key(id)}, owner).Slice()
	if err != nil {
		return Cart{}, redisconn.Wrap(err, "read a cart")
	}
	c, ok := s.decode(id, reply)
	if !ok {
		return Cart{}, notFound(id)
	}
	return c, nil
}

// Delete removes the cart. Errors: apperr.NotFound (missing, expired,
// someone else's: a second Delete gets it too); apperr.Invalid "owner";
// Unavailable.
func (s *Store) Delete(ctx context.Context, id uuid.UUID, owner string) error {
	if err := validOwner(owner); err != nil {
		return err
	}
	if id == uuid.Nil {
		return notFound(id)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	n, err := deleteScript.Run(ctx, s.rdb, []string{s.key(id)}, owner).Int()
	if err != nil {
		return redisconn.Wrap(err, "delete a cart")
	}
	if n == 0 {
		return notFound(id)
	}
	return nil
}

// Clear empties the cart after its checkout completed, if it is still at
// version ifVersion (the version the checkout was created from; 0 clears
// whatever it holds): lines added after the checkout began are not thrown
// away with the ones bought. It keeps the cart (same id, expiry refreshed)
// and reports whether it cleared it. Idempotent: a cart that is gone,
// someone else's, or changed since is left alone (false, nil). Errors:
// apperr.Invalid "owner"; Unavailable.
func (s *Store) Clear(ctx context.Context, id uuid.UUID, owner string, ifVersion int64) (bool, error) {
	if err := validOwner(owner); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	n, err := clearScript.Run(ctx, s.rdb, []string{s.key(id)}, owner, ifVersion, s.opts.TTL.Milliseconds()).Int()
	if err != nil {
		return false, redisconn.Wrap(err, "clear a cart")
	}
	return n == 1, nil
}

// decode reads a {"ok", fields, pttl} reply.
func (s *Store) decode(id uuid.UUID, reply []any) (Cart, bool) {
	if fmt.Sprint(at(reply, 0)) != "ok" {
		return Cart{}, false
	}
	c := Cart{ID: id, Lines: []Line{}}
	flat, _ := at(reply, 1).([]any)
	for i := 0; i+1 < len(flat); i += 2 {
		f, v := fmt.Sprint(flat[i]), fmt.Sprint(flat[i+1])
		switch f {
		case "@owner":
			c.Owner = v
		case "@v":
			c.Version, _ = strconv.ParseInt(v, 10, 64)
		default:
			q, _ := strconv.Atoi(v)
			c.Lines = append(c.Lines, Line{SKU: f, Quantity: q})
		}
	}
	slices.SortFunc(c.Lines, func(a, b Line) int { return strings.Compare(a.SKU, b.SKU) })
	pttl, _ := at(reply, 2).(int64)
	c.ExpiresAt = s.opts.Now().Add(time.Duration(pttl) * time.Millisecond).Truncate(time.Millisecond)
	return c, true
}

func at(reply []any, i int) any {
	if i < len(reply) {
		return reply[i]
	}
	return nil
}

func notFound(id uuid.UUID) error {
	return apperr.E(apperr.NotFound, "cart_not_found", "cart %s not found", id)
}

func validOwner(owner string) error {
	if owner == "" || len(owner) > MaxOwnerLen {
		return apperr.InvalidField("owner", "must be 1 to %d characters", MaxOwnerLen)
	}
	return nil
}

// skuPattern is the products.sku CHECK constraint.
var skuPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// The scripts. KEYS[1] is the cart. A cart always has @owner and @v, so its
// lines are HLEN - 2. Replies {"ok", fields, pttl} or {"notfound"} (also
// for someone else's cart) or {"full"}.
var (
	createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
redis.call('HSET', KEYS[1], '@owner', ARGV[1], '@v', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {'ok', redis.call('HGETALL', KEYS[1]), redis.call('PTTL', KEYS[1])}
`)
	setLineScript = redis.NewScript(`
local key, owner, sku, q, max, ttl = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
if redis.call('HGET', key, '@owner') ~= owner then return {'notfound'} end
if q == 0 then
  if redis.call('HDEL', key, sku) == 1 then redis.call('HINCRBY', key, '@v', 1) end
else
  if redis.call('HEXISTS', key, sku) == 0 and redis.call('HLEN', key) - 2 >= max then return {'full'} end
  redis.call('HSET', key, sku, q)
  redis.call('HINCRBY', key, '@v', 1)
end
redis.call('PEXPIRE', key, ttl)
return {'ok', redis.call('HGETALL', key), redis.call('PTTL', key)}
`)
	getScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], '@owner') ~= ARGV[1] then return {'notfound'} end
return {'ok', redis.call('HGETALL', KEYS[1]), redis.call('PTTL', KEYS[1])}
`)
	deleteScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], '@owner') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`)
	clearScript = redis.NewScript(`
local key, owner, v, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', key, '@owner') ~= owner then return 0 end
if v ~= '0' and redis.call('HGET', key, '@v') ~= v then return 0 end
local fields = redis.call('HKEYS', key)
for _, f in ipairs(fields) do
  if string.sub(f, 1, 1) ~= '@' then redis.call('HDEL', key, f) end
end
redis.call('HINCRBY', key, '@v', 1)
redis.call('PEXPIRE', key, ttl)
return 1
`)
)
