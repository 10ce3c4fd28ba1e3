package tokenize

import (
	"iter"
	"math/big"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// PII types the scanner reports, named as Microsoft Presidio names them.
const (
	TypeEmail       = "EMAIL_ADDRESS"
	TypePhone       = "PHONE_NUMBER"
	TypeSSN         = "US_SSN"
	TypeCard        = "CREDIT_CARD"
	TypeIBAN        = "IBAN_CODE"
	TypeIP          = "IP_ADDRESS"
	TypeDateOfBirth = "DATE_OF_BIRTH"
	TypeAWSKeyID    = "AWS_ACCESS_KEY_ID"
	TypeAWSSecret   = "AWS_SECRET_ACCESS_KEY"
	TypePrivateKey  = "PRIVATE_KEY"
	TypeBearerToken = "BEARER_TOKEN"
)

// A detector finds one PII type in text: a regular expression proposes
// candidates and a validator (checksum, ranges) keeps the real ones.
type detector struct {
	typ   string
	re    *regexp.Regexp
	group int // submatch holding the value; 0 for the whole match
	valid func(string) bool
	// validIn, if set, judges the candidate text[start:end] by what
	// surrounds it: digits inside a UUID or after "order #" are not a
	// phone or card number.
	validIn func(text string, start, end int) bool
	// shrink: when the match fails the checks, try it without its last
	// space-separated groups (an IBAN's regular expression takes a word
	// that follows it for its last group).
	shrink bool
	// need, if set, is a cheap test that text may hold the type (an email
	// needs an @); the expression runs only where it passes.
	need func(text string) bool
	// chars, if set, are all the bytes a match can hold: the expression
	// runs only on the runs of them that hold minDigits digits, not over
	// the whole text (most of a note is words).
	chars      string
	minDigits  int
	credential bool // never kept in any form: always redacted in text
}

// longest compiles a leftmost-longest expression: "+1 (415) 555-0134" is
// found whole rather than from its first alternative that matches.
func longest(expr string) *regexp.Regexp {
	re := regexp.MustCompile(expr)
	re.Longest()
	return re
}

// detectors are the text detectors, in order of precedence; compiled on
// first use, so that a program that never scans text does not pay for
// their expressions when it starts.
var detectors = sync.OnceValue(func() []*detector {
	return []*detector{
		{typ: TypePrivateKey, credential: true, need: func(t string) bool { return strings.Contains(t, "PRIVATE KEY") },
			re: regexp.MustCompile(`-----BEGIN ((?:RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----[\s\S]*?-----END ((?:RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----|-----BEGIN ((?:RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----`)},
		{typ: TypeAWSKeyID, credential: true, need: func(t string) bool { return strings.Contains(t, "A") },
			re: regexp.MustCompile(`\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z2-7]{16}\b`)},
		{typ: TypeAWSSecret, credential: true, group: 1, need: func(t string) bool { return containsFold(t, "aws") },
			re:    regexp.MustCompile(`(?i)aws.{0,20}?(?:secret|private).{0,20}?[=:]\s*["']?([A-Za-z0-9/+]{40})\b`),
			valid: looksRandom},
		{typ: TypeBearerToken, credential: true, need: func(t string) bool { return strings.Contains(t, "eyJ") || containsFold(t, "bearer") },
			re: regexp.MustCompile(`(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{16,}=*|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)},
		{typ: TypeEmail, need: func(t string) bool { return strings.IndexByte(t, '@') >= 0 },
			re:    regexp.MustCompile(`\b[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b`),
			valid: func(s string) bool { return !strings.Contains(s, "..") }},
		{typ: TypeIBAN, shrink: true, chars: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ", minDigits: 2,
			re:    regexp.MustCompile(`\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b`),
			valid: validIBAN},
		{typ: TypeSSN, chars: "0123456789 -", minDigits: 9,
			// Nine bare digits are an SSN only where the text says so.
			re:      regexp.MustCompile(`\b[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}\b|\b[0-9]{9}\b`),
			valid:   validSSN,
			validIn: ssnIn},
		{typ: TypeCard, chars: "0123456789 -", minDigits: 13,
			re:      regexp.MustCompile(`\b[0-9](?:[ -]?[0-9]){12,18}\b`),
			valid:   validCard,
			validIn: func(text string, s, e int) bool { return standsAlone(text, s, e, "") && !afterIDWord(text, s) },
		},
		{typ: TypeIP, chars: "0123456789abcdefABCDEF:.", minDigits: 1,
			re:      longest(`\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b|(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b)?(?:%[0-9A-Za-z]+)?`),
			valid:   validIP,
			validIn: ipIn},
		{typ: TypePhone, chars: "0123456789 +()./-", minDigits: 8,
			re:      longest(phonePattern),
			valid:   validPhone,
			validIn: phoneIn},
	}
})

// phonePattern proposes phone numbers: North American numbers with an
// optional +1 or 1- (separators required: bare digits are an alternative
// of their own), international numbers after a + or 00, and national numbers
// with a trunk 0 (British, French and German ways of grouping them).
const phonePattern = `(?:\+1[ .-]?|\b1[ .-])?(?:\([2-9][0-9]{2}\) ?|\b[2-9][0-9]{2}[ ./-])[2-9][0-9]{2}[ .-][0-9]{4}\b` +
	`|(?:\+|\b00)[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,5}\)?){1,6}\b` +
	`|\b0[1-9][0-9]{1,4}[ .-]?[0-9]{3,4}[ .-]?[0-9]{3,4}\b` +
	`|\b0[1-9](?:[ .][0-9]{2}){4}\b` +
	`|\b1?[2-9][0-9]{2}[2-9][0-9]{6}\b`

// textDetectorNames lists the detectors a scan field may name.
func textDetectorNames() []string {
	var names []string
	for _, d := range detectors() {
		names = append(names, d.typ)
	}
	return names
}

func isTextDetector(name string) bool {
	return slices.Contains(textDetectorNames(), strings.ToUpper(name))
}

// textDetectors returns the named detectors, or all of them.
func textDetectors(names []string) []*detector {
	if len(names) == 0 {
		return detectors()
	}
	var out []*detector
	for _, d := range detectors() {
		for _, n := range names {
			if strings.EqualFold(n, d.typ) {
				out = append(out, d)
			}
		}
	}
	return out
}

// A span is one PII value found in text.
type span struct {
	start, end int
	d          *detector
}

// findSpans returns the non-overlapping PII spans of text, in order. Where
// two detectors overlap, the one listed first in detectors wins, then the
// earlier and longer match.
func findSpans(text string, ds []*detector) []span {
	var all []span
	for _, d := range ds {
		if d.need != nil && !d.need(text) {
			continue
		}
		var ms [][]int
		if d.chars == "" {
			ms = d.re.FindAllStringSubmatchIndex(text, -1)
		} else {
			// Every match lies inside a run of d.chars: the text around it
			// is judged by validIn, which sees the whole text.
			for rs, re := range runsOf(text, d.chars, d.minDigits) {
				for _, m := range d.re.FindAllStringSubmatchIndex(text[rs:re], -1) {
					for i := range m {
						if m[i] >= 0 {
							m[i] += rs
						}
					}
					ms = append(ms, m)
				}
			}
		}
		for _, m := range ms {
			s, e := m[2*d.group], m[2*d.group+1]
			if s < 0 {
				continue
			}
			for d.valid != nil && !d.valid(text[s:e]) {
				i := strings.LastIndexByte(text[s:e], ' ')
				if !d.shrink || i <= 0 {
					e = -1
					break
				}
				e = s + i
			}
			if e < 0 || d.validIn != nil && !d.validIn(text, s, e) {
				continue
			}
			all = append(all, span{s, e, d})
		}
	}
	if len(all) == 0 {
		return nil
	}
	rank := func(d *detector) int { return slices.Index(detectors(), d) }
	slices.SortStableFunc(all, func(a, b span) int {
		if a.start != b.start {
			return a.start - b.start
		}
		if rank(a.d) != rank(b.d) {
			return rank(a.d) - rank(b.d)
		}
		return (b.end - b.start) - (a.end - a.start)
	})
	out := all[:0:0]
	for _, s := range all {
		if n := len(out); n > 0 && s.start < out[n-1].end {
			// Overlap: keep the higher-ranked detector's span.
			if rank(s.d) < rank(out[n-1].d) {
				out[n-1] = s
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// runsOf yields the bounds of the maximal runs of bytes in chars that hold
// at least minDigits ASCII digits.
func runsOf(text, chars string, minDigits int) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		start, digits := -1, 0
		for i := 0; i <= len(text); i++ {
			if i < len(text) && strings.IndexByte(chars, text[i]) >= 0 {
				if start < 0 {
					start, digits = i, 0
				}
				if text[i] >= '0' && text[i] <= '9' {
					digits++
				}
				continue
			}
			if start >= 0 && digits >= minDigits && !yield(start, i) {
				return
			}
			start = -1
		}
	}
}

// containsFold reports whether s contains the lower-case ASCII word w,
// ignoring case.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i]|0x20 == w[0] && strings.EqualFold(s[i:i+len(w)], w) {
			return true
		}
	}
	return false
}

// digitsOf returns the ASCII digits of s.
func digitsOf(s string) string {
	var b strings.Builder
	for i := range len(s) {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// validSSN applies the SSA's rules: area 000, 666 and 900-999, group 00 and
// serial 0000 are never issued; two numbers from advertisements are refused.
func validSSN(s string) bool {
	d := digitsOf(s)
	if len(d) != 9 {
		return false
	}
	area, group, serial := d[:3], d[3:5], d[5:]
	switch {
	case area == "000" || area == "666" || area[0] == '9':
		return false
	case group == "00" || serial == "0000":
		return false
	case d == "078051120" || d == "219099999" || d == "123456789":
		return false
	}
	return true
}

// luhn reports whether the digit string passes the Luhn check.
func luhn(d string) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if double {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		double = !double
	}
	return sum%10 == 0
}

// cardIssuer returns the issuer of a card number by its leading digits and
// length, or "" when no issuer uses them.
func cardIssuer(d string) string {
	n := len(d)
	p := func(k int) int {
		v := 0
		for i := 0; i < k && i < n; i++ {
			v = v*10 + int(d[i]-'0')
		}
		return v
	}
	switch {
	case d[0] == '4' && (n == 13 || n == 16 || n == 19):
		return "visa"
	case (p(2) >= 51 && p(2) <= 55 || p(4) >= 2221 && p(4) <= 2720) && n == 16:
		return "mastercard"
	case (p(2) == 34 || p(2) == 37) && n == 15:
		return "amex"
	case (p(4) == 6011 || p(3) >= 644 && p(3) <= 649 || p(2) == 65) && n >= 16 && n <= 19:
		return "discover"
	case p(4) >= 3528 && p(4) <= 3589 && n >= 16 && n <= 19:
		return "jcb"
	case (p(3) >= 300 && p(3) <= 305 || p(2) == 36 || p(2) == 38 || p(2) == 39) && n >= 14 && n <= 19:
		return "diners"
	case p(2) == 62 && n >= 16 && n <= 19:
		return "unionpay"
	}
	return ""
}

// validCard requires 13 to 19 digits, a known issuer range and the Luhn
// check: a Luhn-valid 13-digit millisecond timestamp starts with 1, which
// no issuer uses.
func validCard(s string) bool {
	d := digitsOf(s)
	if len(d) < 13 || len(d) > 19 || strings.Count(d, d[:1]) == len(d) {
		return false
	}
	return cardIssuer(d) != "" && luhn(d)
}

// ibanLengths are the IBAN lengths of the countries that use them (SWIFT
// IBAN registry).
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
	"CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
	"FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
	"HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
	"LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27,
	"MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24,
	"RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23,
	"TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

// validIBAN checks the country's length and the ISO 7064 mod-97 check.
func validIBAN(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	if len(s) < 15 || ibanLengths[s[:2]] != len(s) {
		return false
	}
	r := s[4:] + s[:4]
	var num strings.Builder
	for i := range len(r) {
		c := r[i]
		switch {
		case c >= '0' && c <= '9':
			num.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			num.WriteString(big.NewInt(int64(c-'A') + 10).String())
		default:
			return false
		}
	}
	n, ok := new(big.Int).SetString(num.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

// validIP accepts dotted IPv4 and IPv6 addresses (not versions or times).
func validIP(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	if a.Is4() {
		return strings.Count(s, ".") == 3 && !a.IsUnspecified()
	}
	return strings.Count(s, ":") >= 2 && !a.IsUnspecified() && !a.IsLoopback()
}

// validPhone wants 8 to 15 digits (E.164; after 00, its prefix for
// international calls), not all the same; a number
// that starts with 1 (country code 1, or the North American trunk 1) has
// exactly 11 digits with a valid area code and exchange, which keeps epoch
// timestamps (1 followed by 9 or 12 digits) out.
func validPhone(s string) bool {
	d := digitsOf(s)
	if strings.HasPrefix(strings.TrimSpace(s), "00") {
		d = d[2:] // the international prefix, instead of a +
	}
	if len(d) < 8 || len(d) > 15 || strings.Count(d, d[:1]) == len(d) {
		return false
	}
	if len(d) == 10 && !strings.HasPrefix(s, "+") && d[0] != '0' {
		return validNANP(d)
	}
	if d[0] == '1' {
		return len(d) == 11 && validNANP(d[1:])
	}
	return true
}

// validNANP reports whether ten digits are a North American number: area
// code and exchange start with 2 to 9.
func validNANP(d string) bool {
	return len(d) == 10 && d[0] >= '2' && d[3] >= '2'
}

// looksRandom wants a mix of upper case, lower case and digits, as a
// generated secret has.
func looksRandom(s string) bool {
	var up, lo, dig bool
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z':
			up = true
		case c >= 'a' && c <= 'z':
			lo = true
		case c >= '0' && c <= '9':
			dig = true
		}
	}
	return up && lo && dig
}

// dateLayouts are the layouts a date of birth is recognised in, the
// starter policy's choice first where two parse the same values.
var dateLayouts = []string{"2006-01-02", "01/02/2006", "02/01/2006", "1/2/2006", "2/1/2006", "2006/01/02",
	"02.01.2006", "2.1.2006", "Jan 2, 2006", "January 2, 2006", "2 Jan 2006", "2 January 2006", "02-Jan-2006",
	"20060102", "2006-01-02 15:04:05", time.RFC3339}

// plausibleBirthDate reports whether s is a date in layout between 1900
// and today.
func plausibleBirthDate(layout, s string) bool {
	t, err := time.Parse(layout, s)
	return err == nil && t.Year() >= 1900 && t.Before(time.Now())
}
