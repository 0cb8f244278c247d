// Package redisconn opens the product's Redis clients and classifies their
// errors. Every package that talks to Redis (the stock gate, the carts, the
// catalog cache) takes a [redis.UniversalClient] built here, so timeouts,
// retries and the "Redis is unavailable" error kind are the same everywhere.
//
// Redis is never the record of anything the product promises: callers fall
// back to PostgreSQL (the stock gate) or answer 503 (the carts) when an error
// satisfies [IsUnavailable].
package redisconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Defaults for [Config]. They bound how long a caller can wait on a Redis that
// has gone away: a dead server answers "connection refused" at once, a
// partitioned one within DialTimeout or ReadTimeout.
const (
	DefaultDialTimeout  = 500 * time.Millisecond
	DefaultReadTimeout  = 500 * time.Millisecond
	DefaultWriteTimeout = 500 * time.Millisecond
	DefaultPoolSize     = 8
)

// Config describes a connection.
type Config struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// for TLS
	// (ElastiCache with encryption in transit). Query parameters that
	// go-redis understands (dial_timeout, pool_size, ...) are honoured and
	// override the fields below.
	URL string
	// Cluster selects the Redis Cluster protocol (ElastiCache cluster mode
	// and ElastiCache Serverless). The URL's host is the configuration
	// endpoint; the database number must be 0.
	Cluster bool
	// DialTimeout, ReadTimeout and WriteTimeout bound one network
	// operation (zero means the defaults above). A context deadline, when
	// shorter, wins.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the number of connections per node (zero: DefaultPoolSize).
	// A Lambda serves one request at a time: 1–2 is enough there.
	PoolSize int
	// MaxRetries is how often a command failing with a network error is
	// sent again (zero: none, -1: go-redis's default of 3). Every script of
	// the stock gate and the carts is idempotent, so retrying is safe; it
	// is off by default so that a dead Redis is reported at once and the
	// caller falls back.
	MaxRetries int
}

// FromEnv returns the Config for REDIS_URL (empty when unset) and
// REDIS_CLUSTER ("true" or "1" selects the cluster protocol).
func FromEnv() Config {
	c := os.Getenv("REDIS_CLUSTER")
	return Config{URL: os.Getenv("REDIS_URL"), Cluster: c == "true" || c == "1"}
}

// Open builds a client for cfg and checks it with a PING bounded by ctx. The
// client is safe for concurrent use; Close it when done.
func Open(ctx context.Context, cfg Config) (redis.UniversalClient, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, Wrap(err, "connect to Redis")
	}
	return c, nil
}

// New builds a client for cfg without connecting (the first command dials).
func New(cfg Config) (redis.UniversalClient, error) {
	if cfg.URL == "" {
		return nil, errors.New("redisconn: no Redis URL (set REDIS_URL, e.g. redis://127.0.0.1:6379/0)")
	}
	if cfg.Cluster {
		o, err := clusterOptions(cfg)
		if err != nil {
			return nil, err
		}
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redisconn: REDIS_URL: %w", err)
	}
	q := query(cfg.URL)
	setDur(&o.DialTimeout, cfg.DialTimeout, DefaultDialTimeout, q.Has("dial_timeout"))
	setDur(&o.ReadTimeout, cfg.ReadTimeout, DefaultReadTimeout, q.Has("read_timeout"))
	setDur(&o.WriteTimeout, cfg.WriteTimeout, DefaultWriteTimeout, q.Has("write_timeout"))
	if !q.Has("pool_size") {
		o.PoolSize = orInt(cfg.PoolSize, DefaultPoolSize)
	}
	if !q.Has("max_retries") {
		o.MaxRetries = retries(cfg.MaxRetries)
	}
	o.ContextTimeoutEnabled = true
	o.DisableIdentity = true // CLIENT SETINFO: one round trip less per connection, and not every server knows it
	return redis.NewClient(o), nil
}

func clusterOptions(cfg Config) (*redis.ClusterOptions, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, fmt.Errorf("redisconn: REDIS_URL %q: want redis://host:port or rediss://host:port", cfg.URL)
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		return nil, fmt.Errorf("redisconn: REDIS_URL %q: a Redis Cluster has only database 0", cfg.URL)
	}
	o := &redis.ClusterOptions{
		Addrs:                 []string{u.Host},
		DialTimeout:           orDur(cfg.DialTimeout, DefaultDialTimeout),
		ReadTimeout:           orDur(cfg.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:          orDur(cfg.WriteTimeout, DefaultWriteTimeout),
		PoolSize:              orInt(cfg.PoolSize, DefaultPoolSize),
		MaxRetries:            retries(cfg.MaxRetries),
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	if u.Scheme == "rediss" {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
	}
	return o, nil
}

func query(raw string) url.Values {
	u, err := url.Parse(raw)
	if err != nil {
		return url.Values{}
	}
	return u.Query()
}

func setDur(dst *time.Duration, v, def time.Duration, fromURL bool) {
	if !fromURL {
		*dst = orDur(v, def)
	}
}

func orDur(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func orInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// retries maps Config.MaxRetries to go-redis's convention (-1 = none).
func retries(n int) int {
	switch {
	case n == 0:
		return -1
	case n < 0:
		return 3
	}
	return n
}

// ErrUnavailable is matched (errors.Is) by every error of this package's
// callers that means "Redis did not answer usefully": refused or dropped
// connections, timeouts, a server loading its data or failing over, a closed
// client. The operation may or may not have been applied (a timeout after the
// command was sent); every script of the product is idempotent, so the caller
// may retry it or fall back.
var ErrUnavailable = errors.New("redis unavailable")

// IsUnavailable reports whether err means Redis could not be used (see
// ErrUnavailable), as opposed to a reply Redis gave (a script error, a wrong
// type), which is a bug.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, redis.ErrPoolExhausted) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up: not Redis's fault
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true // the server closed the connection (killed, restarted, failover)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var re redis.Error
	if errors.As(err, &re) {
		// Replies that mean "not now" rather than "wrong": a server loading
		// its data after a restart, a replica promoted or demoted, a cluster
		// without a majority, a script running past busy-reply-threshold.
		msg := re.Error()
		for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "NOREPLICAS"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return false
}

// Wrap returns err as an apperr.Unavailable error (code "redis_unavailable")
// matching ErrUnavailable when IsUnavailable(err), and as an
// apperr.Internal error otherwise. op says what was being done ("reserve
// stock in the gate"). A nil err stays nil.
func Wrap(err error, op string) error {
	if err == nil {
		return nil
	}
	if IsUnavailable(err) {
		return &apperr.Error{Kind: apperr.Unavailable, Code: "redis_unavailable",
			Message: "Redis is unavailable (" + op + ")", Err: fmt.Errorf("%w: %w", ErrUnavailable, err)}
	}
	return &apperr.Error{Kind: apperr.Internal, Code: "internal", Message: op, Err: err}
}
