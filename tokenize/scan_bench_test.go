package tokenize

import (
	"bytes"
	"encoding/csv"
	"testing"
)

// BenchmarkFindSpans runs the text detectors over the evaluation set's
// notes, as the scan operation does on a free-text field.
func BenchmarkFindSpans(b *testing.B) {
	texts := evalTexts(1)
	n := 0
	for _, t := range texts {
		n += len(t.text)
	}
	loop(b, n, len(texts), func() {
		for _, t := range texts {
			findSpans(t.text, detectors())
		}
	})
}

// BenchmarkScan1000Records scans a CSV file of 1,000 records of ten of the
// evaluation set's columns, structured and free text.
func BenchmarkScan1000Records(b *testing.B) {
	cols := evalColumns(1)
	pick := []evalColumn{cols[0], cols[40], cols[80], cols[120], cols[160], cols[200], cols[240], cols[280], cols[325], cols[400]}
	var in bytes.Buffer
	w := csv.NewWriter(&in)
	rec := make([]string, len(pick))
	for i, c := range pick {
		rec[i] = c.name + string(rune('a'+i))
	}
	w.Write(rec)
	for r := range 1000 {
		for i, c := range pick {
			rec[i] = c.values[r%len(c.values)]
		}
		w.Write(rec)
	}
	w.Flush()
	loop(b, in.Len(), 1000, func() {
		if _, err := Scan(bytes.NewReader(in.Bytes()), ScanOptions{Format: FormatCSV}); err != nil {
			b.Fatal(err)
		}
	})
}
