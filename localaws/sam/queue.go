package sam

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SQS defaults for attributes the template leaves out.
const (
	DefaultVisibilityTimeout = 30 * time.Second
	DefaultRetentionPeriod   = 4 * 24 * time.Hour
)

// Queue is an AWS::SQS::Queue.
type Queue struct {
	LogicalID string
	// Name is QueueName resolved with parameters and pseudo parameters
	// (AWS::StackName defaults to DefaultStackName), or the logical id when
	// the template sets none (AWS would generate one).
	Name                   string
	FIFO                   bool
	VisibilityTimeout      time.Duration
	MessageRetentionPeriod time.Duration
	Delay                  time.Duration
	ReceiveWaitTime        time.Duration
	Redrive                *RedrivePolicy      // nil without a RedrivePolicy
	RedriveAllow           *RedriveAllowPolicy // nil without a RedriveAllowPolicy

	rawRedrive      Value
	rawRedriveAllow Value
}

// RedrivePolicy sends a message to DeadLetterQueue after MaxReceiveCount
// receives.
type RedrivePolicy struct {
	DeadLetterQueue string // logical id
	MaxReceiveCount int
}

// RedriveAllowPolicy says which source queues may use this queue as their
// dead-letter queue.
type RedriveAllowPolicy struct {
	Permission   string   // allowAll, denyAll or byQueue
	SourceQueues []string // logical ids (byQueue)
}

func (t *Template) addQueue(e *evaluator, id string, properties Value) error {
	p := props{e: e, id: id, v: properties}
	q := &Queue{LogicalID: id}
	var err error
	if q.FIFO, err = p.boolean("FifoQueue", false); err != nil {
		return err
	}
	if q.Name, err = p.str("QueueName", id); err != nil {
		return err
	}
	for _, d := range []struct {
		key string
		def time.Duration
		dst *time.Duration
		max time.Duration
	}{
		{"VisibilityTimeout", DefaultVisibilityTimeout, &q.VisibilityTimeout, 12 * time.Hour},
		{"MessageRetentionPeriod", DefaultRetentionPeriod, &q.MessageRetentionPeriod, 14 * 24 * time.Hour},
		{"DelaySeconds", 0, &q.Delay, 15 * time.Minute},
		{"ReceiveMessageWaitTimeSeconds", 0, &q.ReceiveWaitTime, 20 * time.Second},
	} {
		n, err := p.integer(d.key, int64(d.def/time.Second))
		if err != nil {
			return err
		}
		v := time.Duration(n) * time.Second
		if v < 0 || v > d.max {
			return p.err(d.key, fmt.Errorf("%d s is outside 0..%d", n, int64(d.max/time.Second)))
		}
		*d.dst = v
	}
	q.rawRedrive = p.raw("RedrivePolicy")
	q.rawRedriveAllow = p.raw("RedriveAllowPolicy")
	t.Queues[id] = q
	return nil
}

