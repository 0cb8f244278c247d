package readpool_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/internal/readpool"
	"github.com/checkout-dev/checkout/localaws/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// pair is a test database on the test cluster and the same database on a
// streaming replica of it.
type pair struct {
	*pgtest.Replica
	primary, replica *pgxpool.Pool
}

func newPair(t *testing.T) *pair {
	t.Helper()
	dsn := pgtest.NewDB(t)
	p := &pair{primary: pgtest.PoolOn(t, dsn)}
	if _, err := p.primary.Exec(context.Background(), `CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	p.Replica = pgtest.NewReplica(t, dsn)
	p.replica = pgtest.PoolOn(t, p.DSN)
	p.WaitReplayed(t)
	return p
}

func (p *pair) write(t *testing.T, id int, body string) {
	t.Helper()
	if _, err := p.primary.Exec(context.Background(), `INSERT INTO notes (id, body) VALUES ($1, $2)`, id, body); err != nil {
		t.Fatal(err)
	}
}

// note is one row as a read saw it, with whether the server that
// answered was in recovery (a replica).
type note struct {
	body       string
	found      bool
	inRecovery bool
}

// readNote reads note id through r, proving on which server it ran.
func readNote(ctx context.Context, r *readpool.Reader, id int, trust func(note, error) bool) (note, readpool.Side, error) {
	return readpool.Read(ctx, r, func(ctx context.Context, side readpool.Side) (note, error) {
		var n note
		err := r.Pool(side).QueryRow(ctx, `SELECT pg_is_in_recovery(), coalesce((SELECT body FROM notes WHERE id = $1), '')`, id).
			Scan(&n.inRecovery, &n.body)
		n.found = n.body != ""
		return n, err
	}, trust)
}

func mustRead(t *testing.T, r *readpool.Reader, id int, trust func(note, error) bool) (note, readpool.Side) {
	t.Helper()
	n, side, err := readNote(context.Background(), r, id, trust)
	if err != nil {
		t.Fatalf("read note %d: %v (on the %s)", id, err, side)
	}
	if n.inRecovery != (side == readpool.Replica) {
		t.Fatalf("read reported side %s but ran on a server with pg_is_in_recovery() = %v", side, n.inRecovery)
	}
	return n, side
}

// onReplica waits until r sends reads to the replica: its first probe may
// find the replica behind its first sample of the primary; the next one,
// 50 ms on, finds it caught up.
func onReplica(t *testing.T, r *readpool.Reader) {
	t.Helper()
	eventually(t, 5*time.Second, "reads never went to the replica", func() bool {
		_, side := mustRead(t, r, 1, nil)
		return side == readpool.Replica
	})
}

// eventually retries cond every 20 ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNoReplicaReadsThePrimary(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	p := pgtest.PoolOn(t, dsn)
	if _, err := p.Exec(context.Background(), `CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL); INSERT INTO notes VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	r := readpool.New(p, nil, readpool.Options{Log: quiet})
	if r.Replicated() {
		t.Fatal("Replicated() with no replica")
	}
	n, side := mustRead(t, r, 1, nil)
	if side != readpool.Primary || !n.found {
		t.Fatalf("read %+v on the %s; want note 1 from the primary", n, side)
	}
	// A nil Reader reads the primary too.
	if _, side, err := readpool.Read(context.Background(), nil, func(context.Context, readpool.Side) (int, error) { return 1, nil }, nil); side != readpool.Primary || err != nil {
		t.Fatalf("nil reader: side %s err %v", side, err)
	}
}

