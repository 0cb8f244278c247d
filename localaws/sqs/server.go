// Package sqs is a local, PostgreSQL-backed server that speaks the Amazon SQS
// AWS JSON 1.0 protocol, so the real aws-sdk-go-v2 SQS client and the AWS CLI
// can run queues, dead-letter queues and redrives without AWS or Docker.
//
// Contract:
//   - Requests are POST / with Content-Type application/x-amz-json-1.0 and
//     X-Amz-Target AmazonSQS.<Action>. SigV4 signatures are accepted without
//     verification; the access key of the signature becomes a message's SenderId.
//   - Errors carry AWS's shape: a JSON body {"__type":"com.amazonaws.sqs#<Type>",
//     "message":...} and the x-amzn-query-error header "<legacy code>;Sender",
//     so the SDK returns its typed errors (*types.QueueDoesNotExist, ...).
//   - Queue URLs are http://<request Host>/<AccountID>/<name>: the server works
//     behind any address. ARNs are arn:aws:sqs:<Region>:<AccountID>:<name>.
//   - Everything (queues, messages, in-flight state, receive counts, move
//     tasks) lives in PostgreSQL, in the localaws.sqs_* tables that
//     localaws.Migrate creates: a new Server on the same database continues
//     where the previous one stopped.
//     Several Servers may share one database; receives use FOR UPDATE SKIP
//     LOCKED, so a message is never handed to two receivers within its
//     visibility window. Long-poll wake-ups are in process only; receivers of
//     another process notice new messages by polling (every PollInterval).
//   - Standard and FIFO queues. FIFO (.fifo, FifoQueue): MessageGroupId
//     order and one group in flight at a time, 5-minute deduplication (given
//     ids or ContentBasedDeduplication, per queue or per group), sequence
//     numbers, ReceiveRequestAttemptId retries; receives of one FIFO queue are
//     serialised. A MessageGroupId on a standard queue makes it a fair queue:
//     a tenant with at least 30 messages and more than 10% of all messages in
//     flight is served after the quiet tenants.
//   - All times (visibility, delays, retention, timestamps) come from
//     Options.Now, so tests can move the clock; long-poll waits use real time.
package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/localaws/internal/bookkeeping"
)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	// Region appears in queue ARNs. Default us-east-1.
	Region string
	// AccountID appears in queue URLs and ARNs. Default 000000000000.
	AccountID string
	// Now is the clock for every SQS time. Default time.Now.
	Now func() time.Time
	// Logger receives request failures and background task events. Default slog.Default().
	Logger *slog.Logger
	// PollInterval is how often a long-polling receive re-reads the database
	// while it waits (delayed or re-visible messages, other processes).
	// Default 200ms.
	PollInterval time.Duration
	// SweepInterval is how often expired messages (older than the queue's
	// MessageRetentionPeriod) are physically deleted. They are invisible as
	// soon as they expire regardless. Default 1 minute.
	SweepInterval time.Duration
	// QueueCacheTTL is how long a queue's attributes are served from memory
	// (they are read on every request). Changes made through this Server
	// take effect at once; changes made through another Server sharing the
	// database within the TTL. Default 1s; negative disables the cache.
	QueueCacheTTL time.Duration
	// DurableBookkeeping commits receives, deletes, visibility changes and
	// dead-letter moves with the pool's own synchronous_commit. By default
	// they are committed with synchronous_commit off (package
	// localaws/internal/bookkeeping says what a PostgreSQL crash can then
	// lose: messages come back, as after a visibility timeout). Sends and
	// queue changes stay synchronous either way.
	DurableBookkeeping bool
}

// Server is an http.Handler serving the SQS API. Create it with New and stop
// its background work with Close.
type Server struct {
	pool   *pgxpool.Pool
	bk     *pgxpool.Pool // bookkeeping: pool, or its synchronous_commit-off twin
	ownsBK bool
	queues *queueCache
	region string
	acct   string
	now    func() time.Time
	log    *slog.Logger
	poll   time.Duration

	wake *notifier

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New returns a Server on pool, whose schema must include migration
// 00002_sqs.sql. It resumes move tasks left RUNNING by a previous Server of
// the same account and starts the retention sweeper. The caller keeps
// ownership of pool and must call Close before closing it.
func New(pool *pgxpool.Pool, opts Options) *Server {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "000000000000"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.QueueCacheTTL == 0 {
		opts.QueueCacheTTL = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		pool: pool, bk: pool, region: opts.Region, acct: opts.AccountID, now: opts.Now,
		log: opts.Logger, poll: opts.PollInterval, wake: newNotifier(),
		ctx: ctx, cancel: cancel, queues: newQueueCache(opts.QueueCacheTTL),
	}
	if !opts.DurableBookkeeping {
		s.bk, s.ownsBK = bookkeeping.Open(pool, 16)
	}
	s.wg.Add(1)
	go s.sweepLoop(opts.SweepInterval)
	s.resumeMoveTasks()
	return s
}

// Close stops move tasks (they stay RUNNING in the database and resume in the
// next Server), the sweeper and pending long polls, and waits for them. It
// does not close the pool. Close is idempotent.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
	s.closeOnce.Do(func() {
		if s.ownsBK {
			s.bk.Close()
		}
	})
}

