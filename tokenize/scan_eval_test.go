package tokenize

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

var (
	updateScanEval = flag.Bool("update-scan-eval", false, "rewrite the scanner's evaluation table in README.md")
	scanEvalSeed   = flag.Uint64("scan-eval-seed", 0, "measure the scanner on the evaluation set of this `seed` (to tune on) instead of the published one")
)

// evalSeed is the seed of the published evaluation. Tune the detectors on
// other seeds (-scan-eval-seed), so that the table measures data they were
// not fitted to.
const evalSeed = 2026

// evalTypes are the types measured, in the table's order.
var evalTypes = []string{TypeEmail, TypePhone, TypeSSN, TypeCard, TypeIBAN, TypeIP, TypeDateOfBirth, TypePerson}

// textTypes are the types found in free text.
var textTypes = []string{TypeEmail, TypePhone, TypeSSN, TypeCard, TypeIBAN, TypeIP}

type counts struct{ tp, fp, fn int }

func (c counts) precision() float64 { return float64(c.tp) / float64(max(c.tp+c.fp, 1)) }
func (c counts) recall() float64    { return float64(c.tp) / float64(max(c.tp+c.fn, 1)) }

type evalResult struct {
	columns, spans   map[string]*counts
	nColumns, nTexts int
	scanned, textPII int // free-text and mixed columns with PII: given scan / all
	leftAlone, negs  int // negative columns: not in the starter policy / all
}

func newCounts(types []string) map[string]*counts {
	m := map[string]*counts{}
	for _, t := range types {
		m[t] = &counts{}
	}
	return m
}

// scanColumn runs Scan on a one-column CSV file.
func scanColumn(t testing.TB, c evalColumn) *ScanReport {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{c.name})
	for _, v := range c.values {
		w.Write([]string{v})
	}
	w.Flush()
	rep, err := Scan(&b, ScanOptions{Format: FormatCSV})
	if err != nil {
		t.Fatalf("column %s: %v", c.name, err)
	}
	return rep
}

// runScanEval measures the scanner on the evaluation set: at column level
// a type is found when Scan reports it at medium confidence or above; in
// free text a span is found when a detector returns exactly the labelled
// span with its type (a span cut short leaves PII in the clear, so it
// counts as both a miss and a false hit).
func runScanEval(t testing.TB, seed uint64) *evalResult {
	res := &evalResult{columns: newCounts(evalTypes), spans: newCounts(textTypes)}
	logged := map[string]int{}
	logf := func(key, format string, args ...any) {
		if logged[key]++; logged[key] <= 3 {
			t.Logf(format, args...)
		}
	}
	for _, c := range evalColumns(seed) {
		res.nColumns++
		rep := scanColumn(t, c)
		found := map[string]bool{}
		for _, tr := range rep.Fields[0].Types {
			if tr.Level != "low" {
				found[tr.Type] = true
			}
		}
		for _, typ := range evalTypes {
			want := slices.Contains(c.types, typ)
			switch {
			case want && found[typ]:
				res.columns[typ].tp++
			case want:
				res.columns[typ].fn++
				logf("colfn"+typ, "column miss %s: %s column %q %q (%s)", typ, c.kind, c.name, c.values[:3], typesOf(rep))
			case found[typ]:
				res.columns[typ].fp++
				logf("colfp"+typ, "column false %s: %s column %q %q (%s)", typ, c.kind, c.name, c.values[:3], typesOf(rep))
			}
		}
		op := ""
		if f := rep.Policy().Fields; len(f) > 0 {
			op = f[0].Op
		}
		switch {
		case c.kind == "negative":
			res.negs++
			if op == "" {
				res.leftAlone++
			}
		case c.kind != "structured":
			res.textPII++
			if op == OpScan {
				res.scanned++
			} else {
				logf("notscan", "%s column %q with %v given %q", c.kind, c.name, c.types, op)
			}
		}
	}
	for _, tx := range evalTexts(seed) {
		res.nTexts++
		var got []labelledSpan
		for _, s := range findSpans(tx.text, detectors()) {
			if slices.Contains(textTypes, s.d.typ) {
				got = append(got, labelledSpan{s.start, s.end, s.d.typ})
			}
		}
		for _, s := range got {
			if slices.Contains(tx.spans, s) {
				res.spans[s.typ].tp++
			} else {
				res.spans[s.typ].fp++
				logf("spanfp"+s.typ, "false %s %q in %q", s.typ, tx.text[s.start:s.end], tx.text)
			}
		}
		for _, s := range tx.spans {
			if !slices.Contains(got, s) {
				res.spans[s.typ].fn++
				logf("spanfn"+s.typ, "missed %s %q in %q", s.typ, tx.text[s.start:s.end], tx.text)
			}
		}
	}
	return res
}

