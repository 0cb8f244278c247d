// Package asl is an interpreter for the Amazon States Language
// (https://states-language.net/spec.html) as implemented by AWS Step
// Functions. It has no AWS dependency: Task states call a TaskRunner the
// embedder provides, time comes from an injectable Clock and jitter from an
// injectable random source.
//
// Execution is exposed as a sequence of steps over an explicit,
// JSON-serialisable Cursor (see Definition.Step), so a durable layer can
// persist the cursor after every transition and resume after a crash. A Step
// either completes entirely (returning a new cursor and the history events it
// produced) or returns a Go error and leaves the given cursor valid: re-running
// the same cursor re-runs the step (at-least-once).
//
// Data is handled as decoded JSON (any, with json.Number for numbers, so
// integers keep their exact value).
//
// Both query languages are implemented: JSONPath (InputPath, Parameters,
// ResultSelector, ResultPath, OutputPath, intrinsic functions) and JSONata
// (QueryLanguage, Arguments, Output, Condition, Items, "{% %}"
// expressions, $states), with workflow variables (Assign, "$name") in both.
// A definition using a field the interpreter does not implement is refused
// by Parse, naming the field: nothing is silently ignored.
package asl
