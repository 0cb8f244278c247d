// Package stripefake is a stateful, in-process fake of the Stripe API subset
// our payment code uses (PaymentIntents, Refunds, Charges, Events and
// webhooks, API version 2023-10-16), speaking Stripe's real wire protocol so
// that stripe-go/v76 runs its production code path against it unchanged.
//
// The fake is meant to be as unkind as Stripe where money is concerned:
// answers that lie about what happened (a 500 after the charge, a timeout
// after the charge), requests that keep running after the client hung up,
// payments that stay processing, refunds that fail days later, disputes,
// webhooks that arrive twice, late, out of order or never. Each behaviour
// below names the Stripe documentation statement it follows.
//
// # Use
//
// A *Fake is an http.Handler. Serve it on a loopback listener with
// [Fake.Start] (or [StartTest] in tests) and point stripe-go at the URL:
//
//	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
//		URL: stripe.String(url), MaxNetworkRetries: stripe.Int64(0)})
//	sc := client.New("sk_test_123", &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
//
// [Client] builds exactly that client. A separate program hosts the fake
// with webhooks the same way:
//
//	fake := stripefake.New(stripefake.Options{WebhookURL: "http://127.0.0.1:8080/stripe/webhook",
//		WebhookSecret: "whsec_local"})
//	url, stop, err := fake.Start("127.0.0.1:12111")
//	defer stop() // also stops webhook deliveries
//
// # Wire contract
//
// Requests are application/x-www-form-urlencoded with Stripe's bracket
// nesting (query string for GET); every request under /v1 must carry a test
// secret key (Authorization: Bearer sk_test_..., or HTTP Basic with the key
// as user name, as curl -u does), else 401. Responses are JSON objects
// shaped like Stripe's; errors are {"error":{...}} with Stripe's statuses:
// 400 invalid_request_error, 402 card_error, 404 resource_missing, 401, 409
// idempotency_key_in_use, 429 rate_limit, 500 api_error. Every response has
// a Request-Id: req_... header.
//
// Endpoints:
//
//	POST /v1/payment_intents                     create (confirm=true confirms)
//	GET  /v1/payment_intents                     list: created, customer, paging
//	GET  /v1/payment_intents/search              search: query, limit, page
//	GET  /v1/payment_intents/{id}
//	POST /v1/payment_intents/{id}/confirm|capture|cancel
//	POST /v1/refunds
//	GET  /v1/refunds                             list: payment_intent, charge, created, paging
//	GET  /v1/refunds/{id}
//	GET  /v1/charges/{id}                        expand[]=payment_intent
//	GET  /v1/events                              list: type (with *), types[], created, delivery_success, paging
//	GET  /v1/events/{id}
//	GET  /v1/payment_methods/{id}
//
// Amounts must be integers >= 1 and at least Stripe's minimum charge amount
// for the currency (e.g. 50 for usd/eur, 30 for gbp), else 400
// amount_too_small. Unknown top-level parameters are rejected with
// parameter_unknown; the accepted names are exactly the form fields
// stripe-go/v76 defines for the endpoint's params struct (so any request
// stripe-go can build is accepted). The tests also send every new request
// shape to Stripe's stripe-mock, which validates it against Stripe's OpenAPI
// spec.
//
// # Lists and search
//
// As Stripe's API reference describes pagination: lists are newest first,
// limit is 1..100 (default 10), starting_after and ending_before take an
// object id and are mutually exclusive, the answer is {"object":"list",
// "data","has_more","url"}; created filters take a timestamp or
// created[gt|gte|lt|lte]; list expansions are expand[]=data.<field>.
// Search answers {"object":"search_result","data","has_more","next_page",
// "url"} and pages with page=<next_page>. The query language is the subset
// a reconciliation job needs: field:'value' clauses on metadata['key'],
// status, currency, customer and amount, joined by AND (or spaces, Stripe's
// default); anything else (OR, -negation, >/< comparisons, ~ substring,
// % wildcards, parentheses, other fields) is a 400 on param query naming
// what is unsupported. Stripe warns that search is not read-after-write
// (data is searchable within about a minute); Options.SearchIndexDelay
// makes the fake lag likewise.
//
// # Test payment methods
//
// Stripe's: pm_card_visa, pm_card_mastercard, pm_card_amex (and a few more)
// succeed; pm_card_chargeDeclined*, pm_card_authenticationRequired behave as
// in Stripe's test mode. As on Stripe, using a test method creates a new
// PaymentMethod pm_... which the PaymentIntent then references. Following
// Stripe's testing documentation, with Options.AsyncDelay standing for
// Stripe's "some time later":
//
//   - pm_card_refundFail: the charge succeeds; a refund starts succeeded,
//     then fails (failure_reason expired_or_canceled_card; events
//     refund.updated, charge.refund.updated, refund.failed) and its amount is
//     refundable again.
//   - pm_card_pendingRefund: the charge succeeds; a refund starts pending,
//     then succeeds (refund.updated, charge.refund.updated).
//   - pm_card_createDispute: the charge succeeds, then is disputed as
//     fraudulent: a dispute du_... (status needs_response, amount the
//     captured, unrefunded amount), the charge disputed: true, event
//     charge.dispute.created; a refund of it is then a 400 charge_disputed.
//
// # Idempotency
//
// POST requests with an Idempotency-Key (stripe-go always sends one) are
// idempotent per API key as on Stripe: Stripe's API reference says it saves
// the status code and body of the first request made with a key once the
// endpoint began executing, including 500 errors, and replays them for the
// same key (header Idempotent-Replayed: true, Original-Request: req_...),
// with no new side effect. The same key with other parameters is a 400
// idempotency_error; a request arriving while the first is still executing
// is a 409 idempotency_error with code idempotency_key_in_use. Responses
// produced before an endpoint begins executing are not stored: 401,
// parameter validation errors, and injected status_500, status_429 and
// conn_reset faults. An injected status_500_after is stored.
//
// # Faults
//
// [Fake.InjectFault] queues faults consumed in order: an API fault by the
// next matching request, a webhook fault by the next matching event. API
// requests never consume webhook faults and vice versa. The same is
// available over HTTP at POST/GET/DELETE /_fake/faults (JSON, no
// authentication) for driving a running dev server with curl. For
// example, to make the next confirm charge the card but never answer:
//
//	curl -X POST http://127.0.0.1:PORT/_fake/faults \
//	  -d '{"kind":"timeout_after_charge","match":"POST /v1/payment_intents/*/confirm","times":1}'
//
// API kinds (match "[METHOD ]PATH-GLOB"): latency, status_500,
// status_500_after, status_429, conn_reset, timeout_after_charge, slow,
// processing. Webhook kinds (match is a glob over the event type, e.g.
// "payment_intent.*"): webhook_duplicate, webhook_delay, webhook_reorder,
// webhook_drop. A fault is {"kind","match","times","delay","outcome"}:
// delay is a Go duration ("250ms"), needed by latency, slow and
// webhook_delay; outcome ("succeed" or "fail") only for processing. See
// [FaultKind] for each kind. The pairs that look alike differ in what
// happened:
//
//   - status_500 failed before anything ran (not stored: a retry with the
//     same key executes); status_500_after ran the request, then answered
//     500 and stored that 500 (a retry with the same key gets the 500 again;
//     only a retrieve shows the money moved).
//   - latency drops the request if the client leaves during the delay
//     (nothing happens); slow runs it anyway after the delay, as Stripe
//     keeps processing a request after the client hangs up, and a retry
//     during the delay gets 409 idempotency_key_in_use.
//
// processing leaves a confirmed PaymentIntent in processing (charge
// pending) and settles it later by itself; while it is processing, confirm,
// capture, refund and cancel are refused (Stripe's API reference allows
// canceling a processing PaymentIntent only "in rare cases", not for
// cards). Faults apply only to requests for known /v1 endpoints that
// passed authentication.
//
// # Chaos
//
// [Fake.SetChaos] (or POST /_fake/chaos {"rate","kinds","webhook_rate",
// "webhook_kinds","delay","seed"}; GET shows it, DELETE turns it off) gives
// each API request, with probability rate, a fault picked uniformly from
// kinds, and each new event's delivery, with probability webhook_rate, one
// from webhook_kinds. Queued faults take precedence. Draws come from PCG
// sources seeded with seed, so a torture run replays given the same order
// of requests. RequestRecord.Fault and Event.Fault (with Chaos set) show
// what hit.
//
// # Webhooks
//
// Every state change creates an event (GET /v1/events): payment_intent.
// created, .processing, .requires_action, .amount_capturable_updated,
// .succeeded, .payment_failed, .canceled; charge.pending, .succeeded,
// .failed, .captured, .refunded, .refund.updated, .dispute.created;
// refund.created, .updated, .failed. Events are {"id":"evt_...",
// "object":"event","api_version":"2023-10-16","created","livemode":false,
// "pending_webhooks","request":{"id","idempotency_key"},"type",
// "data":{"object"}} with data.object the object as it was at that moment
// (and data.previous_attributes on *.updated events); request is null for
// changes that happen by themselves.
//
// With a webhook endpoint configured (Options.WebhookURL and WebhookSecret,
// [Fake.SetWebhookEndpoint], or POST /_fake/webhook_endpoint
// {"url","secret"}; GET shows it, DELETE removes it), each event created
// while it exists is POSTed to it as JSON with a Stripe-Signature header
// t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>">, which stripe-go's
// webhook.ConstructEvent verifies. Delivery is asynchronous: never under
// the state lock, never delaying an API response. As Stripe's webhook
// documentation says, a non-2xx answer, a redirect, a timeout (10s) or a
// connection error is retried with exponential backoff (here from 500ms,
// capped at 30s, for Options.WebhookMaxAge, default 10 minutes, where
// Stripe retries for up to three days), and events may arrive more than
// once or out of order, which the webhook faults make happen on purpose.
// [Fake.Events] and GET /_fake/events list every event with its delivery
// attempts and state; [Fake.WaitWebhooksIdle] waits until nothing more
// will be sent without a new request. Close stops deliveries.
//
// # Control endpoints
//
// Not part of Stripe's API, unauthenticated, meant for loopback use:
//
//	POST   /_fake/faults            body: a Fault object or an array of them
//	GET    /_fake/faults            pending faults
//	DELETE /_fake/faults            clear pending faults
//	POST   /_fake/chaos             body: a Chaos object; GET shows, DELETE stops
//	POST   /_fake/webhook_endpoint  body: {"url","secret"}; GET shows, DELETE removes
//	GET    /_fake/events            event log with delivery attempts
//	POST   /_fake/reset             forget all state (Reset)
//	GET    /_fake/requests          request log
//	POST   /_fake/payment_intents/{id}/authenticate?result=success|failure
//	                                finish the customer's 3-D Secure step
//
// # Concurrency
//
// All methods of *Fake are safe for concurrent use.
package stripefake
