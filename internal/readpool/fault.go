package readpool

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// verdict is what a replica read's error means for the read.
type verdict uint8

const (
	answered verdict = iota // the replica's answer stands (nil, or a domain error)
	retry                   // ask the primary; the replica is fine
	down                    // ask the primary; the replica is unusable for now
)

// judge classifies err from a read on the replica; parent is the
// caller's context (a read the caller gave up on is answered as it is).
func judge(parent context.Context, err error) verdict {
	switch {
	case err == nil, parent.Err() != nil:
		return answered
	case isConnFault(err):
		return down
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// A query the standby cancelled (40001 conflict with recovery), a
		// relation or column a migration added that the replica has not
		// replayed yet (42P01, 42703): the primary can answer.
		return retry
	}
	return answered
}

// isConnFault reports whether err says the server cannot be used now:
// no connection (refused, reset, unreachable, timed out), a connection
// lost mid-query, or a server shutting down, starting or out of
// connection slots.
func isConnFault(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if strings.HasPrefix(pgErr.Code, "08") { // connection exception
			return true
		}
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", // admin shutdown, crash shutdown, cannot connect now
			"53300": // too many connections
			return true
		}
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}
