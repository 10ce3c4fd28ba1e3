// Package header encodes and decodes the header of the AWS Encryption SDK
// message format (data-format/message-header.md in the specification),
// versions 1 and 2, under limits that keep hostile input from causing
// unbounded allocation.
package header

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"
)

// Errors wrapped by what Parse returns; the envelope package exports them.
var (
	ErrMalformed = errors.New("malformed message")
	ErrLimit     = errors.New("message exceeds a configured limit")
	ErrTruncated = errors.New("message truncated")
	// ErrAuthentication is shared by the header, the frames and the envelope.
	ErrAuthentication = errors.New("message authentication failed")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// SerializeContext encodes an encryption context as the specification's
// structures.md defines it: a pair count, then each key and value with a
// two-byte length, sorted by key bytes. An empty context encodes to no bytes
// at all.
func SerializeContext(ctx map[string]string) ([]byte, error) {
	if len(ctx) == 0 {
		return nil, nil
	}
	if len(ctx) > 0xFFFF {
		return nil, fmt.Errorf("encryption context has %d pairs, more than 65535", len(ctx))
	}
	keys := make([]string, 0, len(ctx))
	size := 2
	for k, v := range ctx {
		if len(k) > 0xFFFF || len(v) > 0xFFFF {
			return nil, fmt.Errorf("encryption context key %q or its value is longer than 65535 bytes", k)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("encryption context key %q or its value is not valid UTF-8", k)
		}
		keys = append(keys, k)
		size += 4 + len(k) + len(v)
	}
	if size > 0xFFFF {
		return nil, fmt.Errorf("encryption context serializes to %d bytes, more than 65535", size)
	}
	sort.Strings(keys) // Go compares strings bytewise, as the specification requires.
	b := make([]byte, 0, size)
	b = binary.BigEndian.AppendUint16(b, uint16(len(keys)))
	for _, k := range keys {
		b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(ctx[k])))
		b = append(b, ctx[k]...)
	}
	return b, nil
}

// ParseContext decodes a serialized encryption context. It accepts pairs in
// any order but refuses duplicate keys, invalid UTF-8 and trailing bytes.
func ParseContext(b []byte) (map[string]string, error) {
	ctx := map[string]string{}
	if len(b) == 0 {
		return ctx, nil
	}
	if len(b) < 2 {
		return nil, malformed("encryption context too short")
	}
	n := int(binary.BigEndian.Uint16(b))
	if n == 0 {
		return nil, malformed("encryption context with zero pairs must be empty")
	}
	b = b[2:]
	field := func() (string, error) {
		if len(b) < 2 {
			return "", malformed("encryption context truncated")
		}
		l := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+l {
			return "", malformed("encryption context truncated")
		}
		s := string(b[2 : 2+l])
		b = b[2+l:]
		if !utf8.ValidString(s) {
			return "", malformed("encryption context is not valid UTF-8")
		}
		return s, nil
	}
	for range n {
		k, err := field()
		if err != nil {
			return nil, err
		}
		v, err := field()
		if err != nil {
			return nil, err
		}
		if _, dup := ctx[k]; dup {
			return nil, malformed("encryption context repeats key %q", k)
		}
		ctx[k] = v
	}
	if len(b) != 0 {
		return nil, malformed("%d bytes after the encryption context", len(b))
	}
	return ctx, nil
}
