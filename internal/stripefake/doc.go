// Package stripefake is a stateful, in-process fake of the Stripe API subset
// our payment code uses (PaymentIntents and Refunds, API version 2023-10-16),
// speaking Stripe's real wire protocol so that stripe-go/v76 runs its
// production code path against it unchanged.
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
// [Client] builds exactly that client.
//
// # Wire contract
//
// Requests are application/x-www-form-urlencoded with Stripe's bracket
// nesting; every request under /v1 must carry a test secret key
// (Authorization: Bearer sk_test_..., or HTTP Basic with the key as user
// name, as curl -u does), else 401. Responses are JSON objects shaped like
// Stripe's; errors are {"error":{...}} with Stripe's statuses: 400
// invalid_request_error, 402 card_error, 404 resource_missing, 401, 409
// idempotency_key_in_use, 429 rate_limit, 500 api_error. Every response has
// a Request-Id: req_... header.
//
// Endpoints: POST /v1/payment_intents, GET /v1/payment_intents/{id},
// POST /v1/payment_intents/{id}/confirm, /capture, /cancel,
// POST /v1/refunds, GET /v1/refunds/{id}, GET /v1/payment_methods/{id}.
// Amounts must be integers >= 1 and at least Stripe's minimum charge amount
// for the currency (e.g. 50 for usd/eur, 30 for gbp), else 400
// amount_too_small. Unknown top-level parameters are rejected with
// parameter_unknown; the
// accepted names are exactly the form fields stripe-go/v76 defines for the
// endpoint's params struct (so any request stripe-go can build is accepted).
//
// Test payment methods are Stripe's: pm_card_visa, pm_card_mastercard,
// pm_card_amex (and a few more) succeed; pm_card_chargeDeclined*,
// pm_card_authenticationRequired behave as on Stripe's test mode. As on
// Stripe, using a test method creates a new PaymentMethod pm_... which the
// PaymentIntent then references.
//
// # Idempotency
//
// POST requests with an Idempotency-Key (stripe-go always sends one) are
// idempotent per API key as on Stripe: the first response produced by an
// endpoint is stored and replayed for the same key, method, path and
// parameters (header Idempotent-Replayed: true, Original-Request: req_...),
// with no new side effect. The same key with other parameters is a 400
// idempotency_error; a request arriving while the first is still executing
// is a 409 idempotency_error with code idempotency_key_in_use. Responses
// produced before an endpoint begins executing are not stored: 401,
// parameter validation errors, and injected Status500/Status429/ConnReset
// faults.
//
// # Faults
//
// [Fake.InjectFault] queues faults consumed in order by matching requests;
// the same is available over HTTP at POST/GET/DELETE /_fake/faults (JSON,
// no authentication) for driving a running dev server with curl. See
// [FaultKind] for the kinds. For example, to make the next confirm charge
// the card but never answer:
//
//	curl -X POST http://127.0.0.1:PORT/_fake/faults \
//	  -d '{"kind":"timeout_after_charge","match":"POST /v1/payment_intents/*/confirm","times":1}'
//
// Kinds on the wire: latency (needs "delay":"2s"), status_500, status_429,
// conn_reset, timeout_after_charge (optional "delay"). Faults apply only to
// requests for known /v1 endpoints that passed authentication.
//
// # Control endpoints
//
// Not part of Stripe's API, unauthenticated, meant for loopback use:
//
//	POST   /_fake/faults    body: a Fault object or an array of them
//	GET    /_fake/faults    pending faults
//	DELETE /_fake/faults    clear pending faults
//	POST   /_fake/reset     forget all state (Reset)
//	GET    /_fake/requests  request log
//	POST   /_fake/payment_intents/{id}/authenticate?result=success|failure
//	                        finish the customer's 3-D Secure step
//
// # Concurrency
//
// All methods of *Fake are safe for concurrent use.
package stripefake
