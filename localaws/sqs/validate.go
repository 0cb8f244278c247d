package sqs

import (
	"math/big"
	"regexp"
	"strings"
	"unicode/utf8"
)

// validBody reports whether every character of body is in the set SQS
// allows: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
func validBody(body string) bool {
	if !utf8.ValidString(body) {
		return false
	}
	for _, r := range body {
		switch {
		case r == 0x9, r == 0xA, r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return true
}

var attrNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)

// baseType is the data type without its custom ".label" suffix.
func baseType(dataType string) string {
	t, _, _ := strings.Cut(dataType, ".")
	return t
}

// validateMessageAttrs checks message attributes as SendMessage documents
// them and returns their size contribution (name + type + value bytes).
func validateMessageAttrs(attrs map[string]attrValue) (int, error) {
	if len(attrs) > 10 {
		return 0, errInvalidParameterValue("Number of message attributes [%d] exceeds the allowed maximum [10].", len(attrs))
	}
	size := 0
	for name, a := range attrs {
		lower := strings.ToLower(name)
		if !attrNameRE.MatchString(name) || strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") ||
			strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
			return 0, errInvalidParameterValue("Message (user) attribute name '%s' is invalid. It can contain alphanumeric characters, hyphens, underscores and periods, must not start or end with a period, nor contain consecutive periods, nor start with AWS. or Amazon.", name)
		}
		if a.DataType == "" {
			return 0, errInvalidParameterValue("The message attribute '%s' must contain non-empty message attribute type.", name)
		}
		if len(a.DataType) > 256 {
			return 0, errInvalidParameterValue("Message attribute '%s' data type is too long.", name)
		}
		if len(a.StringListValues) > 0 || len(a.BinaryListValues) > 0 {
			return 0, errInvalidParameterValue("Message attribute list values in SendMessage operation are not supported.")
		}
		switch baseType(a.DataType) {
		case "String", "Number":
			if a.StringValue == nil || *a.StringValue == "" {
				return 0, errInvalidParameterValue("Message (user) attribute '%s' must contain a non-empty value of message attribute type '%s'.", name, baseType(a.DataType))
			}
			if a.BinaryValue != nil {
				return 0, errInvalidParameterValue("Message (user) attribute '%s' with type '%s' must use field 'String'.", name, baseType(a.DataType))
			}
			if !validBody(*a.StringValue) {
				return 0, errInvalidParameterValue("Message (user) attribute '%s' contains characters outside the allowed set.", name)
			}
			if baseType(a.DataType) == "Number" && !validNumber(*a.StringValue) {
				return 0, errInvalidParameterValue("Could not cast message attribute '%s' value to number.", name)
			}
			size += len(*a.StringValue)
		case "Binary":
			if len(a.BinaryValue) == 0 {
				return 0, errInvalidParameterValue("Message (user) attribute '%s' must contain a non-empty value of message attribute type 'Binary'.", name)
			}
			if a.StringValue != nil {
				return 0, errInvalidParameterValue("Message (user) attribute '%s' with type 'Binary' must use field 'Binary'.", name)
			}
			size += len(a.BinaryValue)
		default:
			return 0, errInvalidParameterValue("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
		}
		size += len(name) + len(a.DataType)
	}
	return size, nil
}

// The magnitude limits of a Number attribute: at most 10^126, at least -10^128.
var maxPos, minNeg = bigFloat("1e126"), bigFloat("1e128")

func bigFloat(s string) *big.Float {
	f, _ := new(big.Float).SetPrec(256).SetString(s)
	return f
}

// validNumber: up to 38 significant digits, between -10^128 and 10^126.
func validNumber(v string) bool {
	f, ok := new(big.Float).SetPrec(256).SetString(strings.TrimSpace(v))
	if !ok || f.IsInf() {
		return false
	}
	digits := 0
	for _, c := range strings.TrimLeft(strings.SplitN(strings.ToLower(v), "e", 2)[0], "+-0.") {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	if digits > 38 {
		return false
	}
	abs := new(big.Float).Abs(f)
	if f.Sign() >= 0 {
		return abs.Cmp(maxPos) <= 0
	}
	return abs.Cmp(minNeg) <= 0
}

var batchIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// validateBatchIDs applies the request-level batch checks in AWS's order.
func validateBatchIDs(ids []string) error {
	if len(ids) == 0 {
		return errEmptyBatch()
	}
	if len(ids) > 10 {
		return errTooManyEntries(len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return errBatchIDsNotDistinct(id)
		}
		seen[id] = true
	}
	for _, id := range ids {
		if !batchIDRE.MatchString(id) {
			return errInvalidBatchEntryID()
		}
	}
	return nil
}

// notACharacter replaces text that is not valid Unicode in a request
// (see markInvalidText): U+FFFF, which validBody refuses.
const notACharacter = `\uffff`

// markInvalidText returns the JSON request body with every lone surrogate
// escape (\ud800 without its pair) and every byte that is not valid UTF-8
// replaced by the escape of U+FFFF. encoding/json would silently turn both
// into U+FFFD, a valid character, and a message body holding them would be
// accepted changed; AWS refuses it with InvalidMessageContents (SendMessage:
// "Any characters not included in this list will be rejected"). U+FFFF is
// outside the allowed set, so the usual validation refuses the field. Valid
// bodies (the common case) are returned as they are.
func markInvalidText(b []byte) []byte {
	if utf8.Valid(b) && !hasSurrogateEscape(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	inString := false
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				out = append(out, notACharacter...)
			} else {
				out = append(out, b[i:i+size]...)
			}
			i += size
		case c == '"':
			inString = !inString
			out = append(out, c)
			i++
		case c == '\\' && inString && i+1 < len(b):
			if b[i+1] != 'u' {
				out = append(out, b[i:i+2]...)
				i += 2
				continue
			}
			r, ok := hex4(b, i+2)
			switch {
			case !ok:
				out = append(out, b[i:i+2]...) // malformed: the decoder reports it
				i += 2
			case r >= 0xD800 && r <= 0xDBFF:
				if lo, ok := hex4(b, i+8); ok && i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' && lo >= 0xDC00 && lo <= 0xDFFF {
					out = append(out, b[i:i+12]...) // a pair: one valid character
					i += 12
				} else {
					out = append(out, notACharacter...)
					i += 6
				}
			case r >= 0xDC00 && r <= 0xDFFF:
				out = append(out, notACharacter...)
				i += 6
			default:
				out = append(out, b[i:i+6]...)
				i += 6
			}
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// hasSurrogateEscape reports whether b may hold a \uD800–\uDFFF escape.
func hasSurrogateEscape(b []byte) bool {
	for i := 0; i+3 < len(b); i++ {
		if b[i] == '\\' && b[i+1] == 'u' && (b[i+2] == 'd' || b[i+2] == 'D') {
			switch b[i+3] {
			case '8', '9', 'a', 'b', 'c', 'd', 'e', 'f', 'A', 'B', 'C', 'D', 'E', 'F':
				return true
			}
		}
	}
	return false
}

// hex4 parses the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
