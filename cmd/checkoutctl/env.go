package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/term"
)

// Endpoints is the format of .data/endpoints.json, written by the local
// runtime (`make dev`) while it runs:
//
//	{"sqs":"http://127.0.0.1:PORT","sfn":"http://...","api":"http://...",
//	 "database_url":"postgres://...","queues":{"<name>":"<url>",...},"stack":"checkout","pid":1234}
//
// sqs is required; the rest is optional (stack is the prefix of the queue
// names, used unless --stack is given; pid lets checkoutctl ignore the file
// of a stack that is no longer running).
type Endpoints struct {
	SQS         string            `json:"sqs"`
	Stack       string            `json:"stack,omitempty"`
	SFN         string            `json:"sfn,omitempty"`
	API         string            `json:"api,omitempty"`
	Stripe      string            `json:"stripe,omitempty"`
	DatabaseURL string            `json:"database_url,omitempty"`
	Queues      map[string]string `json:"queues,omitempty"`
	PID         int               `json:"pid,omitempty"`
}

// options are the global flags.
type options struct {
	profile, region, endpointURL, stack string
	stackSet                            bool // --stack was given
	endpointsFile, databaseURL, actor   string
	noLocal, jsonOut                    bool
}

// env is everything a command needs, built lazily from the options.
type env struct {
	opts           options
	stdout, stderr io.Writer
	getenv         func(string) string

	endpoints *Endpoints // nil when not local through a file
	local     bool       // an endpoint URL is in use (not AWS)
	awsCfg    aws.Config
	sqs       *awssqs.Client
	pool      *pgxpool.Pool
	actorName string // resolved by actor
}

// findEndpointsFile returns the endpoints file to use, or "".
func (e *env) findEndpointsFile() string {
	if e.opts.endpointsFile != "" {
		return e.opts.endpointsFile
	}
	if f := e.getenv("CHECKOUT_ENDPOINTS_FILE"); f != "" {
		return f
	}
	if d := e.getenv("CHECKOUT_DATA_DIR"); d != "" {
		return filepath.Join(d, "endpoints.json")
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, ".data", "endpoints.json")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// loadEndpoints reads the endpoints file when the command line does not
// name an endpoint and --no-local is not given.
func (e *env) loadEndpoints() error {
	if e.endpoints != nil || e.opts.noLocal {
		return nil
	}
	path := e.findEndpointsFile()
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if e.opts.endpointsFile != "" {
			return fmt.Errorf("endpoints file: %w", err)
		}
		return nil
	}
	var ep Endpoints
	if err := json.Unmarshal(b, &ep); err != nil {
		return fmt.Errorf("endpoints file %s: %w", path, err)
	}
	if ep.SQS == "" {
		return fmt.Errorf("endpoints file %s has no \"sqs\" endpoint", path)
	}
	if ep.PID > 0 && e.opts.endpointsFile == "" && syscall.Kill(ep.PID, 0) == syscall.ESRCH {
		fmt.Fprintf(e.stderr, "checkoutctl: ignoring %s: the local stack (pid %d) is not running\n", path, ep.PID)
		return nil
	}
	e.endpoints = &ep
	if ep.Stack != "" && !e.opts.stackSet {
		e.opts.stack = ep.Stack
	}
	return nil
}

