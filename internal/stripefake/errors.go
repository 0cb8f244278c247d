package stripefake

import "net/http"

// Stripe error types, as sent in error.type.
const (
	typeInvalidRequest = "invalid_request_error"
	typeCard           = "card_error"
	typeAPI            = "api_error"
	typeIdempotency    = "idempotency_error"
)

// apiError is the body of Stripe's {"error": {...}} envelope. The field set
// and JSON names are Stripe's; stripe-go decodes it into *stripe.Error.
type apiError struct {
	Type          string             `json:"type"`
	Code          string             `json:"code,omitempty"`
	DeclineCode   string             `json:"decline_code,omitempty"`
	DocURL        string             `json:"doc_url,omitempty"`
	Message       string             `json:"message"`
	Param         string             `json:"param,omitempty"`
	Charge        string             `json:"charge,omitempty"`
	PaymentIntent any                `json:"payment_intent,omitempty"`
	PaymentMethod *paymentMethodJSON `json:"payment_method,omitempty"`
	RequestLogURL string             `json:"request_log_url,omitempty"`

	status  int  // HTTP status
	noStore bool // produced before the endpoint began executing: never stored for idempotency
}

func (e *apiError) envelope() any { return map[string]any{"error": e} }

func docURL(code string) string {
	if code == "" {
		return ""
	}
	b := []byte(code)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return "https://stripe.com/docs/error-codes/" + string(b)
}

func invalidRequest(status int, code, param, msg string) *apiError {
	return &apiError{Type: typeInvalidRequest, Code: code, DocURL: docURL(code), Param: param, Message: msg, status: status}
}

// validationError is a 400 produced while checking parameters, before any
// endpoint work; Stripe does not store these for idempotency.
func validationError(code, param, msg string) *apiError {
	e := invalidRequest(http.StatusBadRequest, code, param, msg)
	e.noStore = true
	return e
}

func paramMissing(param string) *apiError {
	return validationError("parameter_missing", param, "Missing required param: "+param+".")
}

func paramUnknown(param string) *apiError {
	return validationError("parameter_unknown", param, "Received unknown parameter: "+param)
}

func paramInvalidInteger(param, value string) *apiError {
	return validationError("parameter_invalid_integer", param, "Invalid integer: "+value)
}

func resourceMissing(param, msg string) *apiError {
	return invalidRequest(http.StatusNotFound, "resource_missing", param, msg)
}

func unexpectedState(msg string, pi any) *apiError {
	e := invalidRequest(http.StatusBadRequest, "payment_intent_unexpected_state", "", msg)
	e.PaymentIntent = pi
	return e
}
