package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/checkout-dev/checkout/internal/api"
	"github.com/checkout-dev/checkout/internal/auth"
	"github.com/checkout-dev/checkout/internal/cart"
	"github.com/checkout-dev/checkout/internal/catalogcache"
	"github.com/checkout-dev/checkout/internal/execution"
	"github.com/checkout-dev/checkout/internal/inventory"
	"github.com/checkout-dev/checkout/internal/local/devdash"
	"github.com/checkout-dev/checkout/internal/metrics"
	"github.com/checkout-dev/checkout/internal/partition"
	"github.com/checkout-dev/checkout/internal/reconcile"
	"github.com/checkout-dev/checkout/internal/startqueue"
	"github.com/checkout-dev/checkout/internal/sweeper"
	"github.com/checkout-dev/checkout/localaws/apigw"
	"github.com/checkout-dev/checkout/localaws/sam"
	"github.com/checkout-dev/checkout/localaws/sfn"
	"github.com/checkout-dev/checkout/localaws/sqs"
)

// startSQS serves the SQS server and creates the template's queues with
// their attributes: dead-letter queues first, so redrive policies can name
// them.
func (s *Stack) startSQS(ctx context.Context) error {
	s.sqs = sqs.New(s.db.Pool, sqs.Options{Region: Region, AccountID: AccountID, Logger: s.log.With("component", "sqs")})
	url, err := s.serve(s.opts.SQSAddr, s.sqs)
	if err != nil {
		return err
	}
	s.SQSURL = url
	s.sqsCli = awssqs.NewFromConfig(awsConfig(url))
	pending := make([]*sam.Queue, 0, len(s.tpl.Queues))
	for _, q := range s.tpl.Queues {
		pending = append(pending, q)
	}
	for len(pending) > 0 {
		var next []*sam.Queue
		for _, q := range pending {
			if q.Redrive != nil && s.queueURL[q.Redrive.DeadLetterQueue] == "" {
				next = append(next, q) // its DLQ first
				continue
			}
			if err := s.ensureQueue(ctx, q); err != nil {
				return fmt.Errorf("queue %s: %w", q.LogicalID, err)
			}
		}
		if len(next) == len(pending) {
			return fmt.Errorf("queues %v: their redrive targets form a cycle or are missing", next[0].LogicalID)
		}
		pending = next
	}
	return nil
}

func (s *Stack) ensureQueue(ctx context.Context, q *sam.Queue) error {
	attrs := map[string]string{}
	secs := func(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
	if q.VisibilityTimeout > 0 {
		attrs["VisibilityTimeout"] = secs(q.VisibilityTimeout)
	}
	if q.MessageRetentionPeriod > 0 {
		attrs["MessageRetentionPeriod"] = secs(q.MessageRetentionPeriod)
	}
	if q.Delay > 0 {
		attrs["DelaySeconds"] = secs(q.Delay)
	}
	if q.ReceiveWaitTime > 0 {
		attrs["ReceiveMessageWaitTimeSeconds"] = secs(q.ReceiveWaitTime)
	}
	if q.Redrive != nil {
		target := s.tpl.Queues[q.Redrive.DeadLetterQueue]
		b, _ := json.Marshal(map[string]any{"deadLetterTargetArn": queueARN(target.Name), "maxReceiveCount": q.Redrive.MaxReceiveCount})
		attrs["RedrivePolicy"] = string(b)
	}
	if q.RedriveAllow != nil {
		p := map[string]any{"redrivePermission": q.RedriveAllow.Permission}
		if len(q.RedriveAllow.SourceQueues) > 0 {
			var arns []string
			for _, id := range q.RedriveAllow.SourceQueues {
				arns = append(arns, queueARN(s.tpl.Queues[id].Name))
			}
			p["sourceQueueArns"] = arns
		}
		b, _ := json.Marshal(p)
		attrs["RedriveAllowPolicy"] = string(b)
	}
	out, err := s.sqsCli.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(q.Name), Attributes: attrs})
	var exists *types.QueueNameExists
	if errors.As(err, &exists) {
		// The template changed since the queue was made: keep its messages,
		// update its attributes.
		got, gerr := s.sqsCli.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(q.Name)})
		if gerr != nil {
			return gerr
		}
		if _, err := s.sqsCli.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: got.QueueUrl, Attributes: attrs}); err != nil {
			return err
		}
		s.queueURL[q.LogicalID] = aws.ToString(got.QueueUrl)
		return nil
	}
	if err != nil {
		return err
	}
	s.queueURL[q.LogicalID] = aws.ToString(out.QueueUrl)
	return nil
}

func queueARN(name string) string {
	return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", Region, AccountID, name)
}