// SQS returns the SQS client: --endpoint-url, else the local stack's, else AWS.
func (e *env) SQS(ctx context.Context) (*awssqs.Client, error) {
	if e.sqs != nil {
		return e.sqs, nil
	}
	endpoint := e.opts.endpointURL
	if endpoint == "" {
		if err := e.loadEndpoints(); err != nil {
			return nil, err
		}
		if e.endpoints != nil {
			endpoint = e.endpoints.SQS
		}
	}
	cfg, err := e.loadAWS(ctx, endpoint != "")
	if err != nil {
		return nil, err
	}
	e.sqs = awssqs.NewFromConfig(cfg, func(o *awssqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	e.local = endpoint != ""
	return e.sqs, nil
}

// loadAWS loads the standard AWS configuration. For a local endpoint the
// region defaults to us-east-1 and missing credentials become dummies.
func (e *env) loadAWS(ctx context.Context, local bool) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if e.opts.profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(e.opts.profile))
	}
	if e.opts.region != "" {
		opts = append(opts, awsconfig.WithRegion(e.opts.region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("AWS configuration: %w", err)
	}
	if local {
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
		// Local servers do not verify signatures: never wait for the
		// credential chain (it may probe EC2 metadata).
		cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		e.awsCfg = cfg
		return cfg, nil
	}
	if cfg.Region == "" {
		return cfg, errors.New("no AWS region: pass --region, set AWS_REGION or give the profile a region " +
			"(for a local stack pass --endpoint-url or run `make dev`)")
	}
	if cfg.Credentials == nil {
		return cfg, errors.New("no AWS credentials: run `aws configure` or `aws sso login`, pass --profile, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return cfg, fmt.Errorf("no usable AWS credentials (%v): run `aws configure` or `aws sso login`, pass --profile, "+
			"or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", err)
	}
	e.awsCfg = cfg
	return cfg, nil
}

// cloudFormation returns a CloudFormation client with the same config, or
// nil when working against a local endpoint.
func (e *env) cloudFormation() *cloudformation.Client {
	if e.local {
		return nil
	}
	return cloudformation.NewFromConfig(e.awsCfg)
}

// databaseURL returns the audit database: --database-url, $DATABASE_URL,
// or the local stack's.
func (e *env) databaseURL() string {
	if e.opts.databaseURL != "" {
		return e.opts.databaseURL
	}
	if v := e.getenv("DATABASE_URL"); v != "" {
		return v
	}
	_ = e.loadEndpoints()
	if e.endpoints != nil {
		return e.endpoints.DatabaseURL
	}
	return ""
}

// auditDB opens the audit database; mutating commands call it before they
// change anything and refuse to run without it.
func (e *env) auditDB(ctx context.Context, action string) (*pgxpool.Pool, error) {
	if e.pool != nil {
		return e.pool, nil
	}
	dsn := e.databaseURL()
	if dsn == "" {
		return nil, fmt.Errorf("refusing to %s: no database for the audit trail; pass --database-url, set DATABASE_URL, "+
			"or run `make dev` (it writes .data/endpoints.json)", action)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("refusing to %s: audit database: %w", action, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("refusing to %s: audit database unreachable: %w", action, err)
	}
	e.pool = pool
	return pool, nil
}

// actor is who runs the command, as audit rows name it: --actor; else,
// against AWS, the caller identity's ARN (STS GetCallerIdentity: the role or
// user the credentials belong to, whoever's laptop it is); else the OS user.
// Resolved once per run.
func (e *env) actor(ctx context.Context) string {
	if e.opts.actor != "" {
		return e.opts.actor
	}
	if e.actorName != "" {
		return e.actorName
	}
	e.actorName = e.osUser()
	if !e.local && e.awsCfg.Credentials != nil {
		out, err := sts.NewFromConfig(e.awsCfg, func(o *sts.Options) {
			if u := e.getenv("AWS_ENDPOINT_URL_STS"); u != "" {
				o.BaseEndpoint = aws.String(u)
			}
		}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err == nil && aws.ToString(out.Arn) != "" {
			e.actorName = aws.ToString(out.Arn)
		} else {
			fmt.Fprintf(e.stderr, "checkoutctl: the AWS caller identity is unknown (%v); the audit names the OS user %s (pass --actor to name yourself)\n", err, e.actorName)
		}
	}
	return e.actorName
}

// osUser is the operating system's user running the command.
func (e *env) osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	for _, k := range []string{"USER", "LOGNAME"} {
		if u := e.getenv(k); u != "" {
			return u
		}
	}
	return "uid-" + strconv.Itoa(os.Getuid())
}

// isTerminal reports whether w is a terminal (progress bars only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (e *env) close() {
	if e.pool != nil {
		e.pool.Close()
	}
}
