package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/checkout-dev/checkout/internal/saga"
	"github.com/checkout-dev/checkout/localaws/sam"
	"github.com/checkout-dev/checkout/localaws/sfn"
)

// defaultSagaName names the saga when the template gives no stack
// name to register it under.
const defaultSagaName = "checkout"

// RegisterSaga registers the template's state machine on exec, running the
// very ASL file template.yaml deploys, with its DefinitionSubstitutions
// resolved to local resources, and returns the state machine's ARN.
//
// The definition is read from the state machine's DefinitionUri (relative
// to tpl.Dir). Each substitution is rendered as follows:
//
//   - a function's ARN (!GetAtt Fn.Arn) becomes the local Lambda ARN
//     arn:aws:lambda:<region>:<account>:function:<logical id>, and that
//     function is registered on exec with the in-process handler of the saga
//     step whose name is the function's CodeUri folder (functions/reserve-stock
//     → handlers[saga.FnReserveStock]); a function's name (!Ref Fn) becomes
//     its logical id, registered the same way;
//   - a queue's URL (!Ref Queue or .QueueUrl) becomes queueURL(logical id);
//     its .Arn becomes arn:aws:sqs:<region>:<account>:<queue name> and its
//     .QueueName the queue name;
//   - a literal stays as written.
//
// Only the placeholders the definition uses are resolved, so a step the
// definition never calls needs no handler. Handler errors reach the
// executor unchanged, so their Go type names stay the ASL error names the
// Retry and Catch rules match.
//
// The state machine is registered under the template's stack name
// (AWS::StackName; "checkout" when unset); registering again replaces the
// definition and the functions, so calling RegisterSaga on every start-up is
// safe, and executions already running keep the definition they started with.
// region and account default to the template's AWS::Region and
// AWS::AccountId.
//
// Errors (nothing is registered on exec unless the definition rendered): a
// template without exactly one state machine, an unreadable definition, a
// placeholder with no substitution, a function with no handler (the error
// names the function, its CodeUri and the handlers available), a queue URL
// queueURL cannot give, a substitution kind the local runtime cannot
// resolve, and the executor's InvalidDefinition or InvalidName.
//
// Each step runs as Lambda runs its function: with the function's Timeout
// as its deadline, failing with Sandbox.Timedout past it. WithLambdaFaults
// adds the runtime's random failures.
func RegisterSaga(ctx context.Context, exec *sfn.Executor, tpl *sam.Template, handlers map[saga.Step]saga.Handler,
	queueURL func(queueLogicalID string) (string, error), region, account string, opts ...SagaOption) (stateMachineARN string, err error) {
	if exec == nil || tpl == nil {
		return "", errors.New("stack: RegisterSaga needs an executor and a template")
	}
	sm, err := tpl.StateMachine()
	if err != nil {
		return "", fmt.Errorf("stack: saga state machine: %w", err)
	}
	definition, err := os.ReadFile(sm.DefinitionPath)
	if err != nil {
		return "", fmt.Errorf("stack: read state machine %s definition (DefinitionUri %s): %w", sm.LogicalID, sm.DefinitionURI, err)
	}
	if region == "" {
		region = sagaValueOr(tpl.Values["AWS::Region"], sam.DefaultRegion)
	}
	if account == "" {
		account = sagaValueOr(tpl.Values["AWS::AccountId"], sam.DefaultAccountID)
	}

	r := &sagaResolver{tpl: tpl, handlers: handlers, queueURL: queueURL, region: region, account: account,
		funcs: map[string]sfn.Handler{}}
	for _, o := range opts {
		o(r)
	}
	rendered, err := sm.Render(string(definition), r.value)
	if err != nil {
		return "", fmt.Errorf("stack: render state machine %s (%s): %w", sm.LogicalID, sm.DefinitionURI, err)
	}
	if !json.Valid([]byte(rendered)) {
		return "", fmt.Errorf("stack: state machine %s: the definition is not valid JSON once its substitutions are rendered", sm.LogicalID)
	}

	for _, id := range sagaSortedKeys(r.funcs) {
		exec.RegisterFunction(id, r.funcs[id])
	}
	name := sagaValueOr(tpl.Values["AWS::StackName"], defaultSagaName)
	arn, err := exec.RegisterStateMachine(ctx, name, []byte(rendered))
	if err != nil {
		return "", fmt.Errorf("stack: register state machine %s as %q: %w", sm.LogicalID, name, err)
	}
	return arn, nil
}

// sagaResolver renders the substitutions of one RegisterSaga call and
// collects the functions to register, by logical id.
type sagaResolver struct {
	tpl      *sam.Template
	handlers map[saga.Step]saga.Handler
	queueURL func(string) (string, error)
	region   string
	account  string
	funcs    map[string]sfn.Handler
	faults   *LambdaFaults
}

// SagaOption adjusts RegisterSaga.
type SagaOption func(*sagaResolver)

// WithLambdaFaults makes the steps' local Lambda runtime fail at random as
// f says (nil: never).
func WithLambdaFaults(f *LambdaFaults) SagaOption {
	return func(r *sagaResolver) { r.faults = f }
}

func (r *sagaResolver) value(s sam.Substitution) (string, error) {
	switch s.Kind {
	case sam.SubstLiteral:
		return s.Value, nil
	case sam.SubstFunctionArn, sam.SubstFunctionName:
		id, err := r.function(s.Resource)
		if err != nil {
			return "", err
		}
		if s.Kind == sam.SubstFunctionName {
			return id, nil
		}
		return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", r.region, r.account, id), nil
	case sam.SubstQueueURL:
		if r.queueURL == nil {
			return "", fmt.Errorf("queue %s: no queue URL resolver given", s.Resource)
		}
		u, err := r.queueURL(s.Resource)
		if err != nil {
			return "", fmt.Errorf("queue %s: %w", s.Resource, err)
		}
		if u == "" {
			return "", fmt.Errorf("queue %s: empty queue URL", s.Resource)
		}
		return u, nil
	case sam.SubstQueueArn, sam.SubstQueueName:
		q, ok := r.tpl.Queues[s.Resource]
		if !ok {
			return "", fmt.Errorf("queue %s is not in the template", s.Resource)
		}
		if s.Kind == sam.SubstQueueName {
			return q.Name, nil
		}
		return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", r.region, r.account, q.Name), nil
	}
	return "", fmt.Errorf("%w: substitution kind %q", sam.ErrUnsupported, s.Kind)
}

// function finds the saga step behind the function with logical id id and
// records its handler; it returns the id.
func (r *sagaResolver) function(id string) (string, error) {
	fn, ok := r.tpl.Function(id)
	if !ok {
		return "", fmt.Errorf("function %s is not in the template", id)
	}
	h, ok := r.handlers[saga.Step(fn.Name)]
	if !ok || h.Name() == "" {
		return "", fmt.Errorf("function %s (CodeUri %s) has no in-process handler named %q; handlers: %s",
			id, fn.CodeURI, fn.Name, sagaValueOr(strings.Join(sagaSortedKeys(r.handlers), ", "), "(none)"))
	}
	r.funcs[id] = lambdaHandler(fn, h, r.faults)
	return id, nil
}

func sagaValueOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func sagaSortedKeys[K ~string, V any](m map[K]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	return keys
}
