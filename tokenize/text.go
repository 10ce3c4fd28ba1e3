package tokenize

import (
	"errors"
	"regexp"
	"strings"
)

// spanSIV returns the AES-SIV keys for a span of type typ found in free
// text, whose associated data is domain || 0x00 || typ.
func (o *fieldOp) spanSIV(typ string) *sivDomain {
	return o.spanKeys[typ]
}

// scanText replaces the PII spans of free text: "<TYPE:token>" for
// deterministic and hash spans, "<TYPE>" for redacted ones and for
// credentials, which are always redacted.
func (o *fieldOp) scanText(v string) (string, error) {
	spans := findSpans(v, o.detectors)
	if len(spans) == 0 {
		return v, nil
	}
	var b strings.Builder
	b.Grow(len(v) + 40*len(spans))
	last := 0
	for _, s := range spans {
		b.WriteString(v[last:s.start])
		last = s.end
		b.WriteByte('<')
		b.WriteString(s.d.typ)
		if !s.d.credential {
			switch o.spanOp {
			case OpDeterministic:
				tok, err := o.deterministic(v[s.start:s.end], o.spanSIV(s.d.typ))
				if err != nil {
					return "", err
				}
				b.WriteByte(':')
				b.WriteString(tok)
			case OpHash:
				b.WriteByte(':')
				b.WriteString(o.hash(s.d.typ + "\x00" + v[s.start:s.end]))
			}
		}
		b.WriteByte('>')
	}
	b.WriteString(v[last:])
	return b.String(), nil
}

var spanTokenRE = regexp.MustCompile(`<([A-Z_]{2,32}):([A-Za-z0-9_-]{28,})>`)

// unscanText puts back the spans that scanText replaced with deterministic
// tokens. Text that only looks like such a span is left as it is.
func (o *fieldOp) unscanText(v string) (string, error) {
	if o.spanOp != OpDeterministic || !strings.Contains(v, "<") {
		return v, nil
	}
	var firstErr error
	out := spanTokenRE.ReplaceAllStringFunc(v, func(m string) string {
		sub := spanTokenRE.FindStringSubmatch(m)
		d := o.spanSIV(sub[1])
		if d == nil {
			return m
		}
		pt, err := o.undeterministic(sub[2], d)
		if err != nil {
			if !errors.Is(err, ErrToken) && firstErr == nil {
				firstErr = err
			}
			return m
		}
		return pt
	})
	return out, firstErr
}
