package tokenize

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

const customersCSV = `customer_id,name,email,phone,ssn,card_number,birth_date,notes
C-1,Ada Lovelace,ada@example.com,+44 20 7946 0958,123-45-6789,4111 1111 1111 1111,1990-03-01,"Prefers email: ada@example.com"
C-2,"Turing, Alan",alan@example.org,415-555-0132,987-65-4321,5500-0000-0000-0004,1985-12-24,"Multi-line
note with a ""quote"" and SSN 219-09-9998"
C-3,,,,,,,
`

func mustNew(t testing.TB, p *Policy) *Tokenizer {
	t.Helper()
	tk, err := New(testKeyset(t), p)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, s)
	}
	return recs
}

func TestCSVRoundTrip(t *testing.T) {
	tk := mustNew(t, customersPolicy(t))
	var tok bytes.Buffer
	st, err := tk.Tokenize(&tok, strings.NewReader(customersCSV), Options{Format: FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 3 || st.Rejected != 0 {
		t.Errorf("stats %+v", st)
	}
	in := readCSV(t, customersCSV)
	out := readCSV(t, tok.String())
	if len(out) != 4 || !equalStrings(out[0], in[0]) {
		t.Fatalf("output:\n%s", tok.String())
	}
	for _, leak := range []string{"Ada Lovelace", "ada@example.com", "123-45-6789", "4111 1111 1111 1111", "1990-03-01", "219-09-9998", "7946"} {
		if strings.Contains(tok.String(), leak) {
			t.Errorf("%q left in the output", leak)
		}
	}
	if out[1][0] != "C-1" || out[3][1] != "" {
		t.Errorf("untouched or empty fields changed: %q", out)
	}
	if !strings.HasSuffix(out[1][5], " 1111") {
		t.Errorf("card %q lost its last four", out[1][5])
	}

	var back bytes.Buffer
	if _, err := tk.Detokenize(&back, &tok, Options{Format: FormatCSV}); err != nil {
		t.Fatal(err)
	}
	got := readCSV(t, back.String())
	for i := range in {
		for j := range in[i] {
			want := in[i][j]
			switch in[0][j] {
			case "phone", "birth_date":
				want = out[i][j] // one-way
			}
			if got[i][j] != want {
				t.Errorf("record %d %s: detokenized %q, want %q", i, in[0][j], got[i][j], want)
			}
		}
	}
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

// TestStableAcrossRuns checks that the same value gets the same token in two
// files and runs, with different batch sizes and worker counts.
func TestStableAcrossRuns(t *testing.T) {
	tk := mustNew(t, customersPolicy(t))
	var a, b bytes.Buffer
	if _, err := tk.Tokenize(&a, strings.NewReader(customersCSV), Options{Format: FormatCSV}); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Tokenize(&b, iotest.OneByteReader(strings.NewReader(customersCSV)), Options{Format: FormatCSV, BatchSize: 1, Workers: 3}); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("two runs differ:\n%s\n%s", a.String(), b.String())
	}
}

// TestOrderKept tokenizes many small batches with many workers.
func TestOrderKept(t *testing.T) {
	p, _ := ParsePolicy([]byte(`{"version":1,"fields":[{"name":"v","op":"deterministic"}]}`))
	tk := mustNew(t, p)
	var in strings.Builder
	in.WriteString("i,v\n")
	for i := range 5000 {
		fmt.Fprintf(&in, "%d,value-%d\n", i, i)
	}
	for _, format := range []Format{FormatCSV, FormatJSONL} {
		src := in.String()
		if format == FormatJSONL {
			var j strings.Builder
			for i := range 5000 {
				fmt.Fprintf(&j, `{"i":%d,"v":"value-%d"}`+"\n", i, i)
			}
			src = j.String()
		}
		var tok, back bytes.Buffer
		st, err := tk.Tokenize(&tok, strings.NewReader(src), Options{Format: format, BatchSize: 100, Workers: 8})
		if err != nil {
			t.Fatal(err)
		}
		if st.Records != 5000 {
			t.Errorf("%s: %d records", format, st.Records)
		}
		if _, err := tk.Detokenize(&back, &tok, Options{Format: format, BatchSize: 333, Workers: 5}); err != nil {
			t.Fatal(err)
		}
		if back.String() != src {
			t.Errorf("%s: round trip differs", format)
		}
	}
}

func TestCSVErrors(t *testing.T) {
	tk := mustNew(t, customersPolicy(t))
	for _, c := range []struct {
		name, in  string
		record    int64
		line      int64
		field     string
		sentinel  error
		substring string
	}{
		{"fpe alphabet", customersCSV + "C-4,x,y,z,123-45-678X,,,\n", 4, 6, "ssn", ErrValue, "neither in alphabet"},
		{"field count", customersCSV + "C-4,x\n", 4, 6, "", ErrMalformed, "2 fields, the header has 8"},
		{"bare quote", "customer_id,name,email,phone,ssn,card_number,birth_date,notes\nC-1,a\"b,,,,,,\n", 1, 2, "", ErrMalformed, "quote"},
		{"bad date", customersCSV + "C-4,,,,,,1990-13-45,\n", 4, 6, "birth_date", ErrValue, "layout"},
	} {
		var out bytes.Buffer
		_, err := tk.Tokenize(&out, strings.NewReader(c.in), Options{Format: FormatCSV, BatchSize: 64})
		var re *RecordError
		if !errors.As(err, &re) || !errors.Is(err, c.sentinel) || re.Record != c.record || re.Line != c.line || re.Field != c.field || !strings.Contains(err.Error(), c.substring) {
			t.Errorf("%s: %v (%+v), want record %d line %d field %q %v %q", c.name, err, re, c.record, c.line, c.field, c.sentinel, c.substring)
		}
	}
	if _, err := tk.Tokenize(io.Discard, strings.NewReader("a,b\n1,2\n"), Options{Format: FormatCSV}); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), `"name"`) {
		t.Errorf("missing column: %v", err)
	}
	if _, err := tk.Tokenize(io.Discard, strings.NewReader(""), Options{Format: FormatCSV}); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty input: %v", err)
	}
}

