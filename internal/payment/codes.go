package payment

// The apperr codes of payment errors. The saga maps some of them to the
// error names the state machine matches (saga.toStepError), the API shows
// them as failure codes: one name each, written here.
const (
	CodeDeclined             = "payment_declined"              // the card was declined (apperr Declined)
	CodeFailed               = "payment_failed"                // the gateway refused the request for good (Invalid)
	CodeGatewayUnavailable   = "payment_gateway_unavailable"   // 5xx before acting, 429, network, breaker open
	CodeOutcomeUnknown       = "payment_outcome_unknown"       // a call that moves money got no usable answer
	CodeInProgress           = "payment_in_progress"           // another writer changed the payment meanwhile: retry
	CodeProcessing           = "payment_processing"            // the gateway is still processing (apperr Pending)
	CodeCanceled             = "payment_canceled"              // the intent was canceled before
	CodeRefunded             = "payment_refunded"              // the charge was refunded before
	CodeRefundFailed         = "refund_failed"                 // the gateway refused or failed the refund: a person must act
	CodeAmountMismatch       = "amount_mismatch"               // the gateway's amount or currency is not the ledger's
	CodeNotSucceeded         = "payment_not_succeeded"         // an order needs a succeeded (or authorized) charge
	CodeAuthenticationFailed = "payment_authentication_failed" // the customer failed or abandoned 3-D Secure
)
