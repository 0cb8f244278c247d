package asl

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

type intrinsicFunc func(c *intrinsicCall, args []any, env *Env) (any, error)

var intrinsics map[string]intrinsicFunc

func init() {
	intrinsics = map[string]intrinsicFunc{
		"States.Format":         fnFormat,
		"States.StringToJson":   fnStringToJSON,
		"States.JsonToString":   fnJSONToString,
		"States.Array":          fnArray,
		"States.ArrayPartition": fnArrayPartition,
		"States.ArrayContains":  fnArrayContains,
		"States.ArrayRange":     fnArrayRange,
		"States.ArrayGetItem":   fnArrayGetItem,
		"States.ArrayLength":    fnArrayLength,
		"States.ArrayUnique":    fnArrayUnique,
		"States.Base64Encode":   fnBase64Encode,
		"States.Base64Decode":   fnBase64Decode,
		"States.Hash":           fnHash,
		"States.JsonMerge":      fnJSONMerge,
		"States.MathRandom":     fnMathRandom,
		"States.MathAdd":        fnMathAdd,
		"States.StringSplit":    fnStringSplit,
		"States.UUID":           fnUUID,
	}
}

func wantArgs(args []any, n int) error {
	if len(args) != n {
		return fmt.Errorf("expected %d arguments, got %d", n, len(args))
	}
	return nil
}

func argString(args []any, i int) (string, error) {
	s, ok := args[i].(string)
	if !ok {
		return "", fmt.Errorf("argument %d must be a string, got %s", i+1, typeName(args[i]))
	}
	return s, nil
}

func argArray(args []any, i int) ([]any, error) {
	a, ok := args[i].([]any)
	if !ok {
		return nil, fmt.Errorf("argument %d must be an array, got %s", i+1, typeName(args[i]))
	}
	return a, nil
}

func argInt(args []any, i int) (int64, error) {
	n, ok := toInt(args[i])
	if !ok {
		return 0, fmt.Errorf("argument %d must be an integer, got %v", i+1, args[i])
	}
	return n, nil
}

// argRounded is a number argument rounded to the nearest integer (halves
// up), as the developer guide says of States.ArrayPartition,
// States.ArrayRange and States.MathAdd: "If you specify a non-integer value
// for one or both the arguments, Step Functions will round it to the nearest
// integer."
func argRounded(args []any, i int) (int64, error) {
	if n, ok := toInt(args[i]); ok {
		return n, nil
	}
	f, ok := toFloat(args[i])
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<62 {
		return 0, fmt.Errorf("argument %d must be a number, got %v", i+1, args[i])
	}
	return int64(math.Floor(f + 0.5)), nil
}

// fnFormat: States.Format('template {}', args...). The template must be a
// string literal; each unescaped {} takes the next argument; \{ and \} are
// literal braces. Strings are inserted as-is, other values as JSON.
func fnFormat(c *intrinsicCall, args []any, _ *Env) (any, error) {
	if len(args) == 0 {
		return nil, errors.New("missing template")
	}
	tmpl := c.args[0]
	if !tmpl.isStr || tmpl.kind != argLiteral {
		if s, ok := args[0].(string); ok {
			tmpl = intrinsicArg{raw: s}
		} else {
			return nil, errors.New("template must be a string")
		}
	}
	var b strings.Builder
	next := 1
	raw := tmpl.raw
	for i := 0; i < len(raw); i++ {
		ch := raw[i]
		switch {
		case ch == '\\' && i+1 < len(raw):
			i++
			b.WriteByte(raw[i])
		case ch == '{' && i+1 < len(raw) && raw[i+1] == '}':
			if next >= len(args) {
				return nil, errors.New("more placeholders than arguments")
			}
			switch v := args[next].(type) {
			case string:
				b.WriteString(v)
			default:
				b.Write(mustEncode(v))
			}
			next++
			i++
		default:
			b.WriteByte(ch)
		}
	}
	if next != len(args) {
		return nil, errors.New("more arguments than placeholders")
	}
	return b.String(), nil
}

func fnStringToJSON(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 1); err != nil {
		return nil, err
	}
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	return decodeJSON([]byte(s))
}

func fnJSONToString(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 1); err != nil {
		return nil, err
	}
	b, err := encodeJSON(args[0])
	return string(b), err
}

func fnArray(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	out := make([]any, len(args))
	copy(out, args)
	return out, nil
}

func fnArrayPartition(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 2); err != nil {
		return nil, err
	}
	arr, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	n, err := argRounded(args, 1)
	if err != nil || n <= 0 {
		return nil, errors.New("chunk size must be a positive integer")
	}
	out := []any{}
	for i := 0; i < len(arr); i += int(n) {
		end := min(i+int(n), len(arr))
		chunk := make([]any, end-i)
		copy(chunk, arr[i:end])
		out = append(out, chunk)
	}
	return out, nil
}

func fnArrayContains(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 2); err != nil {
		return nil, err
	}
	arr, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	for _, e := range arr {
		if jsonEqual(e, args[1]) {
			return true, nil
		}
	}
	return false, nil
}

