package tokenize

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// jsonlFormat transforms JSON Lines records by path.
type jsonlFormat struct {
	t        *Tokenizer
	paths    map[string]*fieldOp // policy paths
	prefixes map[string]bool     // proper prefixes of policy paths
	entities []string            // date-shift entity paths
}

func (t *Tokenizer) newJSONL() *jsonlFormat {
	f := &jsonlFormat{t: t, paths: map[string]*fieldOp{}, prefixes: map[string]bool{}}
	for _, o := range t.ops {
		f.paths[o.f.Name] = o
		parts := strings.Split(o.f.Name, ".")
		for i := 1; i < len(parts); i++ {
			f.prefixes[strings.Join(parts[:i], ".")] = true
		}
		if o.f.Op == OpDateShift && !contains(f.entities, o.f.Entity) {
			f.entities = append(f.entities, o.f.Entity)
		}
	}
	return f
}

func (f *jsonlFormat) split(data []byte, atEOF bool) int {
	if atEOF {
		return len(data)
	}
	return bytes.LastIndexByte(data, '\n') + 1
}

func (f *jsonlFormat) process(b *batch, detok, reject bool) {
	w := &jsonWalker{f: f, detok: detok, counts: f.t.newCounts()}
	defer f.t.report(b, w.counts)
	data := b.data
	line := b.line
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var raw []byte
		if i < 0 {
			raw, data = data, nil
		} else {
			raw, data = data[:i+1], data[i+1:]
		}
		thisLine := line
		line++
		// The record is the line without the whitespace around it (and a
		// byte order mark before the first); those bytes are copied as
		// they are, so a line comes out byte for byte but for its values.
		start := skipWS(raw, 0)
		if thisLine == 1 && bytes.HasPrefix(raw[start:], []byte(bom)) {
			start = skipWS(raw, start+len(bom))
		}
		end := len(raw)
		for end > start && isJSONSpace(raw[end-1]) {
			end--
		}
		if start == end {
			b.out = append(b.out, raw...) // a blank line is not a record
			continue
		}
		b.records++
		w.counts.startRecord()
		out, err := w.record(append(b.out, raw[:start]...), raw[start:end])
		if err != nil {
			w.counts.dropRecord()
			e := &RecordError{Record: b.records, Line: thisLine, Err: err}
			var fe *fieldError
			if errors.As(err, &fe) {
				e.Field, e.Err = fe.field, fe.err
			}
			if !b.fail(reject, raw, e) {
				return
			}
			continue
		}
		b.out = append(out, raw[end:]...)
	}
}

type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return fmt.Sprintf("field %q: %v", e.field, e.err) }
func (e *fieldError) Unwrap() error { return e.err }

// jsonWalker rewrites one JSON object at a time: the values at policy paths
// are replaced and every other byte is copied, whitespace included. A
// dropped member goes with the comma that separated it from the others.
type jsonWalker struct {
	f        *jsonlFormat
	detok    bool
	data     []byte
	path     []byte
	entities map[string]string
	counts   *valueCounts
	scratch  []byte
}

