package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"github.com/checkout-dev/checkout/internal/events"
)

// messageView is a message as shown by `dlq show` and `review show`.
type messageView struct {
	ID                string            `json:"message_id"`
	SentAt            *time.Time        `json:"sent_at,omitempty"`
	ReceiveCount      int               `json:"receive_count"`
	Attributes        map[string]string `json:"attributes"`
	MessageAttributes map[string]string `json:"message_attributes"`
	Body              json.RawMessage   `json:"body,omitempty"`
	BodyText          string            `json:"body_text,omitempty"`
	Reason            string            `json:"failure_reason,omitempty"`
	ReasonSource      string            `json:"failure_reason_source,omitempty"`
	// Permanent: the message cannot succeed on retry (its body is not a
	// valid event); `dlq replay` leaves it unless --force.
	Permanent bool `json:"permanent,omitempty"`

	bodySHA string // hex SHA-256 of the body, to find the consumer's record
}

func viewOf(m types.Message) messageView {
	v := messageView{ID: aws.ToString(m.MessageId), Attributes: map[string]string{}, MessageAttributes: map[string]string{}}
	for k, a := range m.Attributes {
		v.Attributes[k] = a
	}
	if ms, err := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64); err == nil {
		t := time.UnixMilli(ms).UTC()
		v.SentAt = &t
	}
	v.ReceiveCount, _ = strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	for k, a := range m.MessageAttributes {
		switch {
		case a.StringValue != nil:
			v.MessageAttributes[k] = aws.ToString(a.StringValue)
		default:
			v.MessageAttributes[k] = fmt.Sprintf("(%s, %d bytes)", aws.ToString(a.DataType), len(a.BinaryValue))
		}
	}
	body := aws.ToString(m.Body)
	if json.Valid([]byte(body)) {
		v.Body = json.RawMessage(body)
	} else {
		v.BodyText = body
	}
	sum := sha256.Sum256([]byte(body))
	v.bodySHA = hex.EncodeToString(sum[:])
	v.Reason, v.ReasonSource = reasonFromMessage(v, body)
	v.Permanent = v.ReasonSource == "schema"
	return v
}

// reasonFromMessage finds why a message failed, from what the message
// itself carries: a failure attribute (checkoutctl, Lambda async DLQs), an
// error inside a manual-review body, or a schema violation of the body.
func reasonFromMessage(v messageView, body string) (string, string) {
	for _, k := range []string{"failure_reason", "error", "ErrorMessage"} {
		if r := v.MessageAttributes[k]; r != "" {
			if c := v.MessageAttributes["ErrorCode"]; c != "" && k == "ErrorMessage" {
				r = c + ": " + r
			}
			return r, "attribute"
		}
	}
	if r := reviewReason(body); r != "" {
		return r, "body"
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &probe) == nil {
		_, looksEvent := probe["event_id"]
		_, hasOrder := probe["order"]
		_, hasVersion := probe["schema_version"]
		if looksEvent || hasOrder || hasVersion {
			if _, err := events.Decode([]byte(body)); err != nil {
				return err.Error(), "schema"
			}
		}
	} else {
		if _, err := events.Decode([]byte(body)); err != nil {
			return err.Error(), "schema"
		}
	}
	return "", ""
}

// stateError is Step Functions' {"Error","Cause"}.
type stateError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

func (s *stateError) String() string {
	if s == nil || (s.Error == "" && s.Cause == "") {
		return ""
	}
	cause := s.Cause
	// Lambda errors carry a JSON cause {"errorMessage","errorType"}.
	var lc struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &lc) == nil && lc.ErrorMessage != "" {
		cause = lc.ErrorMessage
	}
	if cause == "" {
		return s.Error
	}
	return s.Error + ": " + cause
}

// reviewItem is a manual-review message body (statemachine/checkout.asl.json).
type reviewItem struct {
	Type        string `json:"type"`
	CheckoutID  string `json:"checkout_id"`
	ExecutionID string `json:"execution_id"`
	FailedState string `json:"failed_state,omitempty"`
	// publish_failed, capture_failed
	PublishError *stateError     `json:"error,omitempty"`
	Event        json.RawMessage `json:"event,omitempty"`
	// compensation_failed
	State *struct {
		Error             *stateError `json:"error,omitempty"`
		CompensationError *stateError `json:"compensation_error,omitempty"`
	} `json:"state,omitempty"`
	// reconciliation's items (refund_failed, dispute_opened,
	// amount_mismatch) say it in one line
	Summary string `json:"summary,omitempty"`
}