func fnArrayRange(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 3); err != nil {
		return nil, err
	}
	var n [3]int64
	for i := range n {
		v, err := argRounded(args, i)
		if err != nil {
			return nil, err
		}
		n[i] = v
	}
	if n[2] == 0 {
		return nil, errors.New("step must not be 0")
	}
	out := []any{}
	for v := n[0]; (n[2] > 0 && v <= n[1]) || (n[2] < 0 && v >= n[1]); v += n[2] {
		out = append(out, json.Number(strconv.FormatInt(v, 10)))
		if len(out) > 1000 {
			return nil, errors.New("more than 1000 items")
		}
	}
	return out, nil
}

func fnArrayGetItem(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 2); err != nil {
		return nil, err
	}
	arr, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	i, err := argInt(args, 1)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= int64(len(arr)) {
		return nil, fmt.Errorf("index %d out of bounds", i)
	}
	return arr[i], nil
}

func fnArrayLength(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 1); err != nil {
		return nil, err
	}
	arr, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	return json.Number(strconv.Itoa(len(arr))), nil
}

func fnArrayUnique(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 1); err != nil {
		return nil, err
	}
	arr, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	out := []any{}
outer:
	for _, e := range arr {
		for _, o := range out {
			if jsonEqual(e, o) {
				continue outer
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func fnBase64Encode(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 1); err != nil {
		return nil, err
	}
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func fnBase64Decode(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 1); err != nil {
		return nil, err
	}
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func fnHash(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 2); err != nil {
		return nil, err
	}
	algo, err := argString(args, 1)
	if err != nil {
		return nil, err
	}
	data, ok := args[0].(string)
	if !ok {
		data = string(mustEncode(args[0]))
	}
	var h hash.Hash
	switch algo {
	case "MD5":
		h = md5.New()
	case "SHA-1":
		h = sha1.New()
	case "SHA-256":
		h = sha256.New()
	case "SHA-384":
		h = sha512.New384()
	case "SHA-512":
		h = sha512.New()
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", algo)
	}
	h.Write([]byte(data))
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fnJSONMerge(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 3); err != nil {
		return nil, err
	}
	a, ok1 := args[0].(map[string]any)
	b, ok2 := args[1].(map[string]any)
	if !ok1 || !ok2 {
		return nil, errors.New("arguments 1 and 2 must be objects")
	}
	if deep, _ := args[2].(bool); deep {
		return nil, errors.New("deep merge is not supported (AWS requires false)")
	}
	out := map[string]any{}
	for k, v := range a {
		out[k] = deepCopy(v)
	}
	for k, v := range b {
		out[k] = deepCopy(v)
	}
	return out, nil
}

// fnMathRandom: States.MathRandom(start, end[, seed]) "returns a random
// number between the specified start and end number"; "seed ... If you use
// the same seed value, the function returns identical numbers" (developer
// guide). start is inclusive, end exclusive.
func fnMathRandom(_ *intrinsicCall, args []any, env *Env) (any, error) {
	if len(args) != 2 && len(args) != 3 {
		return nil, errors.New("expected 2 or 3 arguments")
	}
	lo, err := argInt(args, 0)
	if err != nil {
		return nil, err
	}
	hi, err := argInt(args, 1)
	if err != nil {
		return nil, err
	}
	if hi < lo {
		return nil, errors.New("end must not be less than start")
	}
	r := env.random()
	if len(args) == 3 {
		seed, err := argInt(args, 2)
		if err != nil {
			return nil, err
		}
		r = rand.New(rand.NewPCG(uint64(seed), 0x5f3759df)).Float64()
	}
	v := lo + int64(math.Floor(r*float64(hi-lo)))
	return json.Number(strconv.FormatInt(v, 10)), nil
}

// fnMathAdd: States.MathAdd(a, b), non-integers rounded to the nearest
// integer; the developer guide limits the values to "the range of
// -2147483648 to 2147483647" (32-bit), which both arguments and the sum
// must be in.
func fnMathAdd(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 2); err != nil {
		return nil, err
	}
	a, err := argRounded(args, 0)
	if err != nil {
		return nil, err
	}
	b, err := argRounded(args, 1)
	if err != nil {
		return nil, err
	}
	for _, v := range []int64{a, b, a + b} {
		if v < math.MinInt32 || v > math.MaxInt32 {
			return nil, fmt.Errorf("value %d is outside the 32-bit integer range -2147483648 to 2147483647", v)
		}
	}
	return json.Number(strconv.FormatInt(a+b, 10)), nil
}

// fnStringSplit splits on any of the delimiter characters, dropping empty
// pieces (the AWS example splits "This.is+a,test=string" on ".+,=").
func fnStringSplit(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 2); err != nil {
		return nil, err
	}
	s, err := argString(args, 0)
	if err != nil {
		return nil, err
	}
	d, err := argString(args, 1)
	if err != nil {
		return nil, err
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(d, r) })
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func fnUUID(_ *intrinsicCall, args []any, _ *Env) (any, error) {
	if err := wantArgs(args, 0); err != nil {
		return nil, err
	}
	return uuid.NewString(), nil
}

// jsonEqual compares decoded JSON values, numbers by value.
func jsonEqual(a, b any) bool {
	fa, oka := toFloat(a)
	fb, okb := toFloat(b)
	if oka && okb {
		return fa == fb
	}
	return reflect.DeepEqual(a, b)
}