type handlerFunc func(s *Server, r *request) (any, error)

var actions = map[string]handlerFunc{
	"CreateQueue":                  (*Server).createQueue,
	"GetQueueUrl":                  (*Server).getQueueURL,
	"ListQueues":                   (*Server).listQueues,
	"DeleteQueue":                  (*Server).deleteQueue,
	"GetQueueAttributes":           (*Server).getQueueAttributes,
	"SetQueueAttributes":           (*Server).setQueueAttributes,
	"TagQueue":                     (*Server).tagQueue,
	"UntagQueue":                   (*Server).untagQueue,
	"ListQueueTags":                (*Server).listQueueTags,
	"PurgeQueue":                   (*Server).purgeQueue,
	"SendMessage":                  (*Server).sendMessage,
	"SendMessageBatch":             (*Server).sendMessageBatch,
	"ReceiveMessage":               (*Server).receiveMessage,
	"DeleteMessage":                (*Server).deleteMessage,
	"DeleteMessageBatch":           (*Server).deleteMessageBatch,
	"ChangeMessageVisibility":      (*Server).changeMessageVisibility,
	"ChangeMessageVisibilityBatch": (*Server).changeMessageVisibilityBatch,
	"ListDeadLetterSourceQueues":   (*Server).listDeadLetterSourceQueues,
	"StartMessageMoveTask":         (*Server).startMessageMoveTask,
	"ListMessageMoveTasks":         (*Server).listMessageMoveTasks,
	"CancelMessageMoveTask":        (*Server).cancelMessageMoveTask,
	"AddPermission":                (*Server).unsupportedPermission,
	"RemovePermission":             (*Server).unsupportedPermission,
}

// request is one decoded API call.
type request struct {
	ctx    context.Context
	action string
	body   []byte
	host   string
	scheme string
	sender string
}

func (r *request) decode(v any) error {
	if len(r.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(markInvalidText(r.body), v); err != nil {
		return errSerialization("Could not decode the %s request: %v", r.action, err)
	}
	return nil
}

// maxRequestBytes bounds a request body: a 10-entry batch of maximal messages
// plus JSON and base64 overhead.
const maxRequestBytes = 16 << 20

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	reqID := uuid.NewString()
	w.Header().Set("x-amzn-RequestId", reqID)
	if hr.Method != http.MethodPost {
		writeError(w, newErr(http.StatusMethodNotAllowed, "InvalidAction", "InvalidAction",
			"Only POST is supported by this SQS endpoint (AWS JSON 1.0 protocol)."))
		return
	}
	target := hr.Header.Get("X-Amz-Target")
	action, ok := strings.CutPrefix(target, "AmazonSQS.")
	if !ok {
		writeError(w, errInvalidAction(target))
		return
	}
	h := actions[action]
	if h == nil {
		writeError(w, errInvalidAction(action))
		return
	}
	body, err := io.ReadAll(io.LimitReader(hr.Body, maxRequestBytes+1))
	if err != nil {
		writeError(w, errSerialization("read request body: %v", err))
		return
	}
	if len(body) > maxRequestBytes {
		writeError(w, newErr(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "RequestEntityTooLarge", "request body too large"))
		return
	}
	scheme := "http"
	if hr.TLS != nil {
		scheme = "https"
	}
	r := &request{ctx: hr.Context(), action: action, body: body, host: hr.Host, scheme: scheme,
		sender: senderFromAuth(hr.Header.Get("Authorization"), s.acct)}
	out, err := h(s, r)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			if r.ctx.Err() == nil {
				s.log.Error("sqs: request failed", "action", action, "request_id", reqID, "err", err)
			}
			ae = errInternal()
		}
		writeError(w, ae)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.log.Error("sqs: encode response", "action", action, "err", err)
		writeError(w, errInternal())
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	fault := "Sender"
	if !e.sender {
		fault = "Receiver"
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-query-error", e.queryCode+";"+fault)
	w.WriteHeader(e.status)
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.sqs#" + e.typ, "message": e.msg})
	_, _ = w.Write(b)
}

// senderFromAuth returns the access key ID of a SigV4 Authorization header,
// or fallback when there is none.
func senderFromAuth(auth, fallback string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return fallback
	}
	key, _, _ := strings.Cut(cred, "/")
	key = strings.TrimSpace(key)
	if key == "" {
		return fallback
	}
	return key
}

func (s *Server) unsupportedPermission(r *request) (any, error) {
	return nil, errUnsupportedOperation("%s is not supported by the local SQS server (queue policies are not enforced).", r.action)
}
