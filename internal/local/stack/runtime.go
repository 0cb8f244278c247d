// Package stack runs the whole checkout stack on one machine, wired from
// template.yaml: PostgreSQL, the SQS server with the template's queues and
// redrive policies, the Step Functions executor running the template's state
// machine with its substitutions resolved to local functions and queues, the
// API Gateway front (routes, authorizer, API key, usage plan, WAF limits),
// the SQS event sources of the consumers, the scheduled sweeper, and the
// Stripe-compatible fake. Handlers run in process: the very functions the
// Lambdas wrap.
package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/checkout-dev/checkout/internal/app"
	"github.com/checkout-dev/checkout/internal/local/devdash"
	"github.com/checkout-dev/checkout/internal/local/devdb"
	"github.com/checkout-dev/checkout/internal/local/devtrace"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/payment"
	"github.com/checkout-dev/checkout/internal/redisconn"
	"github.com/checkout-dev/checkout/internal/redistest"
	"github.com/checkout-dev/checkout/internal/stripefake"
	"github.com/checkout-dev/checkout/internal/webhook"
	"github.com/checkout-dev/checkout/localaws/sam"
	"github.com/checkout-dev/checkout/localaws/sfn"
	"github.com/checkout-dev/checkout/localaws/sqs"
)

// Region and AccountID of every local ARN and queue URL.
const (
	Region    = "us-east-1"
	AccountID = "000000000000"
)

// The usage plan's API key and the authorizer's HS256 secret when Options
// leave them empty: fine on a developer's machine, nowhere else.
const (
	DefaultAPIKey    = "dev-api-key"
	DefaultJWTSecret = "local-dev-jwt-secret-change-me"
)

// Options configure the stack. Zero values take the defaults the README
// documents (cmd/checkout-local reads them from the environment).
type Options struct {
	// NoTracing leaves OpenTelemetry off (no spans recorded or stored), to
	// measure what tracing costs (cmd/bench -e2e -no-tracing).
	NoTracing    bool
	TemplatePath string // default template.yaml
	DataDir      string // default .data: PostgreSQL cluster, endpoints.json, outbox files
	Addr         string // API front; default 127.0.0.1:3000 (CHECKOUT_ADDR)
	SQSAddr      string // default 127.0.0.1:9324
	SFNAddr      string // default 127.0.0.1:8083
	StripeAddr   string // default 127.0.0.1:12111 (the fake)
	APIKey       string // the usage plan's key (CHECKOUT_API_KEY)
	JWTSecret    string // HS256 secret of the local authorizer (CHECKOUT_JWT_SECRET)
	StripeKey    string // Stripe test mode instead of the fake (STRIPE_SECRET_KEY)
	StripeURL    string // a Stripe-compatible server of your own instead of the fake (STRIPE_API_URL)
	DatabaseURL  string // use this PostgreSQL instead of the cluster under DataDir (DATABASE_URL)
	// ReadDatabaseURL is a read replica of that PostgreSQL for the API's
	// read-only routes (DATABASE_READ_URL, docs/replicas.md); empty: none,
	// every read goes to the primary.
	ReadDatabaseURL string
	// SFNQuotas are the local Step Functions' API throttling quotas; nil
	// means AWS's defaults (sfn.DefaultAPIQuotas: StartExecution 1,300
	// burst, 300/s), an empty map none (CHECKOUT_SFN_START_BURST and
	// CHECKOUT_SFN_START_RATE in checkout-local).
	SFNQuotas map[string]sfn.APIQuota
	// SFNTransitionQuota is the local Step Functions' StateTransition
	// bucket, which delays (never fails) the saga's executions; nil means
	// AWS's default (sfn.DefaultTransitionQuota: 5,000 burst, 5,000/s), a
	// zero quota none (CHECKOUT_SFN_TRANSITION_BURST and
	// CHECKOUT_SFN_TRANSITION_RATE in checkout-local). The transitions it
	// delays are the dashboard's ExecutionThrottled.
	SFNTransitionQuota *sfn.TransitionQuota
	// RedisAddr is the loopback address of the stack's own redis-server
	// (CHECKOUT_REDIS_ADDR); empty picks a free port. REDIS_URL in the
	// environment uses that Redis instead.
	RedisAddr string
	// Parameters override the template's parameter defaults, as
	// `sam deploy --parameter-overrides` would (e.g. ThrottleBurstLimit).
	Parameters map[string]string
	// LambdaFaults, when set, makes the saga steps' local Lambda runtime
	// fail at random like AWS's (torture runs; CHECKOUT_LAMBDA_FAULT_RATE).
	LambdaFaults *LambdaFaults
	Log          *slog.Logger
}

