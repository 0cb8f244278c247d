package sqs

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// attrValue is a message (or message system) attribute as on the wire.
type attrValue struct {
	DataType         string   `json:"DataType"`
	StringValue      *string  `json:"StringValue,omitempty"`
	BinaryValue      []byte   `json:"BinaryValue,omitempty"`
	StringListValues []string `json:"StringListValues,omitempty"`
	BinaryListValues [][]byte `json:"BinaryListValues,omitempty"`
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// md5OfAttributes computes MD5OfMessageAttributes as AWS documents it: for
// every attribute in ascending name order, the 4-byte big-endian length and
// bytes of the name, then of the data type, then one transport byte (1 for
// String and Number, 2 for Binary), then the length and bytes of the value.
// It returns "" for no attributes.
func md5OfAttributes(attrs map[string]attrValue) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	slices.Sort(names)
	var buf []byte
	put := func(b []byte) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
		buf = append(buf, b...)
	}
	for _, n := range names {
		a := attrs[n]
		put([]byte(n))
		put([]byte(a.DataType))
		if baseType(a.DataType) == "Binary" {
			buf = append(buf, 2)
			put(a.BinaryValue)
		} else {
			buf = append(buf, 1)
			var v string
			if a.StringValue != nil {
				v = *a.StringValue
			}
			put([]byte(v))
		}
	}
	return md5Hex(buf)
}
