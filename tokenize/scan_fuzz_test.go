package tokenize

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// FuzzFindSpans runs the text detectors on arbitrary text. Whatever the
// text, nothing panics and the spans are in order, do not overlap, cut no
// UTF-8 character and each passes its detector's checks.
func FuzzFindSpans(f *testing.F) {
	seedsPresent(f, "FuzzFindSpans")
	f.Fuzz(func(t *testing.T, text string) {
		last := 0
		for _, s := range findSpans(text, detectors()) {
			if s.start < last || s.end <= s.start || s.end > len(text) {
				t.Fatalf("span [%d,%d) after %d in %q", s.start, s.end, last, text)
			}
			last = s.end
			v := text[s.start:s.end]
			if utf8.ValidString(text) && !utf8.ValidString(v) {
				t.Fatalf("span %q cuts a character", v)
			}
			if s.d.valid != nil && !s.d.valid(v) || s.d.validIn != nil && !s.d.validIn(text, s.start, s.end) {
				t.Fatalf("%s span %q fails its checks", s.d.typ, v)
			}
		}
	})
}

// FuzzScan scans arbitrary input as CSV and as JSON Lines: nothing panics,
// and a starter policy drafted from any report is valid.
func FuzzScan(f *testing.F) {
	seedsPresent(f, "FuzzScan")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []Format{FormatCSV, FormatJSONL} {
			rep, err := Scan(bytes.NewReader(data), ScanOptions{Format: format, SampleRecords: 50})
			if err != nil {
				continue
			}
			if p := rep.Policy(); len(p.Fields) > 0 {
				if err := p.Validate(); err != nil {
					t.Fatalf("starter policy from %q: %v\n%+v", data, err, p)
				}
			}
		}
	})
}
