package strictjson

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/checkout-dev/checkout/internal/apperr"
)

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkShape walks the generic JSON value v (decoded with UseNumber) against
// the Go type t before encoding/json sees it, for the two things
// encoding/json gets wrong for an API: it matches object keys to fields
// without regard to case ("ITEMS" fills Items), and its type errors name
// the field without the array index ("items.quantity" for
// "items[3].quantity"). The first problem found, in document order of
// fields sorted by name, is an apperr Invalid naming the exact path.
func checkShape(v any, t reflect.Type, path string) error {
	if v == nil || t.Kind() == reflect.Interface ||
		t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil // null leaves the field alone; custom decoders check themselves
	}
	if t.Kind() == reflect.Pointer {
		return checkShape(v, t.Elem(), path)
	}
	if t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		if _, ok := v.(string); !ok {
			return typeError(path, "string", v)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return typeError(path, "object", v)
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				return unknownField(join(path, k), k, fields)
			}
			if err := checkShape(obj[k], ft, join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return typeError(path, "object", v)
		}
		for k, x := range obj {
			if err := checkShape(x, t.Elem(), join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			if _, ok := v.(string); !ok {
				return typeError(path, "string", v)
			}
			return nil
		}
		arr, ok := v.([]any)
		if !ok {
			return typeError(path, "array", v)
		}
		for i, x := range arr {
			if err := checkShape(x, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return typeError(path, "string", v)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return typeError(path, "boolean", v)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); !ok || err != nil {
			return typeError(path, "integer", v)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); !ok || err != nil {
			return typeError(path, "non-negative integer", v)
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			return typeError(path, "number", v)
		}
	}
	return nil
}

// jsonFields maps each JSON name of struct t (embedded structs flattened,
// "-" skipped) to its type, as encoding/json would see them.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, taken := out[k]; !taken {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.Contains(opts, "string") {
			ft = reflect.TypeFor[any]() // ",string" fields hold quoted values; leave them to encoding/json
		}
		out[name] = ft
	}
	return out
}

func unknownField(path, key string, fields map[string]reflect.Type) error {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return apperr.InvalidField(path, "is not a known field; field names are case-sensitive (did you mean %q?)", name)
		}
	}
	return apperr.InvalidField(path, "is not a known field")
}

func typeError(path, want string, got any) error {
	if path == "" {
		path = "body"
	}
	return apperr.InvalidField(path, "must be a JSON %s, got %s", want, describe(got))
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number " + string(x)
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