// linkQueue resolves the redrive policies once every queue is known.
func (t *Template) linkQueue(e *evaluator, q *Queue) error {
	if !q.rawRedrive.IsNull() {
		p := props{e: e, id: q.LogicalID, pre: "RedrivePolicy.", v: q.rawRedrive}
		if q.rawRedrive.Kind == KindScalar { // a JSON string, as older templates write it
			v, err := jsonValue(q.rawRedrive.Scalar)
			if err != nil {
				return fieldErr(q.LogicalID, "RedrivePolicy", err)
			}
			p.v = v
		}
		target, err := t.queueRef(p, "deadLetterTargetArn")
		if err != nil {
			return err
		}
		n, err := p.integer("maxReceiveCount", 0)
		if err != nil {
			return err
		}
		if n < 1 || n > 1000 {
			return p.err("maxReceiveCount", fmt.Errorf("%d is outside 1..1000", n))
		}
		if target == q.LogicalID {
			return p.err("deadLetterTargetArn", errors.New("a queue cannot be its own dead-letter queue"))
		}
		q.Redrive = &RedrivePolicy{DeadLetterQueue: target, MaxReceiveCount: int(n)}
	}
	if !q.rawRedriveAllow.IsNull() {
		p := props{e: e, id: q.LogicalID, pre: "RedriveAllowPolicy.", v: q.rawRedriveAllow}
		if q.rawRedriveAllow.Kind == KindScalar {
			v, err := jsonValue(q.rawRedriveAllow.Scalar)
			if err != nil {
				return fieldErr(q.LogicalID, "RedriveAllowPolicy", err)
			}
			p.v = v
		}
		ra := &RedriveAllowPolicy{}
		var err error
		if ra.Permission, err = p.str("redrivePermission", ""); err != nil {
			return err
		}
		switch ra.Permission {
		case "allowAll", "denyAll":
		case "byQueue":
			src := p.sub("sourceQueueArns")
			if src.v.Kind != KindSeq || len(src.v.Seq) == 0 {
				return p.err("sourceQueueArns", errors.New("byQueue needs a list of source queue ARNs"))
			}
			for i, el := range src.v.Seq {
				ep := props{e: e, id: q.LogicalID, pre: fmt.Sprintf("%ssourceQueueArns[%d]", p.pre, i), v: Value{Kind: KindMap, Map: []KeyValue{{Key: "", Value: el}}}}
				id, err := t.queueRef(ep, "")
				if err != nil {
					return err
				}
				ra.SourceQueues = append(ra.SourceQueues, id)
			}
		default:
			return p.err("redrivePermission", fmt.Errorf("want allowAll, denyAll or byQueue, got %q", ra.Permission))
		}
		q.RedriveAllow = ra
	}
	return nil
}

// queueRef resolves a queue ARN field to a queue's logical id: !GetAtt X.Arn,
// or an ARN string (e.g. built with !Sub) whose last segment is the
// QueueName of a queue of this template.
func (t *Template) queueRef(p props, key string) (string, error) {
	v, ok := p.v.Get(key)
	if !ok || v.IsNull() {
		return "", p.err(key, errors.New("required"))
	}
	r, err := p.e.resolve(v)
	if err != nil {
		return "", p.err(key, err)
	}
	if res, attr, ok := r.GetAtt(); ok && attr == "Arn" {
		if _, ok := t.Queues[res]; !ok {
			return "", p.err(key, fmt.Errorf("%s is not an AWS::SQS::Queue of this template", res))
		}
		return res, nil
	}
	if r.Kind == KindScalar && strings.HasPrefix(r.Scalar, "arn:") {
		parts := strings.Split(r.Scalar, ":")
		name := parts[len(parts)-1]
		if q, ok := t.QueueByName(name); ok {
			return q.LogicalID, nil
		}
		return "", p.err(key, fmt.Errorf("ARN %s names queue %q, which this template does not declare", r.Scalar, name))
	}
	return "", p.err(key, fmt.Errorf("%w: want !GetAtt Queue.Arn or an ARN ending in a QueueName of this template, got %s", ErrUnsupported, r))
}

// jsonValue converts JSON text into a Value tree of scalars.
func jsonValue(s string) (Value, error) {
	var x any
	if err := json.Unmarshal([]byte(s), &x); err != nil {
		return Value{}, fmt.Errorf("invalid JSON: %w", err)
	}
	var conv func(any) Value
	conv = func(x any) Value {
		switch t := x.(type) {
		case map[string]any:
			v := Value{Kind: KindMap}
			for _, k := range sortedKeys(t) {
				v.Map = append(v.Map, KeyValue{Key: k, Value: conv(t[k])})
			}
			return v
		case []any:
			v := Value{Kind: KindSeq}
			for _, el := range t {
				v.Seq = append(v.Seq, conv(el))
			}
			return v
		case nil:
			return Value{}
		default:
			return Str(fmt.Sprint(t))
		}
	}
	return conv(x), nil
}