// startStepFunctions starts the durable executor (resuming executions a
// previous run left), registers the saga and serves the Step Functions API.
func (s *Stack) startStepFunctions(ctx, runCtx context.Context) error {
	s.exec = sfn.New(s.db.Pool, sfn.Options{Region: Region, AccountID: AccountID, SQSClient: s.sqsCli,
		Logger: s.log.With("component", "sfn"), APIQuotas: s.opts.SFNQuotas, TransitionQuota: s.opts.SFNTransitionQuota,
		OnThrottle: func(string) {
			s.dashRec.Record(context.Background(), metrics.Entry{Metrics: []metrics.Metric{metrics.CountOf(devdash.ExecutionThrottled, 1)}})
		},
		OnTransition: func(t sfn.Transition) {
			s.log.Info("transition", "execution", t.ExecutionARN, "from", t.From, "to", t.To, "status", t.Status, "error", t.Error)
		}})
	url, err := s.serve(s.opts.SFNAddr, s.exec.Handler())
	if err != nil {
		return err
	}
	s.SFNURL = url
	// As in AWS: the steps and the reconciler resume executions waiting
	// for their customer through the Step Functions API.
	s.core.Steps.Resumer = execution.SFN{Client: s.sfnClient()}
	arn, err := RegisterSaga(ctx, s.exec, s.tpl, s.core.Steps.Handlers(), func(id string) (string, error) {
		if u := s.queueURL[id]; u != "" {
			return u, nil
		}
		return "", fmt.Errorf("no queue %s in the template", id)
	}, Region, AccountID, WithLambdaFaults(s.opts.LambdaFaults))
	if err != nil {
		return err
	}
	s.StateMachineARN = arn
	return s.exec.Start(runCtx)
}

// ExecutionThrottled returns, by state machine ARN, the state transitions
// the local Step Functions delayed for its StateTransition bucket since
// the stack started (sfn.Executor.ExecutionThrottled).
func (s *Stack) ExecutionThrottled() map[string]int64 { return s.exec.ExecutionThrottled() }

// startAPI serves the API Gateway front with the template's routes, the
// authorizer on the local HS256 secret, and the API function.
func (s *Stack) startAPI(runCtx context.Context) error {
	verifier, err := auth.NewVerifier(auth.Config{Secret: []byte(s.opts.JWTSecret)})
	if err != nil {
		return fmt.Errorf("CHECKOUT_JWT_SECRET: %w", err)
	}
	authorizer := auth.NewAuthorizer(verifier, s.opts.APIKey, s.log.With("component", "authorizer"))
	// The API's own inventory store answers sold-out SKUs from the cache
	// (kept right by LISTEN/NOTIFY) before any checkout execution starts;
	// the saga's store always asks the database.
	apiInventory := inventory.New(s.db.Pool, inventory.Options{Strategy: s.core.Inventory.Strategy(), Logger: s.log, Actor: "api",
		Gate: s.core.Inventory.Gate()})
	if err := apiInventory.StartSoldOutCache(runCtx); err != nil {
		return fmt.Errorf("sold-out cache: %w", err)
	}
	deps := s.core.APIDeps(execution.SFN{Client: s.sfnClient(), StateMachineARN: s.StateMachineARN}, apiInventory, s.log)
	// A long poll (GET /v1/checkouts/{id}?wait=N) answers when the status
	// notification arrives, not on its next poll.
	if err := deps.Checkouts.StartStatusListener(runCtx, s.log); err != nil {
		return fmt.Errorf("checkout status listener: %w", err)
	}
	if fn, ok := s.tpl.FunctionByName("api"); ok {
		// A start the local Step Functions throttles is queued, as on AWS.
		if url, err := s.envQueueURL(fn, "START_QUEUE_URL"); err == nil {
			deps.Starter.Deferred = startqueue.SQS{Client: s.sqsCli, QueueURL: url}
		}
	}
	deps.CatalogCache = catalogcache.New(s.redis, s.core.Catalog.Get, time.Duration(apiEnvInt(s.tpl, "CATALOG_CACHE_TTL_SECONDS"))*time.Second, "", s.log)
	deps.Carts = cart.New(s.redis, cart.Options{TTL: time.Duration(apiEnvInt(s.tpl, "CART_TTL_HOURS")) * time.Hour})
	deps.CartLinks = s.redis
	apiHandler := api.New(deps)
	functions := map[string]apigw.ProxyFunc{}
	authorizers := map[string]apigw.AuthorizerFunc{}
	for id, fn := range s.tpl.Functions {
		switch fn.Name {
		case "api":
			functions[id] = apiHandler.Handle
		case "authorizer":
			authorizers[id] = authorizer.Handle
		}
	}
	if err := s.addWebhook(functions); err != nil {
		return err
	}
	apiDef, err := s.tpl.Api()
	if err != nil {
		return err
	}
	front := apigw.New(apigw.Config{Api: apiDef, Routes: s.tpl.Routes, RateRules: s.tpl.RateRules,
		APIKeys: []string{s.opts.APIKey}, Functions: functions, Authorizers: authorizers,
		Region: Region, AccountID: AccountID, Log: s.log.With("component", "apigw")})
	url, err := s.serve(s.opts.Addr, s.withDashboard(front))
	if err != nil {
		return err
	}
	s.APIURL = url
	s.DashboardURL = url + devdash.Prefix
	return nil
}

