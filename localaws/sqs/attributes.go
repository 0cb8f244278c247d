package sqs

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Queue attribute defaults and ranges, from the CreateQueue API reference
// (aws-sdk-go-v2/service/sqs v1.53.0 documentation). MaximumMessageSize is
// 1 MiB: AWS raised the limit from 256 KiB in 2025.
var attrDefaults = map[string]string{
	"DelaySeconds":                  "0",
	"MaximumMessageSize":            "1048576",
	"MessageRetentionPeriod":        "345600",
	"ReceiveMessageWaitTimeSeconds": "0",
	"VisibilityTimeout":             "30",
	"SqsManagedSseEnabled":          "true",
}

type intRange struct{ min, max int }

var intAttrs = map[string]intRange{
	"DelaySeconds":                  {0, 900},
	"MaximumMessageSize":            {1024, 1048576},
	"MessageRetentionPeriod":        {60, 1209600},
	"ReceiveMessageWaitTimeSeconds": {0, 20},
	"VisibilityTimeout":             {0, 43200},
	"KmsDataKeyReusePeriodSeconds":  {60, 86400},
}

// readOnlyAttrs can be read with GetQueueAttributes but never set.
var readOnlyAttrs = []string{
	"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
	"ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn",
}

// fifoAttrs can be set on FIFO queues only (FifoQueue itself only at
// creation). fifoDefaults are a FIFO queue's values when not given (SQS API
// Reference, CreateQueue, and GetQueueAttributes of a new FIFO queue).
var (
	fifoAttrs    = []string{"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
	fifoDefaults = map[string]string{
		"FifoQueue":                 "true",
		"ContentBasedDeduplication": "false",
		"DeduplicationScope":        "queue",
		"FifoThroughputLimit":       "perQueue",
	}
)

// settableAttrs are accepted by CreateQueue and SetQueueAttributes.
var settableAttrs = []string{
	"DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "Policy",
	"ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy", "RedriveAllowPolicy",
	"KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled",
}

// redrivePolicy is the parsed RedrivePolicy attribute.
type redrivePolicy struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

// redriveAllowPolicy is the parsed RedriveAllowPolicy attribute.
type redriveAllowPolicy struct {
	RedrivePermission string   `json:"redrivePermission"`
	SourceQueueArns   []string `json:"sourceQueueArns,omitempty"`
}

// normalizeAttrs validates attributes given to CreateQueue (creating) or
// SetQueueAttributes for the queue self (at creation: its name and whether
// it is FIFO) and returns them in their stored form; an empty value means
// "remove" for the optional JSON ones.
func (s *Server) normalizeAttrs(ctx context.Context, self *queue, in map[string]string, creating bool) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for name, v := range in {
		switch {
		case name == "FifoQueue":
			// SQS API Reference, CreateQueue: "You can provide this attribute
			// only during queue creation. You can't change it for an existing
			// queue." (createQueue parsed it already.)
			if !creating {
				return nil, errInvalidAttributeName(name)
			}
			out[name] = self.attrs["FifoQueue"]
			continue
		case slices.Contains(fifoAttrs, name):
			if !self.fifo() {
				return nil, errInvalidAttributeName(name)
			}
			norm, err := normalizeFIFOAttr(name, v)
			if err != nil {
				return nil, err
			}
			out[name] = norm
			continue
		case slices.Contains(readOnlyAttrs, name), !slices.Contains(settableAttrs, name):
			return nil, errInvalidAttributeName(name)
		}
		if r, ok := intAttrs[name]; ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < r.min || n > r.max {
				return nil, errInvalidAttributeValue("Invalid value for the parameter %s.", name)
			}
			out[name] = strconv.Itoa(n)
			continue
		}
		switch name {
		case "RedrivePolicy":
			norm, err := s.normalizeRedrivePolicy(ctx, self, v)
			if err != nil {
				return nil, err
			}
			out[name] = norm
		case "RedriveAllowPolicy":
			norm, err := normalizeRedriveAllowPolicy(v)
			if err != nil {
				return nil, err
			}
			out[name] = norm
		case "Policy":
			if v != "" && !json.Valid([]byte(v)) {
				return nil, errInvalidAttributeValue("Invalid value for the parameter Policy.")
			}
			out[name] = v
		case "SqsManagedSseEnabled":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, errInvalidAttributeValue("Invalid value for the parameter SqsManagedSseEnabled.")
			}
			out[name] = strconv.FormatBool(b)
		default:
			out[name] = v
		}
	}
	if self.fifo() {
		// "The perMessageGroupId value is allowed only when the value for
		// DeduplicationScope is messageGroup."
		get := func(k string) string {
			if v, ok := out[k]; ok {
				return v
			}
			if v, ok := self.attrs[k]; ok {
				return v
			}
			return fifoDefaults[k]
		}
		if get("FifoThroughputLimit") == "perMessageGroupId" && get("DeduplicationScope") != "messageGroup" {
			return nil, errInvalidAttributeValue("Invalid value for the parameter FifoThroughputLimit. Reason: perMessageGroupId is allowed only when DeduplicationScope is messageGroup.")
		}
	}
	return out, nil
}

