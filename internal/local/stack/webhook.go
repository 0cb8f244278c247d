package stack

import (
	"os"

	"github.com/checkout-dev/checkout/internal/webhook"
	"github.com/checkout-dev/checkout/localaws/apigw"
)

// DefaultWebhookSecret signs local Stripe webhooks (events/stripe-webhook.json
// is signed with it); STRIPE_WEBHOOK_SECRET overrides it.
const DefaultWebhookSecret = "whsec_local_dev_webhook_secret"

// addWebhook puts the Stripe webhook function behind its route.
func (s *Stack) addWebhook(functions map[string]apigw.ProxyFunc) {
	secret := os.Getenv("STRIPE_WEBHOOK_SECRET")
	if secret == "" {
		secret = DefaultWebhookSecret
	}
	h := webhook.New(s.db.Pool, secret, s.log.With("function", "stripe-webhook"))
	for id, fn := range s.tpl.Functions {
		if fn.Name == "stripe-webhook" {
			functions[id] = h.Handle
		}
	}
}
