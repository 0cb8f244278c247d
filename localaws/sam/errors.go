package sam

import (
	"errors"
	"fmt"
)

// ErrUnsupported is wrapped by every error about a template construct the
// local model does not handle (an inline function, a cron schedule, an
// implicit API, ...).
var ErrUnsupported = errors.New("not supported by the local runtime")

// ErrUnresolved is wrapped when a field needs a concrete value but the
// template gives one only AWS can know (a resource attribute) or a parameter
// with neither a Default nor an override.
var ErrUnresolved = errors.New("no local value")

// FieldError locates a problem in the template: the section or resource
// (logical id) and the property path inside it.
type FieldError struct {
	Resource string // logical id, or a section name such as "Parameters"
	Field    string // dotted property path, e.g. "Events.Sweep.Properties.Schedule"
	Err      error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("template: %s: %v", e.Resource, e.Err)
	}
	return fmt.Sprintf("template: %s: %s: %v", e.Resource, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(resource, field string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return err
	}
	return &FieldError{Resource: resource, Field: field, Err: err}
}