// normalizeFIFOAttr checks a FIFO-only attribute (SQS API Reference,
// CreateQueue: ContentBasedDeduplication true or false, DeduplicationScope
// messageGroup or queue, FifoThroughputLimit perQueue or perMessageGroupId).
func normalizeFIFOAttr(name, v string) (string, error) {
	switch name {
	case "ContentBasedDeduplication":
		b, err := strconv.ParseBool(v)
		if err != nil {
			break
		}
		return strconv.FormatBool(b), nil
	case "DeduplicationScope":
		if v == "messageGroup" || v == "queue" {
			return v, nil
		}
	case "FifoThroughputLimit":
		if v == "perQueue" || v == "perMessageGroupId" {
			return v, nil
		}
	}
	return "", errInvalidAttributeValue("Invalid value for the parameter %s.", name)
}

func (s *Server) normalizeRedrivePolicy(ctx context.Context, self *queue, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	bad := func(reason string) error {
		return errInvalidParameterValue("Value %s for parameter RedrivePolicy is invalid. Reason: %s", v, reason)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return "", bad("Redrive policy is not a valid JSON map.")
	}
	var p redrivePolicy
	for k, val := range raw {
		switch k {
		case "deadLetterTargetArn":
			if err := json.Unmarshal(val, &p.DeadLetterTargetArn); err != nil {
				return "", bad("Invalid value for deadLetterTargetArn.")
			}
		case "maxReceiveCount":
			var n json.Number
			if err := json.Unmarshal(val, &n); err != nil {
				var str string
				if json.Unmarshal(val, &str) != nil {
					return "", bad("Invalid value for maxReceiveCount.")
				}
				n = json.Number(str)
			}
			i, err := strconv.Atoi(string(n))
			if err != nil {
				return "", bad("Invalid value for maxReceiveCount.")
			}
			p.MaxReceiveCount = i
		default:
			return "", bad("Only following keys are allowed: deadLetterTargetArn, maxReceiveCount.")
		}
	}
	if p.DeadLetterTargetArn == "" {
		return "", bad("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
	}
	if p.MaxReceiveCount < 1 || p.MaxReceiveCount > 1000 {
		return "", bad("Invalid value for maxReceiveCount: must be an integer from 1 to 1000.")
	}
	dlqName, ok := s.queueNameFromARN(p.DeadLetterTargetArn)
	if !ok {
		return "", bad("Dead letter target does not exist.")
	}
	dlq, err := s.findQueue(ctx, dlqName)
	if err != nil {
		return "", err
	}
	if dlq == nil {
		return "", bad("Dead letter target does not exist.")
	}
	if !dlq.allowsSource(s.queueARN(self.name)) {
		return "", bad("Dead letter target does not allow this queue as a source (RedriveAllowPolicy).")
	}
	// SQS Developer Guide, dead-letter queues: "The dead-letter queue of a
	// FIFO queue must also be a FIFO queue. Similarly, the dead-letter queue
	// of a standard queue must also be a standard queue."
	if dlq.fifo() != self.fifo() {
		if self.fifo() {
			return "", newErr(400, "InvalidParameterCombination", "InvalidParameterCombination", "Fifo queues cannot use non fifo dead letter queues")
		}
		return "", newErr(400, "InvalidParameterCombination", "InvalidParameterCombination", "Standard queues cannot use fifo dead letter queues")
	}
	b, _ := json.Marshal(p)
	return string(b), nil
}

func normalizeRedriveAllowPolicy(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	bad := func(reason string) error {
		return errInvalidParameterValue("Value %s for parameter RedriveAllowPolicy is invalid. Reason: %s", v, reason)
	}
	var p redriveAllowPolicy
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return "", bad("Only following keys are allowed: redrivePermission, sourceQueueArns.")
	}
	switch p.RedrivePermission {
	case "allowAll", "denyAll":
		if len(p.SourceQueueArns) > 0 {
			return "", bad("Only specify sourceQueueArns when redrivePermission is byQueue.")
		}
	case "byQueue":
		if len(p.SourceQueueArns) < 1 || len(p.SourceQueueArns) > 10 {
			return "", bad("sourceQueueArns must contain 1 to 10 queue ARNs when redrivePermission is byQueue.")
		}
	default:
		return "", bad("redrivePermission must be one of allowAll, denyAll, byQueue.")
	}
	b, _ := json.Marshal(p)
	return string(b), nil
}

// allowsSource reports whether q's RedriveAllowPolicy lets the queue with
// ARN src use q as its dead-letter queue.
func (q *queue) allowsSource(src string) bool {
	v := q.attrs["RedriveAllowPolicy"]
	if v == "" {
		return true
	}
	var p redriveAllowPolicy
	if json.Unmarshal([]byte(v), &p) != nil {
		return true
	}
	switch p.RedrivePermission {
	case "denyAll":
		return false
	case "byQueue":
		return slices.Contains(p.SourceQueueArns, src)
	}
	return true
}

// redrive returns q's parsed RedrivePolicy, if any.
func (q *queue) redrive() (redrivePolicy, bool) {
	v := q.attrs["RedrivePolicy"]
	if v == "" {
		return redrivePolicy{}, false
	}
	var p redrivePolicy
	if json.Unmarshal([]byte(v), &p) != nil || p.MaxReceiveCount < 1 {
		return redrivePolicy{}, false
	}
	return p, true
}

// intAttr returns the integer attribute name of q (its default if unset).
func (q *queue) intAttr(name string) int {
	v, ok := q.attrs[name]
	if !ok {
		v = attrDefaults[name]
	}
	n, _ := strconv.Atoi(v)
	return n
}