// Stack is a running local stack.
type Stack struct {
	opts     Options
	log      *slog.Logger
	tpl      *sam.Template
	db       *devdb.DB
	core     *app.Core
	sqs      *sqs.Server
	exec     *sfn.Executor
	fake     *stripefake.Fake
	servers  []*http.Server
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closers  []func()
	sqsCli   *awssqs.Client
	queueURL map[string]string // by queue logical id
	redis    redis.UniversalClient
	dashRec  *devdash.Recorder // the local dashboard's in-memory metrics

	// URLs of what is served.
	APIURL, SQSURL, SFNURL, StripeURL string
	StateMachineARN                   string
	// RedisURL is the Redis of the stack (REDIS_URL, else a redis-server of
	// its own under DataDir/redis); RedisNotice is set when it is the
	// embedded fallback (no redis-server on PATH).
	RedisURL, RedisNotice string
	// DashboardURL is the local dashboard's page (APIURL + /_dev/).
	DashboardURL string
}

// Start brings the stack up and returns once every part serves. Close
// stops it; the data stays for the next start.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	opts = withDefaults(opts)
	s := &Stack{opts: opts, log: opts.Log, queueURL: map[string]string{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel

	// A fresh clone has no data directory; with DATABASE_URL nothing else
	// creates it before the endpoints file is written there.
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", opts.DataDir, err)
	}
	if s.tpl, err = sam.Load(opts.TemplatePath); err != nil {
		return nil, err
	}
	if len(opts.Parameters) > 0 {
		if s.tpl, err = s.tpl.Resolve(opts.Parameters); err != nil {
			return nil, err
		}
	}
	s.db, err = devdb.Open(ctx, opts.DatabaseURL, filepath.Join(opts.DataDir, "pg"), func(f string, a ...any) { s.log.Info(fmt.Sprintf(f, a...)) })
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { _ = s.db.Close() })
	// Traces stay in the stack's PostgreSQL (devtrace), the local X-Ray.
	exp, err := devtrace.NewExporter(ctx, s.db.Pool)
	if err != nil {
		return nil, err
	}
	if !opts.NoTracing {
		s.closers = append(s.closers, devtrace.Register(exp))
	}

	gw, err := s.startPayments()
	if err != nil {
		return nil, err
	}
	strat, err := strategy(s.tpl)
	if err != nil {
		return nil, err
	}
	cors, err := corsOrigins(s.tpl)
	if err != nil {
		return nil, err
	}
	if err := s.startRedis(ctx); err != nil {
		return nil, err
	}
	cfg := app.Config{Strategy: strat, ReservationTTL: reservationTTL(s.tpl), AuthenticationTimeout: authenticationTimeout(s.tpl), CORS: cors,
		MaxUnfinishedCheckouts: apiEnvInt(s.tpl, "MAX_UNFINISHED_CHECKOUTS")}
	// As in a Lambda container: the gateway behind a circuit breaker, and
	// the metrics the alarms watch (logged at debug level here).
	gate, err := app.OpenGate(s.redis)
	if err != nil {
		return nil, err
	}
	// The metrics are also kept in memory for the local dashboard (/_dev/).
	s.dashRec = devdash.NewRecorder(devdash.RecorderOptions{})
	coreOpts := []app.Option{app.WithBreaker(payment.BreakerOptions{}), app.WithMetrics(devdash.Tee{metrics.NewSlog(s.log), s.dashRec}), app.WithGate(gate)}
	if opts.ReadDatabaseURL != "" {
		// As in the API Lambda: the read-only routes read the replica while
		// it is up and within the template's DatabaseReadMaxLag.
		replica, err := pgxpool.New(ctx, opts.ReadDatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("DATABASE_READ_URL: %w", err)
		}
		s.closers = append(s.closers, replica.Close)
		if cfg.ReadMaxLag, err = readMaxLag(s.tpl); err != nil {
			return nil, err
		}
		coreOpts = append(coreOpts, app.WithReplica(replica))
	}
	s.core = app.NewCore(s.db.Pool, gw, cfg, s.log, coreOpts...)
	s.core.Redis = s.redis

	if err := s.startSQS(ctx); err != nil {
		return nil, err
	}
	if err := s.startStepFunctions(ctx, runCtx); err != nil {
		return nil, err
	}
	if err := s.startAPI(runCtx); err != nil {
		return nil, err
	}
	if s.fake != nil {
		// The embedded fake sends its signed webhooks to our own route,
		// as a Stripe endpoint pinned to API version 2023-10-16 would.
		if err := s.fake.SetWebhookEndpoint(s.APIURL+webhook.Path, webhookSecret()); err != nil {
			return nil, err
		}
	}
	if err := s.startEventSources(runCtx); err != nil {
		return nil, err
	}
	s.startSchedules(runCtx)
	if err := s.writeEndpoints(); err != nil {
		return nil, err
	}
	return s, nil
}