// TestReadsGoToTheReplica: with a replica in streaming, reads run there
// (the server answering is in recovery) and see what the primary wrote.
func TestReadsGoToTheReplica(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.write(t, 1, "first")
	p.WaitReplayed(t)
	r := readpool.New(p.primary, p.replica, readpool.Options{Log: quiet})
	onReplica(t, r)
	for i := 2; i <= 4; i++ {
		p.write(t, i, "more")
		p.WaitReplayed(t)
		n, side := mustRead(t, r, i, nil)
		if side != readpool.Replica || !n.found || !n.inRecovery {
			t.Fatalf("read of note %d: %+v on the %s; want it found on the replica", i, n, side)
		}
	}
	if lag, ok := r.Lag(); !ok || lag > time.Second {
		t.Errorf("Lag() = %s, %v; want a known lag within the 1 s bound", lag, ok)
	}
	if st := r.Stats(); st.ReplicaReads < 3 || st.Fallbacks != 0 {
		t.Errorf("stats %+v; want at least 3 replica reads and no fallback", st)
	}
}

// TestLaggingReplica: with replay paused, a plain replica read is stale;
// a read whose caller does not trust an absence gets the row from the
// primary; once the staleness passes MaxLag every read goes to the
// primary; after replay resumes reads return to the replica.
func TestLaggingReplica(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ctx := context.Background()
	// A long bound first: the replica stays picked while paused, so the
	// trust function is what keeps the read right.
	patient := readpool.New(p.primary, p.replica, readpool.Options{MaxLag: time.Minute, Log: quiet})
	onReplica(t, patient)
	p.PauseReplay(t, true)
	p.write(t, 7, "written while the replica is paused")

	// A plain replica read is stale.
	var n int
	if err := p.replica.QueryRow(ctx, `SELECT count(*) FROM notes WHERE id = 7`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("paused replica sees %d rows (err %v); want 0: the test needs a stale replica", n, err)
	}
	stale, side := mustRead(t, patient, 7, nil)
	if side != readpool.Replica || stale.found {
		t.Fatalf("untrusting nothing: %+v on the %s; want the replica's stale answer (not found)", stale, side)
	}
	// Read-your-writes: an absence on the replica is asked of the primary.
	found := func(n note, err error) bool { return err == nil && n.found }
	fresh, side := mustRead(t, patient, 7, found)
	if side != readpool.Primary || !fresh.found {
		t.Fatalf("read-your-writes read: %+v on the %s; want note 7 from the primary", fresh, side)
	}
	if st := patient.Stats(); st.Fallbacks != 1 {
		t.Errorf("stats %+v; want the one fallback", st)
	}

	// The lag bound: a reader with a 200 ms bound stops using the paused
	// replica once the primary has moved on for longer than that.
	strict := readpool.New(p.primary, p.replica, readpool.Options{MaxLag: 200 * time.Millisecond, Log: quiet})
	traffic := 100
	eventually(t, 5*time.Second, "reads kept going to a replica lagging past the bound", func() bool {
		traffic++
		p.write(t, traffic, "traffic") // the primary keeps writing
		n, side := mustRead(t, strict, 7, nil)
		return side == readpool.Primary && n.found
	})
	if lag, ok := strict.Lag(); ok && lag <= 200*time.Millisecond {
		t.Errorf("Lag() = %s while paused; want more than the bound, or unknown", lag)
	}
	// Every read stays on the primary while the replica lags.
	for range 5 {
		if _, side := mustRead(t, strict, 7, nil); side != readpool.Primary {
			t.Fatalf("a read went to the replica while it lags past the bound")
		}
	}

	p.PauseReplay(t, false)
	eventually(t, 10*time.Second, "reads never returned to the replica after it caught up", func() bool {
		n, side := mustRead(t, strict, 7, nil)
		return side == readpool.Replica && n.found
	})
}

