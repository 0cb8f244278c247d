// Package strictjson decodes request bodies the strict way every edge
// wants: one JSON value, no unknown fields, no trailing data, and errors
// that name the offending field.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"

	"github.com/checkout-dev/checkout/internal/apperr"
)

// Decode decodes exactly one JSON value from b into v. Unknown fields,
// field names in the wrong case ("ITEMS" for "items"), malformed JSON,
// wrong types and trailing data are apperr Invalid errors naming the field
// with its array indexes ("items[2].quantity"). On error v is unchanged.
func Decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.InvalidField("body", "must hold one JSON object and nothing after it")
	}
	if t := reflect.TypeOf(v); t != nil && t.Kind() == reflect.Pointer {
		if err := checkShape(generic, t.Elem(), ""); err != nil {
			return err
		}
	}
	dec = json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	return nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return apperr.InvalidField(field, "must be a JSON %s, got %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return apperr.InvalidField("body", "is not valid JSON (offset %d)", syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return apperr.InvalidField("body", "is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.InvalidField(name, "is not a known field")
	}
	return apperr.InvalidField("body", "cannot be decoded: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "integer"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	case "bool":
		return "boolean"
	}
	return goKind
}