// startSchedules runs each scheduled function at its rate: the sweeper
// and the reconciliation job.
func (s *Stack) startSchedules(ctx context.Context) {
	for _, fn := range s.tpl.Functions {
		run := s.scheduled(fn)
		if run == nil {
			continue
		}
		for _, ev := range fn.Events {
			if ev.Schedule == nil || !ev.Schedule.Enabled || ev.Schedule.Interval <= 0 {
				continue
			}
			interval, name := ev.Schedule.Interval, fn.Name
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				t := time.NewTicker(interval)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
						if err := run(ctx); err != nil && ctx.Err() == nil {
							s.log.Error("scheduled function failed", "function", name, "err", err)
						}
					}
				}
			}()
		}
	}
}

// scheduled returns the handler of a scheduled function (nil for others).
func (s *Stack) scheduled(fn *sam.Function) func(context.Context) error {
	log := s.log.With("function", fn.Name)
	switch fn.Name {
	case "sweeper":
		sw := &sweeper.Sweeper{Inventory: s.core.Inventory, Log: log, Metrics: s.core.Metrics(),
			Partitions: &partition.Keeper{Pool: s.core.Pool}}
		return func(ctx context.Context) error { _, err := sw.Run(ctx); return err }
	case "reconciliation":
		lit, _ := fn.Env()
		job, err := reconcile.NewJob(s.core.Reconciler(reconcile.SQSReviewer{Client: s.sqsCli, QueueURL: s.queueURL["ManualReviewQueue"]}, log),
			execution.SFN{Client: s.sfnClient()}, lit["RECONCILE_STUCK_AFTER"])
		if err != nil {
			s.log.Error("reconciliation schedule not started", "err", err)
			return nil
		}
		return func(ctx context.Context) error { _, err := job.Run(ctx); return err }
	}
	return nil
}

// strategy and reservationTTL read the template's settings for the steps:
// the reserve-stock function's literal environment.
func strategy(tpl *sam.Template) (inventory.Strategy, error) {
	if v := reserveStockEnv(tpl)["INVENTORY_STRATEGY"]; v != "" {
		return inventory.ParseStrategy(v)
	}
	return inventory.Conditional, nil
}

// apiEnv is the API function's literal environment in the template (nil
// without an api function).
func apiEnv(tpl *sam.Template) map[string]string {
	fn, ok := tpl.FunctionByName("api")
	if !ok {
		return nil
	}
	lit, _ := fn.Env()
	return lit
}

// authenticationTimeout is the API function's AUTHENTICATION_TIMEOUT_SECONDS
// (the template's AuthenticationTimeoutSeconds); 0 takes the default.
func authenticationTimeout(tpl *sam.Template) time.Duration {
	return time.Duration(apiEnvInt(tpl, "AUTHENTICATION_TIMEOUT_SECONDS")) * time.Second
}

// apiEnvInt is a positive whole number from the API function's literal
// environment, else 0 (the default).
func apiEnvInt(tpl *sam.Template, name string) int {
	if n, err := strconv.Atoi(apiEnv(tpl)[name]); err == nil && n > 0 {
		return n
	}
	return 0
}

// readMaxLag is the API function's DATABASE_READ_MAX_LAG (the template's
// DatabaseReadMaxLag); 0 when unset.
func readMaxLag(tpl *sam.Template) (time.Duration, error) {
	v := apiEnv(tpl)["DATABASE_READ_MAX_LAG"]
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("template: DatabaseReadMaxLag %q: want a positive duration like 1s", v)
	}
	return d, nil
}

// corsOrigins is the API function's CORS_ALLOWED_ORIGINS (the template's
// CorsAllowedOrigins).
func corsOrigins(tpl *sam.Template) (api.CORS, error) {
	c, err := api.ParseCORSOrigins(apiEnv(tpl)["CORS_ALLOWED_ORIGINS"])
	if err != nil {
		return api.CORS{}, fmt.Errorf("template parameter CorsAllowedOrigins: %w", err)
	}
	return c, nil
}

// returnURL is the charge function's CHECKOUT_RETURN_URL (the template's
// CheckoutReturnUrl), else def.
func returnURL(tpl *sam.Template, def string) string {
	for _, fn := range tpl.Functions {
		if fn.Name == "charge-payment" {
			if lit, _ := fn.Env(); lit["CHECKOUT_RETURN_URL"] != "" {
				return lit["CHECKOUT_RETURN_URL"]
			}
		}
	}
	return def
}

func reservationTTL(tpl *sam.Template) time.Duration {
	if d, err := time.ParseDuration(reserveStockEnv(tpl)["RESERVATION_TTL"]); err == nil && d > 0 {
		return d
	}
	return 15 * time.Minute
}

// reserveStockEnv is the literal environment of the reserve-stock function
// (nil when the template has none).
func reserveStockEnv(tpl *sam.Template) map[string]string {
	for _, fn := range tpl.Functions {
		if fn.Name == "reserve-stock" {
			lit, _ := fn.Env()
			return lit
		}
	}
	return nil
}
