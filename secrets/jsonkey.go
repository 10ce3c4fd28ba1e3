package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrKey is wrapped by the errors of selecting a JSON key in a value. Those
// errors name the key and what was found in its place (an object, a
// string...), never any part of the value.
var ErrKey = errors.New("JSON key not selectable")

// selectKey returns the member of the JSON value v at path: a string member
// as it is, any other member as its compact JSON text.
func selectKey(v string, path []string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	var doc any
	// The decoder's own errors quote characters of the input: never pass
	// them on.
	if err := dec.Decode(&doc); err != nil {
		return "", fmt.Errorf("%w: the value is not JSON", ErrKey)
	}
	if dec.More() {
		return "", fmt.Errorf("%w: the value has data after its JSON", ErrKey)
	}
	cur := doc
	for i, seg := range path {
		at := joinKey(path[:i+1])
		switch c := cur.(type) {
		case map[string]any:
			m, ok := c[seg]
			if !ok {
				return "", fmt.Errorf("%w: no key %q in the value", ErrKey, at)
			}
			cur = m
		case []any:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || strconv.Itoa(n) != seg {
				return "", fmt.Errorf("%w: %q: the value there is an array, and %q is not an index", ErrKey, joinKey(path[:i]), seg)
			}
			if n >= len(c) {
				return "", fmt.Errorf("%w: no key %q in the value (the array has %d elements)", ErrKey, at, len(c))
			}
			cur = c[n]
		default:
			where := "the value"
			if i > 0 {
				where = fmt.Sprintf("%q", joinKey(path[:i]))
			}
			return "", fmt.Errorf("%w: %s is %s, not an object", ErrKey, where, kind(cur))
		}
	}
	switch c := cur.(type) {
	case string:
		return c, nil
	case nil:
		return "", fmt.Errorf("%w: key %q is null", ErrKey, joinKey(path))
	default:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(c); err != nil {
			return "", fmt.Errorf("%w: key %q cannot be re-encoded", ErrKey, joinKey(path))
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	}
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case []any:
		return "an array"
	}
	return "an object"
}
