package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// ErrorBody is the one error shape of the public API:
// {"error":{"code","message","details"?}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// response is what a route returns before it becomes a proxy response.
type response struct {
	status  int
	body    any
	headers map[string]string
}

func (r response) with(k, v string) response {
	if r.headers == nil {
		r.headers = map[string]string{}
	}
	r.headers[k] = v
	return r
}

func jsonResponse(status int, body any) response { return response{status: status, body: body} }

// errorResponse builds an error response with the given status and code.
func errorResponse(status int, code, message string, details map[string]any) response {
	return response{status: status, body: ErrorBody{Error: ErrorDetail{Code: code, Message: message, Details: details}}}
}

// ErrorResponse renders the API's error shape as a proxy response; other
// edges (the Stripe webhook) use it so every error looks the same.
func ErrorResponse(status int, code, message string, details map[string]any) events.APIGatewayProxyResponse {
	return render(errorResponse(status, code, message, details))
}

// JSONResponse renders body as a JSON proxy response with status.
func JSONResponse(status int, body any) events.APIGatewayProxyResponse {
	return render(jsonResponse(status, body))
}

// render turns r into a proxy response. Every response is JSON.
func render(r response) events.APIGatewayProxyResponse {
	if r.status == http.StatusNoContent {
		return events.APIGatewayProxyResponse{StatusCode: r.status, Headers: maps.Clone(r.headers)}
	}
	b, err := json.Marshal(r.body)
	if err != nil {
		r.status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal_error","message":"internal error"}}`)
	}
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range r.headers {
		h[k] = v
	}
	return events.APIGatewayProxyResponse{StatusCode: r.status, Headers: h, Body: string(b)}
}

// fromError maps a domain error to its HTTP answer. Internal (and any
// unclassified) errors become 500 "internal error"; the caller logs them.
func fromError(err error) response {
	ae := apperr.As(err)
	if ae == nil {
		return internalError()
	}
	switch ae.Kind {
	case apperr.Invalid:
		msg := ae.Message
		if ae.Field != "" {
			msg = ae.Field + ": " + msg
		}
		return errorResponse(http.StatusBadRequest, "invalid_request", msg, fieldDetails(ae))
	case apperr.NotFound:
		return errorResponse(http.StatusNotFound, "not_found", ae.Message, nil)
	case apperr.Conflict:
		return errorResponse(http.StatusUnprocessableEntity, codeOr(ae.Code, "conflict"), ae.Message, fieldDetails(ae))
	case apperr.OutOfStock:
		return errorResponse(http.StatusConflict, "out_of_stock", ae.Message, ae.Details)
	case apperr.State:
		return errorResponse(http.StatusConflict, codeOr(ae.Code, "conflict"), ae.Message, ae.Details)
	case apperr.Transient, apperr.Unavailable:
		return unavailable("the service is busy; retry shortly")
	}
	return internalError()
}

func internalError() response {
	return errorResponse(http.StatusInternalServerError, "internal_error", "internal error", nil)
}

// retryAfterSeconds is the Retry-After sent with 503 answers.
const retryAfterSeconds = 2

func unavailable(msg string) response {
	return errorResponse(http.StatusServiceUnavailable, "service_unavailable", msg, nil).
		with("Retry-After", strconv.Itoa(retryAfterSeconds))
}

func codeOr(code, def string) string {
	if code == "" {
		return def
	}
	return code
}

// fieldDetails is a copy of ae.Details plus "field" when ae names one, or
// nil when that is empty.
func fieldDetails(ae *apperr.Error) map[string]any {
	details := maps.Clone(ae.Details)
	if ae.Field != "" {
		if details == nil {
			details = map[string]any{}
		}
		details["field"] = ae.Field
	}
	if len(details) == 0 {
		return nil
	}
	return details
}