func withDefaults(o Options) Options {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&o.TemplatePath, "template.yaml")
	def(&o.DataDir, ".data")
	def(&o.Addr, "127.0.0.1:3000")
	def(&o.SQSAddr, "127.0.0.1:9324")
	def(&o.SFNAddr, "127.0.0.1:8083")
	def(&o.StripeAddr, "127.0.0.1:12111")
	def(&o.APIKey, DefaultAPIKey)
	def(&o.JWTSecret, DefaultJWTSecret)
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// startPayments starts the Stripe fake, or uses Stripe test mode.
func (s *Stack) startPayments() (payment.Gateway, error) {
	if s.opts.StripeKey != "" || s.opts.StripeURL != "" {
		key := s.opts.StripeKey
		if key == "" {
			key = "sk_test_local"
		}
		s.StripeURL = s.opts.StripeURL
		if s.StripeURL == "" {
			s.StripeURL = "https://api.stripe.com"
		}
		return payment.NewStripe(payment.StripeConfig{SecretKey: key, URL: s.opts.StripeURL, ReturnURL: returnURL(s.tpl, "")}), nil
	}
	s.fake = stripefake.New(stripefake.Options{Logger: s.log.With("component", "stripefake")})
	url, stop, err := s.fake.Start(s.opts.StripeAddr)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { stop(); s.fake.Close() })
	s.StripeURL = url
	// Without a shop of its own, 3-D Secure sends the customer back to the
	// fake's stand-in page.
	return payment.NewStripe(payment.StripeConfig{SecretKey: "sk_test_local", URL: url, ReturnURL: returnURL(s.tpl, url+"/_fake/return")}), nil
}

// newServer is an HTTP server for one of the stack's endpoints, with the
// limits a public endpoint needs: a client that trickles its headers or
// body is cut (ReadTimeout covers the body: API Gateway itself gives up on
// an integration after 29 s), answers may take as long as the longest
// long poll (wait=20, SQS WaitTimeSeconds=20, an activity poll of 60 s),
// idle keep-alive connections are closed, and headers are bounded (the API
// front answers API Gateway's own 10 KB limit before this one applies).
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// serve starts an HTTP server for h on addr and returns its base URL.
func (s *Stack) serve(addr string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w (set another address, or stop what uses it)", addr, err)
	}
	srv := newServer(h)
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "addr", addr, "err", err)
		}
	}()
	return "http://" + ln.Addr().String(), nil
}

func awsConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

func (s *Stack) sfnClient() *awssfn.Client {
	return awssfn.NewFromConfig(awsConfig(s.SFNURL))
}

// Endpoints is the content of <DataDir>/endpoints.json, which checkoutctl
// and scripts read to find the running stack.
type Endpoints struct {
	API             string            `json:"api"`
	SQS             string            `json:"sqs"`
	SFN             string            `json:"sfn"`
	Stripe          string            `json:"stripe"`
	DatabaseURL     string            `json:"database_url"`
	StateMachineARN string            `json:"state_machine_arn"`
	Stack           string            `json:"stack"` // the prefix of the queue names
	Queues          map[string]string `json:"queues"`
	Redis           string            `json:"redis,omitempty"`
	PID             int               `json:"pid"`
}

func (s *Stack) writeEndpoints() error {
	queues := map[string]string{}
	for id, q := range s.tpl.Queues {
		queues[q.Name] = s.queueURL[id]
	}
	b, err := json.MarshalIndent(Endpoints{API: s.APIURL, SQS: s.SQSURL, SFN: s.SFNURL, Stripe: s.StripeURL,
		DatabaseURL: s.db.DSN, StateMachineARN: s.StateMachineARN, Redis: s.RedisURL, Stack: s.tpl.Values["AWS::StackName"], Queues: queues, PID: os.Getpid()}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(s.opts.DataDir, "endpoints.json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	s.closers = append(s.closers, func() { _ = os.Remove(path) })
	return os.Rename(tmp, path)
}

// startRedis starts the stack's Redis (or uses REDIS_URL's) and connects.
func (s *Stack) startRedis(ctx context.Context) error {
	srv, err := redistest.Start(ctx, redistest.Options{DataDir: filepath.Join(s.opts.DataDir, "redis"), Addr: s.opts.RedisAddr})
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	s.closers = append(s.closers, func() { _ = srv.Stop() })
	s.RedisURL, s.RedisNotice = srv.URL(), srv.Notice()
	if s.redis, err = redisconn.Open(ctx, redisconn.Config{URL: s.RedisURL}); err != nil {
		return err
	}
	s.closers = append(s.closers, func() { _ = s.redis.Close() })
	return nil
}

// Redis is the stack's Redis client.
func (s *Stack) Redis() redis.UniversalClient { return s.redis }

// Core is the wired checkout core (for tests and tools).
func (s *Stack) Core() *app.Core { return s.core }

// Fake is the Stripe fake, nil in Stripe test mode.
func (s *Stack) Fake() *stripefake.Fake { return s.fake }

// QueueURL returns the local URL of the template queue with logical id.
func (s *Stack) QueueURL(logicalID string) string { return s.queueURL[logicalID] }

// Close stops everything: the servers (waiting for requests in flight), the
// pollers and schedules, the executor, then the database. A second Close is
// a no-op.
func (s *Stack) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		_ = srv.Shutdown(ctx)
	}
	s.servers = nil
	s.wg.Wait()
	if s.exec != nil {
		s.exec.Close()
		s.exec = nil
	}
	if s.sqs != nil {
		s.sqs.Close()
		s.sqs = nil
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}
