package stripefake

import (
	"maps"
	"time"
)

// Internal state. All fields are guarded by Fake.mu.

type paymentIntent struct {
	id, clientSecret    string
	amount              int64
	amountCapturable    int64
	amountReceived      int64
	currency            string
	status              string
	paymentMethod       string // pm_... id or ""
	latestCharge        string // ch_... id or ""
	captureMethod       string
	confirmationMethod  string
	metadata            map[string]string
	description         *string
	receiptEmail        *string
	customer            *string
	setupFutureUsage    *string
	statementDescriptor *string
	paymentMethodTypes  []string
	created             int64
	lastPaymentError    *apiError
	canceledAt          int64
	cancellationReason  string
	offSession          bool
	returnURL           string    // confirm's return_url: 3-D Secure then redirects (next_action redirect_to_url)
	hostedURL           string    // the fake's authentication page for this intent
	seq                 int       // creation order (list tie-break)
	indexedAt           time.Time // real time it becomes searchable (Options.SearchIndexDelay)
}

type charge struct {
	id, paymentIntent, paymentMethod string
	amount, amountCaptured           int64
	amountRefunded                   int64
	currency                         string
	status                           string // pending | succeeded | failed
	captured                         bool
	failureCode, failureMessage      string
	declineCode                      string
	created                          int64
	disputed                         bool
}

type refund struct {
	id, paymentIntent, charge string
	amount                    int64
	currency                  string
	status                    string // pending | succeeded | failed
	reason                    string
	failureReason             string
	metadata                  map[string]string
	created                   int64
	seq                       int
}

type dispute struct {
	id, charge, paymentIntent string
	amount                    int64
	currency                  string
	reason, status            string
	created                   int64
}

type paymentMethod struct {
	id      string
	source  string // the test id it was created from, e.g. pm_card_visa
	card    testCard
	created int64
}

// JSON shapes. Field names and nullability follow Stripe's API reference
// for version 2023-10-16.

type paymentMethodJSON struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	BillingDetails map[string]any    `json:"billing_details"`
	Card           map[string]any    `json:"card"`
	Created        int64             `json:"created"`
	Customer       *string           `json:"customer"`
	Livemode       bool              `json:"livemode"`
	Metadata       map[string]string `json:"metadata"`
	Type           string            `json:"type"`
}

func (pm *paymentMethod) json() *paymentMethodJSON {
	return &paymentMethodJSON{
		ID: pm.id, Object: "payment_method",
		BillingDetails: map[string]any{"address": map[string]any{"city": nil, "country": nil, "line1": nil,
			"line2": nil, "postal_code": nil, "state": nil}, "email": nil, "name": nil, "phone": nil},
		Card: map[string]any{"brand": pm.card.brand, "last4": pm.card.last4, "funding": pm.card.funding,
			"country": pm.card.country, "exp_month": 12, "exp_year": time.Now().Year() + 3,
			"checks":               map[string]any{"address_line1_check": nil, "address_postal_code_check": nil, "cvc_check": "pass"},
			"three_d_secure_usage": map[string]any{"supported": true}, "wallet": nil, "networks": map[string]any{
				"available": []string{pm.card.brand}, "preferred": nil}},
		Created: pm.created, Metadata: map[string]string{}, Type: "card",
	}
}