func parseReview(body string) (reviewItem, bool) {
	var r reviewItem
	if json.Unmarshal([]byte(body), &r) != nil || r.Type == "" || r.CheckoutID == "" ||
		(r.Type != "compensation_failed" && r.Type != "publish_failed" && r.Type != "capture_failed" && r.Summary == "") {
		return r, false
	}
	return r, true
}

// summary is the one-line reason a person must act on.
func (r reviewItem) summary() string {
	switch r.Type {
	case "publish_failed":
		return "order event not queued: " + r.PublishError.String()
	case "capture_failed":
		return "order's payment not captured (capture it, e.g. checkoutctl reconcile --apply, then re-send the order event): " + r.PublishError.String()
	case "compensation_failed":
		var parts []string
		if r.State != nil {
			if s := r.State.CompensationError.String(); s != "" {
				parts = append(parts, "compensation failed: "+s)
			}
			if s := r.State.Error.String(); s != "" {
				parts = append(parts, "after: "+s)
			}
		}
		if len(parts) == 0 {
			return "compensation failed"
		}
		return strings.Join(parts, "; ")
	}
	return r.Summary
}

func reviewReason(body string) string {
	if r, ok := parseReview(body); ok {
		return r.summary()
	}
	return ""
}

// consumerReason is a failure a consumer recorded for a message.
type consumerReason struct {
	text      string
	permanent bool
}

// consumerReasons looks up the failures the consumers recorded for these
// messages: by message id (AWS keeps it when it dead-letters a message),
// else by the event id in the body, else by the body's SHA-256 (servers
// that give the dead-lettered copy a new id, bodies that hold no event id).
// Keys of the result are message ids.
func (e *env) consumerReasons(ctx context.Context, vs []messageView) map[string]consumerReason {
	out := map[string]consumerReason{}
	if e.databaseURL() == "" || len(vs) == 0 {
		return out
	}
	pool, err := e.auditDB(ctx, "read failure reasons")
	if err != nil {
		fmt.Fprintf(e.stderr, "checkoutctl: consumer failure reasons unavailable: %v\n", err)
		return out
	}
	ids := make([]string, 0, len(vs))
	eventIDs, shas := []string{}, []string{}
	byEvent, bySHA := map[string][]string{}, map[string][]string{}
	for _, v := range vs {
		ids = append(ids, v.ID)
		var probe struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(v.Body, &probe) == nil {
			if u, err := uuid.Parse(probe.EventID); err == nil {
				eventIDs = append(eventIDs, u.String())
				byEvent[u.String()] = append(byEvent[u.String()], v.ID)
			}
		}
		if v.bodySHA != "" {
			shas = append(shas, v.bodySHA)
			bySHA[v.bodySHA] = append(bySHA[v.bodySHA], v.ID)
		}
	}
	rows, err := pool.Query(ctx, `SELECT message_id, COALESCE(event_id::text, ''), COALESCE(body_sha256, ''), consumer, reason, attempts, permanent
		FROM consumer_failures WHERE message_id = ANY($1) OR event_id = ANY($2::uuid[]) OR body_sha256 = ANY($3) ORDER BY last_at`, ids, eventIDs, shas)
	if err != nil {
		fmt.Fprintf(e.stderr, "checkoutctl: consumer failure reasons unavailable: %v\n", err)
		return out
	}
	defer rows.Close()
	byMessage := map[string]consumerReason{}
	for rows.Next() {
		var id, eventID, sha, consumer, reason string
		var attempts int
		var permanent bool
		if rows.Scan(&id, &eventID, &sha, &consumer, &reason, &attempts, &permanent) != nil {
			continue
		}
		r := consumerReason{text: fmt.Sprintf("%s (%s consumer, %d attempts)", reason, consumer, attempts), permanent: permanent}
		byMessage[id] = r // later rows win: the latest failure
		for _, mid := range append(byEvent[eventID], bySHA[sha]...) {
			if _, exact := byMessage[mid]; !exact {
				out[mid] = r
			}
		}
	}
	for id, r := range byMessage {
		out[id] = r
	}
	return out
}

// withReasons fills in consumer-recorded reasons where the message itself
// carries none, or adds detail to a schema reason.
func (e *env) withReasons(ctx context.Context, vs []messageView) {
	rs := e.consumerReasons(ctx, vs)
	for i := range vs {
		if r, ok := rs[vs[i].ID]; ok && (vs[i].ReasonSource == "" || vs[i].ReasonSource == "schema") {
			vs[i].Reason, vs[i].ReasonSource = r.text, "consumer"
			vs[i].Permanent = vs[i].Permanent || r.permanent
		}
	}
}

func age(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return now.Sub(*t).Truncate(time.Second).String()
}
