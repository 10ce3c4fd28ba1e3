package tokenize

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Digits alone say little: ten digits are a phone number, an order number
// or a timestamp, sixteen a card or an order id that carries a Luhn check
// digit. These functions judge a candidate by the text around it, as a
// reader does.

// isWordByte reports whether c joins a token: a letter, digit or _.
func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf
}

// standsAlone reports whether text[s:e] is a token of its own rather than
// part of a longer one: not touching a letter or digit, and not joined by
// '-', '.' or '/' to one (a UUID's groups, a version's parts, an invoice
// number's digits). Characters in after may follow it (an IP address's
// ":port").
func standsAlone(text string, s, e int, after string) bool {
	if s > 0 {
		c := text[s-1]
		if isWordByte(c) || strings.IndexByte("-./", c) >= 0 && s > 1 && isWordByte(text[s-2]) {
			return false
		}
	}
	if e < len(text) {
		c := text[e]
		if isWordByte(c) {
			return false
		}
		if strings.IndexByte("-./:", c) >= 0 && e+1 < len(text) && isWordByte(text[e+1]) && strings.IndexByte(after, c) < 0 {
			return false
		}
	}
	return true
}

// idWords name numbers that are not personal data: a number after them is
// an order, a ticket, a version.
var idWords = map[string]bool{
	"order": true, "orders": true, "ord": true, "invoice": true, "inv": true, "ref": true, "reference": true,
	"tracking": true, "track": true, "ticket": true, "case": true, "sku": true, "part": true, "model": true,
	"serial": true, "sn": true, "po": true, "isbn": true, "build": true, "version": true, "release": true,
	"ver": true, "v": true, "commit": true, "object": true, "txn": true, "transaction": true,
	"confirmation": true, "shipment": true, "ups": true, "fedex": true, "usps": true, "dhl": true,
	"account": true, "acct": true, "routing": true, "aba": true, "swift": true, "bic": true, "sort": true, "request": true, "trace": true, "session": true, "item": true, "product": true, "batch": true, "lot": true,
}

// fillerWords may stand between an id word and its number: "order no. 12",
// "tracking number 12", "order id: 12".
var fillerWords = map[string]bool{"no": true, "nr": true, "number": true, "num": true, "id": true, "is": true, "code": true}

// wordBefore returns the word (letters) that ends just before text[:i],
// across at most three of " #:=._", lower-cased, and where it starts.
func wordBefore(text string, i int) (string, int) {
	j := i
	for j > 0 && i-j < 3 && strings.IndexByte(" \t#:=._", text[j-1]) >= 0 {
		j--
	}
	k := j
	for k > 0 {
		r, n := utf8.DecodeLastRuneInString(text[:k])
		if !unicode.IsLetter(r) {
			break
		}
		k -= n
	}
	return strings.ToLower(text[k:j]), k
}

// afterIDWord reports whether the number at text[s:] follows a word that
// says it is an identifier ("order #", "tracking number", "build").
func afterIDWord(text string, s int) bool {
	w, k := wordBefore(text, s)
	if fillerWords[w] {
		w, _ = wordBefore(text, k)
	}
	return idWords[w]
}

// cueBefore reports whether one of the three words before text[s:] (the
// same clause: "call me at", "my cell is", "SSN#") contains one of cues,
// ignoring case. Further back, a cue may be about another number: "call at
// 7:50, routing 021000021".
func cueBefore(text string, s int, cues ...string) bool {
	words := strings.Fields(strings.ToLower(text[max(0, s-40):s]))
	for _, w := range words[max(0, len(words)-3):] {
		for _, c := range cues {
			if strings.Contains(w, c) {
				return true
			}
		}
	}
	return false
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// phoneIn judges a phone number candidate: bare digits only where the
// text speaks of a phone, never inside a longer token or after an id word.
func phoneIn(text string, s, e int) bool {
	if !standsAlone(text, s, e, "") || afterIDWord(text, s) {
		return false
	}
	if s >= 2 && text[s-1] == ' ' && text[s-2] >= '0' && text[s-2] <= '9' {
		// The tail of a longer run of digit groups ("UPS 2174 0018 3700"):
		// had the run been a phone number, it would have matched whole.
		return false
	}
	if allDigits(text[s:e]) {
		return cueBefore(text, s, "call", "phone", "tel", "mobile", "cell", "text", "sms", "whatsapp", "fax", "reach", "contact", "dial", "number")
	}
	return true
}

// ssnIn judges an SSN candidate; nine bare digits need "SSN" or "social
// security" before them.
func ssnIn(text string, s, e int) bool {
	if !standsAlone(text, s, e, "") || afterIDWord(text, s) {
		return false
	}
	if allDigits(text[s:e]) {
		return cueBefore(text, s, "ssn", "social", "security", "ss#")
	}
	return true
}

// ipIn judges an IP address candidate: not part of a longer dotted number
// or after "version" or "build"; a port may follow.
func ipIn(text string, s, e int) bool {
	return standsAlone(text, s, e, ":") && !afterIDWord(text, s)
}
