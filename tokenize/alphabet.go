package tokenize

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Named alphabets for fpe, each in numeral order.
var namedAlphabets = map[string]string{
	"digits":      "0123456789",
	"lower":       "abcdefghijklmnopqrstuvwxyz",
	"upper":       "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
	"alpha":       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
	"alnum":       "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
	"alnum-lower": "0123456789abcdefghijklmnopqrstuvwxyz",
	"alnum-upper": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
	"hex":         "0123456789abcdef",
}

// An alphabet maps characters to FF1 numerals and back.
type alphabet struct {
	name  string
	runes []rune
	ascii [128]int32 // numeral+1 of an ASCII character; 0 if not in the alphabet
	other map[rune]uint16
}

func parseAlphabet(spec string) (*alphabet, error) {
	chars, ok := namedAlphabets[spec]
	if !ok {
		c, found := strings.CutPrefix(spec, "chars:")
		if !found {
			return nil, fmt.Errorf("unknown alphabet %q: want digits, lower, upper, alpha, alnum, alnum-lower, alnum-upper, hex, or chars:<characters>", spec)
		}
		chars = c
	}
	if !utf8.ValidString(chars) {
		return nil, fmt.Errorf("alphabet %q is not valid UTF-8", spec)
	}
	a := &alphabet{name: spec, runes: []rune(chars)}
	if len(a.runes) < 2 || len(a.runes) > 1<<16 {
		return nil, fmt.Errorf("alphabet %q has %d characters; it needs 2 to 65536", spec, len(a.runes))
	}
	for i, r := range a.runes {
		if _, dup := a.index(r); dup {
			return nil, fmt.Errorf("alphabet %q has %q twice", spec, r)
		}
		if r < 128 {
			a.ascii[r] = int32(i) + 1
		} else {
			if a.other == nil {
				a.other = map[rune]uint16{}
			}
			a.other[r] = uint16(i)
		}
	}
	return a, nil
}

func (a *alphabet) radix() int { return len(a.runes) }

// index returns the numeral of r.
func (a *alphabet) index(r rune) (uint16, bool) {
	if r >= 0 && r < 128 {
		n := a.ascii[r]
		return uint16(n - 1), n != 0
	}
	n, ok := a.other[r]
	return n, ok
}

// A runeSet is a small set of characters (separators).
type runeSet struct {
	ascii [128]bool
	other map[rune]bool
}

func newRuneSet(s string) *runeSet {
	rs := &runeSet{}
	for _, r := range s {
		if r >= 0 && r < 128 {
			rs.ascii[r] = true
		} else {
			if rs.other == nil {
				rs.other = map[rune]bool{}
			}
			rs.other[r] = true
		}
	}
	return rs
}

func (s *runeSet) has(r rune) bool {
	if r >= 0 && r < 128 {
		return s.ascii[r]
	}
	return s.other[r]
}