// TestReplicaDown: a killed replica costs no error: reads fall back to the
// primary, and return to the replica once it is back and has caught up.
func TestReplicaDown(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.write(t, 1, "before")
	p.WaitReplayed(t)
	r := readpool.New(p.primary, p.replica, readpool.Options{RetryAfter: 100 * time.Millisecond, MaxRetryAfter: 200 * time.Millisecond, Log: quiet})
	onReplica(t, r)
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	p.write(t, 2, "while down")
	for i := range 20 {
		start := time.Now()
		n, side := mustRead(t, r, 2, nil)
		if side != readpool.Primary || !n.found {
			t.Fatalf("read %d with the replica down: %+v on the %s; want note 2 from the primary", i, n, side)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("read %d with the replica down took %s", i, took)
		}
		time.Sleep(20 * time.Millisecond) // past a few retry backoffs
	}
	if _, ok := r.Lag(); ok {
		t.Error("Lag() known while the replica is down")
	}
	// Down means down: after the first failure, reads go straight to the
	// primary and only the backoff's probes try the replica.
	if st := r.Stats(); st.Fallbacks > 1 {
		t.Errorf("stats %+v: %d reads tried the down replica; want at most the first", st, st.Fallbacks)
	}
	if err := p.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.WaitReplayed(t)
	eventually(t, 10*time.Second, "reads never returned to the restarted replica", func() bool {
		n, side := mustRead(t, r, 2, nil)
		return side == readpool.Replica && n.found
	})
}

// TestHangingReplica: a replica that accepts connections and never answers
// costs one bounded probe; then reads go straight to the primary.
func TestHangingReplica(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	primary := pgtest.PoolOn(t, dsn)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 64)
	t.Cleanup(func() {
		l.Close()
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	})
	go func() { // accept, then say nothing
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case accepted <- c:
			default:
				c.Close()
			}
		}
	}()
	replica := pgtest.PoolOn(t, "postgres://postgres@"+l.Addr().String()+"/postgres?sslmode=disable")
	r := readpool.New(primary, replica, readpool.Options{ProbeTimeout: 200 * time.Millisecond, Timeout: 200 * time.Millisecond, Log: quiet})
	for i := range 5 {
		start := time.Now()
		v, side, err := readpool.Read(context.Background(), r, func(ctx context.Context, side readpool.Side) (int, error) {
			var v int
			return v, r.Pool(side).QueryRow(ctx, `SELECT 42`).Scan(&v)
		}, nil)
		took := time.Since(start)
		if err != nil || v != 42 || side != readpool.Primary {
			t.Fatalf("read %d: %d on the %s, %v; want 42 from the primary", i, v, side, err)
		}
		if limit := 150 * time.Millisecond; i > 0 && took > limit {
			t.Fatalf("read %d took %s with the replica known down; want under %s", i, took, limit)
		}
	}
}

// TestReplicaErrorsAreAskedOfThePrimary: a query the replica cannot run
// (here: a table created on the primary after replay was paused) is run on
// the primary; the replica is not marked down for it.
func TestReplicaErrorsAreAskedOfThePrimary(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ctx := context.Background()
	r := readpool.New(p.primary, p.replica, readpool.Options{MaxLag: time.Minute, Log: quiet})
	onReplica(t, r)
	p.PauseReplay(t, true)
	if _, err := p.primary.Exec(ctx, `CREATE TABLE added (v int); INSERT INTO added VALUES (5)`); err != nil {
		t.Fatal(err)
	}
	v, side, err := readpool.Read(ctx, r, func(ctx context.Context, side readpool.Side) (int, error) {
		var v int
		return v, r.Pool(side).QueryRow(ctx, `SELECT v FROM added`).Scan(&v)
	}, nil)
	if err != nil || v != 5 || side != readpool.Primary {
		t.Fatalf("read of a table the replica lacks: %d on the %s, %v; want 5 from the primary", v, side, err)
	}
	// The replica is not down: the next read that it can answer goes there.
	if _, side := mustRead(t, r, 1, nil); side != readpool.Replica {
		t.Fatalf("next read on the %s; a query error must not mark the replica down", side)
	}
	// A domain answer (no rows) stands as the replica gave it.
	_, side, err = readpool.Read(ctx, r, func(ctx context.Context, side readpool.Side) (string, error) {
		var s string
		return s, r.Pool(side).QueryRow(ctx, `SELECT body FROM notes WHERE id = -1`).Scan(&s)
	}, nil)
	if !errors.Is(err, pgx.ErrNoRows) || side != readpool.Replica {
		t.Fatalf("no rows: %v on the %s; want pgx.ErrNoRows from the replica", err, side)
	}
}
