package sfn

import (
	"fmt"
	"strings"
	"unicode"
)

// validName checks a state machine or execution name as AWS does: 1–80
// characters, none of whitespace, < > { } [ ] ? * " # % \ ^ | ~ ` $ & , ; : /
// nor control characters.
func validName(s string) bool {
	if len(s) == 0 || len([]rune(s)) > 80 {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", r) {
			return false
		}
	}
	return true
}

func (e *Executor) stateMachineARN(name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", e.opts.Region, e.opts.AccountID, name)
}

func (e *Executor) executionARN(machine, name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", e.opts.Region, e.opts.AccountID, machine, name)
}

// parseARN splits arn:aws:states:REGION:ACCOUNT:KIND:NAME[:NAME2].
func parseARN(arn, kind string) (parts []string, ok bool) {
	p := strings.Split(arn, ":")
	if len(p) < 7 || p[0] != "arn" || p[2] != "states" || p[5] != kind {
		return nil, false
	}
	for _, s := range p[6:] {
		if s == "" {
			return nil, false
		}
	}
	return p[6:], true
}

func validStateMachineARN(arn string) bool {
	p, ok := parseARN(arn, "stateMachine")
	return ok && len(p) == 1
}

func validExecutionARN(arn string) bool {
	p, ok := parseARN(arn, "execution")
	return ok && len(p) == 2
}

// functionName extracts a Lambda function name from a name, a partial ARN
// (ACCOUNT:function:NAME) or a full ARN, dropping any version or alias.
func functionName(s string) string {
	p := strings.Split(s, ":")
	for i, part := range p {
		if part == "function" && i+1 < len(p) {
			return p[i+1]
		}
	}
	return p[0]
}
