package stack

import (
	"fmt"
	"os"

	"github.com/checkout-dev/checkout/internal/webhook"
	"github.com/checkout-dev/checkout/localaws/apigw"
	"github.com/checkout-dev/checkout/localaws/sam"
)

// DefaultWebhookSecret signs local Stripe webhooks (events/stripe-webhook.json
// is signed with it); STRIPE_WEBHOOK_SECRET overrides it.
const DefaultWebhookSecret = "whsec_local_dev_webhook_secret"

// webhookSecret is the signing secret of the local webhook endpoint.
func webhookSecret() string {
	if s := os.Getenv("STRIPE_WEBHOOK_SECRET"); s != "" {
		return s
	}
	return DefaultWebhookSecret
}

// addWebhook puts the Stripe webhook function behind its route, forwarding
// to the queue its PAYMENT_EVENTS_QUEUE_URL names.
func (s *Stack) addWebhook(functions map[string]apigw.ProxyFunc) error {
	for id, fn := range s.tpl.Functions {
		if fn.Name != "stripe-webhook" {
			continue
		}
		url, err := s.envQueueURL(fn, "PAYMENT_EVENTS_QUEUE_URL")
		if err != nil {
			return err
		}
		h := webhook.New(s.db.Pool, webhookSecret(), webhook.SQSForwarder{Client: s.sqsCli, QueueURL: url}, s.log.With("function", "stripe-webhook"))
		functions[id] = h.Handle
	}
	return nil
}

// envQueueURL resolves environment variable name of fn, written as
// !Ref <Queue>, to the local queue's URL.
func (s *Stack) envQueueURL(fn *sam.Function, name string) (string, error) {
	_, refs := fn.Env()
	v, ok := refs[name]
	if !ok || v.Fn == nil || v.Fn.Name != "Ref" || v.Fn.Arg.Scalar == "" {
		return "", fmt.Errorf("function %s: environment %s must be !Ref <queue>", fn.LogicalID, name)
	}
	url := s.queueURL[v.Fn.Arg.Scalar]
	if url == "" {
		return "", fmt.Errorf("function %s: %s names %s, which is not a queue of the template", fn.LogicalID, name, v.Fn.Arg.Scalar)
	}
	return url, nil
}