func (w *jsonWalker) record(out, rec []byte) ([]byte, error) {
	if rec[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if !validJSON(rec) {
		var v any
		err := json.Unmarshal(rec, &v)
		return nil, fmt.Errorf("%w: invalid JSON: %v", ErrMalformed, err)
	}
	w.data = rec
	w.path = w.path[:0]
	if len(w.f.entities) > 0 && !w.detok {
		if w.entities == nil {
			w.entities = map[string]string{}
		}
		clear(w.entities)
		for _, p := range w.f.entities {
			if v, ok := lookupJSON(rec, p); ok {
				w.entities[p] = v
			}
		}
	}
	out, _, err := w.value(out, 0)
	return out, err
}

func skipWS(d []byte, i int) int {
	for i < len(d) && isJSONSpace(d[i]) {
		i++
	}
	return i
}

// isJSONSpace reports whether c is whitespace between JSON tokens.
func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipValue returns the end of the (valid) JSON value at i.
func skipValue(d []byte, i int) int {
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		depth := 0
		for ; i < len(d); i++ {
			switch d[i] {
			case '"':
				i = skipString(d, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default:
		for i < len(d) && !strings.ContainsRune(",}] \t\r\n", rune(d[i])) {
			i++
		}
		return i
	}
}

// skipString returns the end of the string whose opening quote is at i.
func skipString(d []byte, i int) int {
	for i++; i < len(d); i++ {
		switch d[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// decodeString returns the value of the JSON string d (quotes included).
func decodeString(d []byte) (string, error) {
	if bytes.IndexByte(d, '\\') < 0 && utf8.Valid(d) {
		return string(d[1 : len(d)-1]), nil
	}
	var s string
	err := json.Unmarshal(d, &s)
	return s, err
}

// appendString appends s as a JSON string.
func appendString(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			out = append(out, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				out = append(out, '\\', c)
			case '\n':
				out = append(out, '\\', 'n')
			case '\r':
				out = append(out, '\\', 'r')
			case '\t':
				out = append(out, '\\', 't')
			default:
				out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, `\ufffd`...)
		} else {
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return append(out, '"')
}

// value rewrites the value that starts at i, at the walker's current path.
func (w *jsonWalker) value(out []byte, i int) ([]byte, int, error) {
	var o *fieldOp
	if len(w.path) > 0 {
		o = w.f.paths[string(w.path)]
	}
	return w.member(out, i, o)
}

// member is value for a path whose policy field, o or nil, is known.
func (w *jsonWalker) member(out []byte, i int, o *fieldOp) ([]byte, int, error) {
	d := w.data
	if o != nil {
		return w.leaf(out, i, o)
	}
	if c := d[i]; (c == '{' || c == '[') && (len(w.path) == 0 || w.f.prefixes[string(w.path)]) {
		if c == '{' {
			return w.object(out, i)
		}
		return w.array(out, i, nil)
	}
	end := skipValue(d, i)
	return append(out, d[i:end]...), end, nil
}

// object rewrites the object at i. The bytes between its members (the
// whitespace, the commas) are copied; a dropped member is left out with
// the comma before it, or, when no member was written before it, with the
// comma after it.
func (w *jsonWalker) object(out []byte, i int) ([]byte, int, error) {
	d := w.data
	out = append(out, '{')
	i++
	kept := false // a member was written
	base := len(w.path)
	for {
		// i is just after the '{' or after a member's value.
		j := skipWS(d, i)
		if d[j] == '}' {
			return append(out, d[i:j+1]...), j + 1, nil
		}
		comma := j
		if d[j] == ',' {
			j = skipWS(d, j+1)
		}
		kend := skipString(d, j)
		rawKey := d[j:kend]
		if base > 0 {
			w.path = append(w.path, '.')
		}
		if key := rawKey[1 : len(rawKey)-1]; bytes.IndexByte(key, '\\') < 0 && utf8.Valid(key) {
			w.path = append(w.path, key...)
		} else {
			key, err := decodeString(rawKey)
			if err != nil {
				return nil, 0, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			w.path = append(w.path, key...)
		}
		v := skipWS(d, skipWS(d, kend)+1) // past the ':'
		o := w.f.paths[string(w.path)]
		if o != nil && o.f.Op == OpRedact && o.f.Drop && !w.detok {
			i = skipValue(d, v)
		} else {
			if kept || d[comma] != ',' {
				out = append(out, d[i:v]...)
			} else {
				// The members before were dropped: so is this comma.
				out = append(out, d[i:comma]...)
				out = append(out, d[comma+1:v]...)
			}
			kept = true
			var err error
			if out, i, err = w.member(out, v, o); err != nil {
				return nil, 0, err
			}
		}
		w.path = w.path[:base]
	}
}

// array rewrites the array at i: by leaf when o is set, else by value. The
// bytes between its elements are copied.
func (w *jsonWalker) array(out []byte, i int, o *fieldOp) ([]byte, int, error) {
	d := w.data
	out = append(out, '[')
	i++
	var err error
	for {
		// i is just after the '[' or after an element.
		j := skipWS(d, i)
		if d[j] == ']' {
			return append(out, d[i:j+1]...), j + 1, nil
		}
		if d[j] == ',' {
			j = skipWS(d, j+1)
		}
		out = append(out, d[i:j]...)
		if o != nil {
			out, i, err = w.leaf(out, j, o)
		} else {
			out, i, err = w.value(out, j)
		}
		if err != nil {
			return nil, 0, err
		}
	}
}

// leaf transforms the value at i with o: a string, or a number or boolean
// (taken as its text, written back as a string), or each element of an
// array. null stays null; an object is an error.
func (w *jsonWalker) leaf(out []byte, i int, o *fieldOp) ([]byte, int, error) {
	d := w.data
	var v []byte
	var end int
	switch d[i] {
	case '[':
		return w.array(out, i, o)
	case '{':
		return nil, 0, &fieldError{o.f.Name, fmt.Errorf("%w: an object, not a value", ErrValue)}
	case 'n':
		end = skipValue(d, i)
		return append(out, d[i:end]...), end, nil
	case '"':
		end = skipString(d, i)
		v = d[i+1 : end-1]
		if bytes.IndexByte(v, '\\') >= 0 || !utf8.Valid(v) {
			s, err := decodeString(d[i:end])
			if err != nil {
				return nil, 0, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			v = append(w.scratch[:0], s...)
			w.scratch = v
		}
	default:
		end = skipValue(d, i)
		v = d[i:end]
	}
	if len(v) == 0 {
		return append(out, d[i:end]...), end, nil
	}
	var err error
	out = append(out, '"')
	at := len(out)
	if w.detok {
		var s string
		s, err = o.detokenize(string(v))
		out = append(out, s...)
	} else {
		var entity []byte
		if o.f.Op == OpDateShift {
			entity = []byte(w.entities[o.f.Entity])
		}
		out, err = o.appendToken(out, v, entity, w.counts)
	}
	if err != nil {
		return nil, 0, &fieldError{o.f.Name, err}
	}
	if !jsonPlain(out[at:]) {
		// Escape the token: copy it out of the way first.
		tok := string(out[at:])
		out = appendString(out[:at-1], tok)
		return out, end, nil
	}
	return append(out, '"'), end, nil
}

// jsonPlain reports whether b is printable ASCII that needs no escaping
// in a JSON string.
func jsonPlain(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// lookupJSON returns the first scalar value at path in the (valid) JSON
// object rec, as text, looking through arrays.
func lookupJSON(rec []byte, path string) (string, bool) {
	return lookupAt(rec, skipWS(rec, 0), strings.Split(path, "."))
}

func lookupAt(d []byte, i int, parts []string) (string, bool) {
	i = skipWS(d, i)
	if len(parts) == 0 && d[i] != '[' {
		switch d[i] {
		case '"':
			s, err := decodeString(d[i:skipString(d, i)])
			return s, err == nil
		case '{', 'n':
			return "", false
		default:
			return string(d[i:skipValue(d, i)]), true
		}
	}
	switch {
	case d[i] == '{' && len(parts) > 0:
		i++
		for {
			i = skipWS(d, i)
			if d[i] == '}' {
				return "", false
			}
			if d[i] == ',' {
				i = skipWS(d, i+1)
			}
			kend := skipString(d, i)
			key, _ := decodeString(d[i:kend])
			i = skipWS(d, kend) + 1
			if key == parts[0] {
				if v, ok := lookupAt(d, i, parts[1:]); ok {
					return v, true
				}
			}
			i = skipValue(d, skipWS(d, i))
		}
	case d[i] == '[':
		i++
		for {
			i = skipWS(d, i)
			if d[i] == ']' {
				return "", false
			}
			if d[i] == ',' {
				i = skipWS(d, i+1)
			}
			if v, ok := lookupAt(d, i, parts); ok {
				return v, true
			}
			i = skipValue(d, skipWS(d, i))
		}
	}
	return "", false
}