func typesOf(rep *ScanReport) string {
	var s []string
	for _, t := range rep.Fields[0].Types {
		s = append(s, fmt.Sprintf("%s %d/%d %.2f", t.Type, t.Matches, rep.Fields[0].Values, t.Confidence))
	}
	return strings.Join(s, ", ")
}

// table renders the result as the Markdown that README.md holds.
func (r *evalResult) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Columns (%d, of which %d hold no PII; found = confidence medium or high):\n\n", r.nColumns, r.negs)
	b.WriteString("| type | precision | recall | found right / wrongly / missed |\n| ---- | --------- | ------ | ------------------------------ |\n")
	for _, typ := range evalTypes {
		c := r.columns[typ]
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %d / %d / %d |\n", typ, c.precision(), c.recall(), c.tp, c.fp, c.fn)
	}
	fmt.Fprintf(&b, "\nStarter policy: %d of %d free-text and mixed columns holding PII get `scan`; %d of %d columns without PII are left out.\n",
		r.scanned, r.textPII, r.leftAlone, r.negs)
	fmt.Fprintf(&b, "\nSpans in free text (%d notes; a span counts only with its exact bounds):\n\n", r.nTexts)
	b.WriteString("| type | precision | recall | found right / wrongly / missed |\n| ---- | --------- | ------ | ------------------------------ |\n")
	for _, typ := range textTypes {
		c := r.spans[typ]
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %d / %d / %d |\n", typ, c.precision(), c.recall(), c.tp, c.fp, c.fn)
	}
	return b.String()
}

const (
	evalBegin = "<!-- scan-eval:begin (written by go test -run TestScanEvaluation -update-scan-eval) -->\n"
	evalEnd   = "<!-- scan-eval:end -->"
)

// TestScanEvaluation measures the scanner's precision and recall on the
// labelled evaluation set, checks that tokenize/README.md publishes those
// figures, and holds them to the targets: at column level 0.95 precision
// and 0.90 recall for every type but PERSON; in free text the same for the
// text types.
func TestScanEvaluation(t *testing.T) {
	if testing.Short() {
		t.Skip("the evaluation scans 600 columns and 3000 notes")
	}
	if *scanEvalSeed != 0 {
		t.Logf("seed %d:\n%s", *scanEvalSeed, runScanEval(t, *scanEvalSeed).table())
		return
	}
	res := runScanEval(t, evalSeed)
	table := res.table()
	t.Logf("\n%s", table)

	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(readme, []byte(evalBegin)), bytes.Index(readme, []byte(evalEnd))
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers of the scanner's table (%q ... %q)", evalBegin, evalEnd)
	}
	if published := string(readme[i+len(evalBegin) : j]); published != table {
		if *updateScanEval {
			out := slices.Concat(readme[:i+len(evalBegin)], []byte(table), readme[j:])
			if err := os.WriteFile("README.md", out, 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("README.md's scanner table differs from the measured one; run go test -run TestScanEvaluation -update-scan-eval ./tokenize and review the change")
		}
	}

	for _, typ := range evalTypes {
		if c := res.columns[typ]; typ != TypePerson && (c.precision() < 0.95 || c.recall() < 0.90) {
			t.Errorf("column level %s: precision %.2f, recall %.2f; want at least 0.95 and 0.90", typ, c.precision(), c.recall())
		}
	}
	for _, typ := range textTypes {
		if c := res.spans[typ]; c.precision() < 0.95 || c.recall() < 0.90 {
			t.Errorf("free-text %s spans: precision %.2f, recall %.2f; want at least 0.95 and 0.90", typ, c.precision(), c.recall())
		}
	}
}