func TestRejects(t *testing.T) {
	tk := mustNew(t, customersPolicy(t))
	in := customersCSV + "C-4,x,y,z,123-45-678X,,,\nC-5,x\nC-6,Grace Hopper,,,,,,\n"
	var out, rej bytes.Buffer
	var errs []string
	st, err := tk.Tokenize(&out, strings.NewReader(in), Options{Format: FormatCSV, Rejects: &rej,
		OnReject: func(e *RecordError) { errs = append(errs, e.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 6 || st.Rejected != 2 {
		t.Errorf("stats %+v", st)
	}
	wantRej := "customer_id,name,email,phone,ssn,card_number,birth_date,notes\nC-4,x,y,z,123-45-678X,,,\nC-5,x\n"
	if rej.String() != wantRej {
		t.Errorf("rejects:\n%s\nwant\n%s", rej.String(), wantRej)
	}
	if len(errs) != 2 || !strings.HasPrefix(errs[0], `record 4 (line 6), field "ssn"`) || !strings.HasPrefix(errs[1], "record 5 (line 7)") {
		t.Errorf("reject errors %q", errs)
	}
	if recs := readCSV(t, out.String()); len(recs) != 5 || recs[4][0] != "C-6" {
		t.Errorf("output kept %d records", len(recs))
	}
}

func TestCSVDrop(t *testing.T) {
	p, _ := ParsePolicy([]byte(`{"version":1,"fields":[{"name":"secret","op":"redact","drop":true},{"name":"n","op":"redact","replace":"X"}]}`))
	tk := mustNew(t, p)
	var out bytes.Buffer
	if _, err := tk.Tokenize(&out, strings.NewReader("a,secret,n\n1,s1,n1\n2,s2,n2\n"), Options{Format: FormatCSV}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "a,n\n1,X\n2,X\n" {
		t.Errorf("got %q", out.String())
	}
}

func TestJSONL(t *testing.T) {
	p, err := ParsePolicy([]byte(`{"version":1,"fields":[
		{"name":"customer.email","op":"deterministic","domain":"email"},
		{"name":"customer.ssn","op":"fpe","alphabet":"digits","separators":"-"},
		{"name":"orders.card","op":"mask"},
		{"name":"tags","op":"hash","length":8},
		{"name":"dob","op":"date-shift","entity":"customer.id"},
		{"name":"password","op":"redact","drop":true},
		{"name":"email","op":"deterministic","domain":"email"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tk := mustNew(t, p)
	in := `{"customer":{"id":"C-1","email":"ada@example.com","ssn":"123-45-6789"},"orders":[{"card":"4111111111111111","n":1},{"card":"5500000000000004"}],"tags":["a",7,true,null],"dob":"1990-03-01","password":"hunter2","keep":{"email":"x"},"n":1.5e3}
  {"email":"ada@example.com", "password": "p", "dob": null}

{"customer":{"id":"C-1"},"dob":"1990-03-11","note":"esc\"aped\u00e9"}
`
	var out bytes.Buffer
	st, err := tk.Tokenize(&out, strings.NewReader(in), Options{Format: FormatJSONL})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 3 {
		t.Errorf("%d records, want 3 (blank lines are not records)", st.Records)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 4 || lines[2] != "" {
		t.Fatalf("output (the blank line kept):\n%s", out.String())
	}
	lines = append(lines[:2], lines[3])
	var r1, r2, r3 map[string]any
	for i, r := range []*map[string]any{&r1, &r2, &r3} {
		if err := json.Unmarshal([]byte(lines[i]), r); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, lines[i])
		}
	}
	cust := r1["customer"].(map[string]any)
	if cust["id"] != "C-1" || cust["email"] == "ada@example.com" || cust["email"] != r2["email"] {
		t.Errorf("customer.email and email share a domain: %v / %v", cust["email"], r2["email"])
	}
	if s := cust["ssn"].(string); len(s) != 11 || s[3] != '-' || s == "123-45-6789" {
		t.Errorf("ssn %q", s)
	}
	orders := r1["orders"].([]any)
	if orders[0].(map[string]any)["card"] != "************1111" || orders[0].(map[string]any)["n"] != 1.0 {
		t.Errorf("orders %v", orders)
	}
	tags := r1["tags"].([]any)
	if len(tags) != 4 || len(tags[0].(string)) != 8 || len(tags[1].(string)) != 8 || tags[3] != nil {
		t.Errorf("tags %v", tags)
	}
	if _, ok := r1["password"]; ok {
		t.Error("password not dropped")
	}
	if _, ok := r2["password"]; ok {
		t.Error("password not dropped from line 2")
	}
	if r1["keep"].(map[string]any)["email"] != "x" || r1["n"] != 1500.0 {
		t.Errorf("untouched members changed: %v", r1)
	}
	if !strings.Contains(lines[0], `"n":1.5e3`) || !strings.Contains(lines[2], `"note":"esc\"aped\u00e9"`) {
		t.Errorf("untouched values not copied byte for byte:\n%s", out.String())
	}
	// One entity: a 10-day interval stays 10 days.
	d1, d3 := r1["dob"].(string), r3["dob"].(string)
	if d1 == "1990-03-01" || d1[:4] == "" || shiftDiff(t, d1, d3) != 10 {
		t.Errorf("dates %s %s", d1, d3)
	}

	var back bytes.Buffer
	if _, err := tk.Detokenize(&back, &out, Options{Format: FormatJSONL}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(back.String(), `"email":"ada@example.com","ssn":"123-45-6789"`) {
		t.Errorf("detokenized:\n%s", back.String())
	}
}

func shiftDiff(t *testing.T, a, b string) int {
	ta, err1 := time.Parse("2006-01-02", a)
	tb, err2 := time.Parse("2006-01-02", b)
	if err1 != nil || err2 != nil {
		t.Fatalf("dates %q %q", a, b)
	}
	return int(tb.Sub(ta).Hours() / 24)
}

func TestJSONLErrors(t *testing.T) {
	p, _ := ParsePolicy([]byte(`{"version":1,"fields":[{"name":"a.ssn","op":"fpe","alphabet":"digits"}]}`))
	tk := mustNew(t, p)
	for _, c := range []struct {
		in        string
		line      int64
		field     string
		sentinel  error
		substring string
	}{
		{"{\"a\":{\"ssn\":\"123456789\"}}\n{\"a\":{\"ssn\":\"12x\"}}\n", 2, "a.ssn", ErrValue, "neither in alphabet"},
		{"{\"a\":1}\n\n{\"a\":\n", 3, "", ErrMalformed, "invalid JSON"},
		{"[1,2]\n", 1, "", ErrMalformed, "not a JSON object"},
		{"{\"a\":{\"ssn\":{\"x\":1}}}\n", 1, "a.ssn", ErrValue, "an object"},
	} {
		_, err := tk.Tokenize(io.Discard, strings.NewReader(c.in), Options{Format: FormatJSONL})
		var re *RecordError
		if !errors.As(err, &re) || !errors.Is(err, c.sentinel) || re.Line != c.line || re.Field != c.field || !strings.Contains(err.Error(), c.substring) {
			t.Errorf("%q: %v, want line %d field %q %q", c.in, err, c.line, c.field, c.substring)
		}
	}
}

func TestCSVByteOrderMark(t *testing.T) {
	p, _ := ParsePolicy([]byte(`{"version":1,"fields":[{"name":"a","op":"mask","keep_last":1}]}`))
	for in, want := range map[string]string{
		"\ufeffa,b\nxyz,1\n":         "\ufeffa,b\n**z,1\n",
		"\ufeff\"a\",\"b\"\nxyz,1\n": "\ufeff\"a\",\"b\"\n**z,1\n",
	} {
		var out bytes.Buffer
		if _, err := mustNew(t, p).Tokenize(&out, strings.NewReader(in), Options{Format: FormatCSV}); err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if out.String() != want {
			t.Errorf("%q: got %q, want %q", in, out.String(), want)
		}
	}
}

// rowsReader produces a CSV of n rows without holding it in memory.
type rowsReader struct {
	i, n int
	buf  []byte
}

func (r *rowsReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.i > r.n {
			return 0, io.EOF
		}
		if r.i == 0 {
			r.buf = []byte("id,ssn,phone,notes\n")
		} else {
			r.buf = fmt.Appendf(r.buf[:0], "%d,%03d-45-%04d,+1 415 555 %04d,%s\n", r.i, 100+r.i%800, r.i%10000, r.i%10000, strings.Repeat("x", 150))
		}
		r.i++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// TestBoundedMemory streams about 20 MB through Tokenize and checks that the
// heap stays small: memory is bounded by the batches in flight, not by the
// input.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 20 MB")
	}
	p, _ := ParsePolicy([]byte(`{"version":1,"fields":[
		{"name":"ssn","op":"fpe","alphabet":"digits","separators":"-"},
		{"name":"phone","op":"hash"}]}`))
	tk := mustNew(t, p)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	calls := 0
	st, err := tk.Tokenize(io.Discard, &rowsReader{n: 110000}, Options{Format: FormatCSV, BatchSize: 64 << 10, Workers: 2,
		Progress: func(Progress) {
			calls++
			if calls%20 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 110000 {
		t.Errorf("%d records", st.Records)
	}
	if grew := int64(peak) - int64(base); grew > 24<<20 {
		t.Errorf("heap grew by %d MB while streaming 20 MB", grew>>20)
	}
}

func TestFPEAllocs(t *testing.T) {
	tk := mustNew(t, customersPolicy(t))
	o := tk.byName["ssn"]
	if n := testing.AllocsPerRun(100, func() { o.tokenize("123-45-6789", "") }); n > 1 {
		t.Errorf("fpe of an SSN allocates %v times, want 1 (the result)", n)
	}
}