type paymentIntentJSON struct {
	ID                        string            `json:"id"`
	Object                    string            `json:"object"`
	Amount                    int64             `json:"amount"`
	AmountCapturable          int64             `json:"amount_capturable"`
	AmountDetails             map[string]any    `json:"amount_details"`
	AmountReceived            int64             `json:"amount_received"`
	Application               any               `json:"application"`
	ApplicationFeeAmount      any               `json:"application_fee_amount"`
	AutomaticPaymentMethods   any               `json:"automatic_payment_methods"`
	CanceledAt                *int64            `json:"canceled_at"`
	CancellationReason        *string           `json:"cancellation_reason"`
	CaptureMethod             string            `json:"capture_method"`
	ClientSecret              string            `json:"client_secret"`
	ConfirmationMethod        string            `json:"confirmation_method"`
	Created                   int64             `json:"created"`
	Currency                  string            `json:"currency"`
	Customer                  *string           `json:"customer"`
	Description               *string           `json:"description"`
	Invoice                   any               `json:"invoice"`
	LastPaymentError          *apiError         `json:"last_payment_error"`
	LatestCharge              any               `json:"latest_charge"`
	Livemode                  bool              `json:"livemode"`
	Metadata                  map[string]string `json:"metadata"`
	NextAction                any               `json:"next_action"`
	OnBehalfOf                any               `json:"on_behalf_of"`
	PaymentMethod             any               `json:"payment_method"`
	PaymentMethodConfigDetail any               `json:"payment_method_configuration_details"`
	PaymentMethodOptions      map[string]any    `json:"payment_method_options"`
	PaymentMethodTypes        []string          `json:"payment_method_types"`
	Processing                any               `json:"processing"`
	ReceiptEmail              *string           `json:"receipt_email"`
	Review                    any               `json:"review"`
	SetupFutureUsage          *string           `json:"setup_future_usage"`
	Shipping                  any               `json:"shipping"`
	Source                    any               `json:"source"`
	StatementDescriptor       *string           `json:"statement_descriptor"`
	StatementDescriptorSuffix any               `json:"statement_descriptor_suffix"`
	Status                    string            `json:"status"`
	TransferData              any               `json:"transfer_data"`
	TransferGroup             any               `json:"transfer_group"`
}

type chargeJSON struct {
	ID                   string            `json:"id"`
	Object               string            `json:"object"`
	Amount               int64             `json:"amount"`
	AmountCaptured       int64             `json:"amount_captured"`
	AmountRefunded       int64             `json:"amount_refunded"`
	BalanceTransaction   any               `json:"balance_transaction"`
	Captured             bool              `json:"captured"`
	Created              int64             `json:"created"`
	Currency             string            `json:"currency"`
	Description          *string           `json:"description"`
	Disputed             bool              `json:"disputed"`
	FailureCode          *string           `json:"failure_code"`
	FailureMessage       *string           `json:"failure_message"`
	Livemode             bool              `json:"livemode"`
	Metadata             map[string]string `json:"metadata"`
	Outcome              map[string]any    `json:"outcome"`
	Paid                 bool              `json:"paid"`
	PaymentIntent        any               `json:"payment_intent"`
	PaymentMethod        string            `json:"payment_method"`
	PaymentMethodDetails map[string]any    `json:"payment_method_details"`
	Refunded             bool              `json:"refunded"`
	Status               string            `json:"status"`
}

type refundJSON struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	Amount             int64             `json:"amount"`
	BalanceTransaction any               `json:"balance_transaction"`
	Charge             any               `json:"charge"`
	Created            int64             `json:"created"`
	Currency           string            `json:"currency"`
	Metadata           map[string]string `json:"metadata"`
	PaymentIntent      any               `json:"payment_intent"`
	FailureReason      string            `json:"failure_reason,omitempty"`
	Reason             *string           `json:"reason"`
	ReceiptNumber      any               `json:"receipt_number"`
	SourceTransferRev  any               `json:"source_transfer_reversal"`
	Status             string            `json:"status"`
	TransferReversal   any               `json:"transfer_reversal"`
}

type disputeJSON struct {
	ID                  string            `json:"id"`
	Object              string            `json:"object"`
	Amount              int64             `json:"amount"`
	BalanceTransactions []any             `json:"balance_transactions"`
	Charge              string            `json:"charge"`
	Created             int64             `json:"created"`
	Currency            string            `json:"currency"`
	Evidence            map[string]any    `json:"evidence"`
	EvidenceDetails     map[string]any    `json:"evidence_details"`
	IsChargeRefundable  bool              `json:"is_charge_refundable"`
	Livemode            bool              `json:"livemode"`
	Metadata            map[string]string `json:"metadata"`
	PaymentIntent       string            `json:"payment_intent"`
	Reason              string            `json:"reason"`
	Status              string            `json:"status"`
}

type listJSON struct {
	Object  string `json:"object"`
	Data    []any  `json:"data"`
	HasMore bool   `json:"has_more"`
	URL     string `json:"url"`
}

type searchResultJSON struct {
	Object   string  `json:"object"`
	Data     []any   `json:"data"`
	HasMore  bool    `json:"has_more"`
	NextPage *string `json:"next_page"`
	URL      string  `json:"url"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func copyMeta(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}
