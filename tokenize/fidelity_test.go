package tokenize

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// fidelityPolicy tokenizes one column, drops one and leaves the others.
const fidelityPolicy = `{"version":1,"fields":[
	{"name":"email","op":"deterministic"},
	{"name":"ip","op":"redact","drop":true}]}`

// TestCSVUntouchedBytes checks that what the policy does not name comes out
// byte for byte: quoting, CRLF line endings and CRLF inside quoted fields,
// blank lines, the byte order mark, and a quoted email keeps its quotes.
func TestCSVUntouchedBytes(t *testing.T) {
	in := "\ufeff\"id\",\"email\",ip,note\r\n" +
		"1,a@example.com,10.0.0.1,\"two\r\nlines, \"\"quoted\"\"\"\r\n" +
		"\r\n" +
		"\"2\",\"b@example.com\",10.0.0.2,  spaced  \n" +
		"3,,10.0.0.3,\"\""
	tk := mustNew(t, mustPolicy(t, fidelityPolicy))
	var out bytes.Buffer
	if _, err := tk.Tokenize(&out, strings.NewReader(in), Options{Format: FormatCSV, BatchSize: 16}); err != nil {
		t.Fatal(err)
	}
	a, _ := tk.TokenizeValue("email", "a@example.com", "")
	b, _ := tk.TokenizeValue("email", "b@example.com", "")
	want := "\ufeff\"id\",\"email\",note\r\n" +
		"1," + a + ",\"two\r\nlines, \"\"quoted\"\"\"\r\n" +
		"\r\n" +
		"\"2\",\"" + b + "\",  spaced  \n" +
		"3,,\"\""
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}

// TestCSVRoundTripFidelity tokenizes and detokenizes with the same policy,
// which dropped a field: the detokenized file is the input without it, byte
// for byte.
func TestCSVRoundTripFidelity(t *testing.T) {
	in := "\ufeff\"id\",\"email\",\"ip\"\r\n1,\"a@example.com\",10.0.0.1\r\n2,\"line\r\nbreak@example.com\",10.0.0.2\r\n"
	want := "\ufeff\"id\",\"email\"\r\n1,\"a@example.com\"\r\n2,\"line\r\nbreak@example.com\"\r\n"
	tk := mustNew(t, mustPolicy(t, fidelityPolicy))
	var tok, back bytes.Buffer
	if _, err := tk.Tokenize(&tok, strings.NewReader(in), Options{Format: FormatCSV}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tok.String(), "example.com") || strings.Contains(tok.String(), "10.0.0") {
		t.Fatalf("plaintext left in %q", tok.String())
	}
	if _, err := tk.Detokenize(&back, &tok, Options{Format: FormatCSV}); err != nil {
		t.Fatal(err)
	}
	if back.String() != want {
		t.Errorf("got\n%q\nwant\n%q", back.String(), want)
	}
}

func mustPolicy(t testing.TB, s string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRecordNumbers checks that errors count records from 1, and name no
// record where none is known (the header, a record too long to read).
func TestRecordNumbers(t *testing.T) {
	p := mustPolicy(t, `{"version":1,"fields":[{"name":"ssn","op":"fpe","alphabet":"digits"}]}`)
	tk := mustNew(t, p)
	for _, c := range []struct {
		in   string
		opts Options
		want string
	}{
		{"ssn\n123456789\nx\n", Options{Format: FormatCSV}, "record 2 (line 3), field \"ssn\""},
		{"ssn\n123456789\n\"12\n", Options{Format: FormatCSV}, "record 2 (line 3): malformed"},
		{"\"ssn\n", Options{Format: FormatCSV}, "line 1: malformed record: header row"},
		{"ssn\n" + strings.Repeat("1", 5000) + "\n", Options{Format: FormatCSV, MaxRecordSize: 10, BatchSize: 4}, "line 2: malformed"},
		{`{"ssn":"123456789"}` + "\n" + `{"ssn":"x"}` + "\n", Options{Format: FormatJSONL}, "record 2 (line 2), field \"ssn\""},
	} {
		_, err := tk.Tokenize(&bytes.Buffer{}, strings.NewReader(c.in), c.opts)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%.40q: %v, want %q...", c.in, err, c.want)
		}
	}
}

// TestJSONLByteOrderMark checks that a byte order mark before the first
// JSON line is kept, and not taken for part of the record, and that line
// ends are kept as they were.
func TestJSONLByteOrderMark(t *testing.T) {
	tk := mustNew(t, mustPolicy(t, fidelityPolicy))
	in := "\ufeff{\"id\":1,\"email\":\"a@example.com\",\"ip\":\"10.0.0.1\"}\r\n{\"id\":2}\n"
	var out, back bytes.Buffer
	if _, err := tk.Tokenize(&out, strings.NewReader(in), Options{Format: FormatJSONL}); err != nil {
		t.Fatal(err)
	}
	a, _ := tk.TokenizeValue("email", "a@example.com", "")
	if want := "\ufeff{\"id\":1,\"email\":\"" + a + "\"}\r\n{\"id\":2}\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	if _, err := tk.Detokenize(&back, &out, Options{Format: FormatJSONL}); err != nil {
		t.Fatal(err)
	}
	if want := "\ufeff{\"id\":1,\"email\":\"a@example.com\"}\r\n{\"id\":2}\n"; back.String() != want {
		t.Errorf("detokenized %q, want %q", back.String(), want)
	}
}

// TestPassedCounts checks that the values on_invalid: pass leaves in the
// clear are counted per field, in CSV and JSON Lines.
func TestPassedCounts(t *testing.T) {
	tk := mustNew(t, mustPolicy(t, `{"version":1,"fields":[
		{"name":"phone","op":"fpe","alphabet":"digits","on_invalid":"pass"},
		{"name":"ssn","op":"fpe","alphabet":"digits","separators":"-","on_invalid":"pass"},
		{"name":"email","op":"deterministic"}]}`))
	csvIn := "phone,ssn,email\n415-555-0132,123-45-6789,a@example.com\ncall me,12,b@example.com\n4155550199 ext. 7,,c@example.com\n"
	jsonIn := `{"phone":"415-555-0132","ssn":"123-45-6789"}` + "\n" + `{"phone":"call me","ssn":"12"}` + "\n" + `{"phone":"4155550199 ext. 7"}` + "\n"
	for _, c := range []struct {
		format Format
		in     string
	}{{FormatCSV, csvIn}, {FormatJSONL, jsonIn}} {
		st, err := tk.Tokenize(&bytes.Buffer{}, strings.NewReader(c.in), Options{Format: c.format, BatchSize: 40})
		if err != nil {
			t.Fatal(err)
		}
		if st.Passed["phone"] != 2 || st.Passed["ssn"] != 1 || len(st.Passed) != 2 {
			t.Errorf("%s: passed %v, want phone 2, ssn 1", c.format, st.Passed)
		}
	}
	// A rejected record's passed values are not written, so not counted.
	st, err := tk.Tokenize(&bytes.Buffer{}, strings.NewReader("phone,ssn,email\ncall me,12,\"x\"y\nn/a,1,\"b\"\n"), Options{Format: FormatCSV, Rejects: io.Discard})
	if err != nil || st.Rejected != 1 || st.Passed["phone"] != 1 || st.Passed["ssn"] != 1 {
		t.Errorf("with a rejected record: %+v, %v; want 1 rejected, phone and ssn passed once", st, err)
	}
	p := mustPolicy(t, `{"version":1,"fields":[{"name":"a","op":"fpe","alphabet":"digits","on_invalid":"pass"},{"name":"b","op":"fpe","alphabet":"digits"}]}`)
	st, err = mustNew(t, p).Tokenize(&bytes.Buffer{}, strings.NewReader("a,b\nx,1\n"), Options{Format: FormatCSV, Rejects: io.Discard})
	if err != nil || st.Rejected != 1 || len(st.Passed) != 0 {
		t.Errorf("a record rejected after a passed value: %+v, %v; want no value counted", st, err)
	}
}

// TestDateShiftOneOffsetPerEntity checks that two date columns keyed by
// the same entity, with default domains, move one entity's dates by the
// same number of days.
func TestDateShiftOneOffsetPerEntity(t *testing.T) {
	tk := mustNew(t, mustPolicy(t, `{"version":1,"fields":[
		{"name":"born","op":"date-shift","entity":"id"},
		{"name":"joined","op":"date-shift","entity":"id"}]}`))
	for _, id := range []string{"C-1", "C-2", "C-3", "C-4"} {
		b, err1 := tk.TokenizeValue("born", "2000-01-01", id)
		j, err2 := tk.TokenizeValue("joined", "2000-01-01", id)
		if err1 != nil || err2 != nil || b != j {
			t.Errorf("entity %s: born %s, joined %s (%v %v): want one offset", id, b, j, err1, err2)
		}
	}
}

// TestPhoneParse checks parse: phone: extensions, "/" separators, a North
// American country code and E.164 numbers are tokenized, not passed or
// refused; the country code and the extension stay as they are, and the
// number gets the same digits however it is written around them.
func TestPhoneParse(t *testing.T) {
	tk := mustNew(t, mustPolicy(t, `{"version":1,"fields":[{"name":"phone","op":"fpe","alphabet":"digits","parse":"phone"}]}`))
	base, err := tk.TokenizeValue("phone", "415-555-0132", "")
	if err != nil {
		t.Fatal(err)
	}
	digits := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
	}
	for in, keep := range map[string][2]string{
		"415-555-0132 x12":          {"", " x12"},
		"415-555-0132 ext. 12":      {"", " ext. 12"},
		"415-555-0132, extension 7": {"", ", extension 7"},
		"415/555-0132":              {"", ""},
		"(415) 555-0132 #3":         {"", " #3"},
		"+1 415-555-0132":           {"+1 ", ""},
		"+1-415-555-0132 Ext 9":     {"+1-", " Ext 9"},
		"1-415-555-0132":            {"1-", ""},
		"+14155550132":              {"+1", ""},
	} {
		tok, err := tk.TokenizeValue("phone", in, "")
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if !strings.HasPrefix(tok, keep[0]) || !strings.HasSuffix(tok, keep[1]) || len(tok) != len(in) {
			t.Errorf("%q became %q: want %q and %q kept, the length kept", in, tok, keep[0], keep[1])
		}
		if got := digits(strings.TrimSuffix(strings.TrimPrefix(tok, keep[0]), keep[1])); got != digits(base) {
			t.Errorf("%q: number %s, want %s as for 415-555-0132", in, got, digits(base))
		}
		if back, err := tk.DetokenizeValue("phone", tok); err != nil || back != in {
			t.Errorf("%q: back %q, %v", in, back, err)
		}
	}
	// Other E.164 numbers: every digit encrypted, the + kept.
	tok, err := tk.TokenizeValue("phone", "+442079460958", "")
	if err != nil || tok[0] != '+' || len(tok) != 13 || tok == "+442079460958" {
		t.Errorf("E.164: %q, %v", tok, err)
	}
	if _, err := ParsePolicy([]byte(`{"version":1,"fields":[{"name":"p","op":"fpe","alphabet":"hex","parse":"phone"}]}`)); err == nil {
		t.Error("parse phone with alphabet hex accepted")
	}
}

// TestJSONLUntouchedBytes checks that tokenizing JSON Lines replaces only
// the values at the policy's paths: whitespace anywhere, member order,
// number spelling, escapes in other strings and keys, unicode, the byte
// order mark, CRLF and blank lines come out as they went in, and a dropped
// member leaves with one comma, in any position.
func TestJSONLUntouchedBytes(t *testing.T) {
	tk := mustNew(t, mustPolicy(t, `{"version":1,"fields":[
		{"name":"email","op":"deterministic"},
		{"name":"user.ssn","op":"fpe","alphabet":"digits"},
		{"name":"user.tags","op":"hash","length":8},
		{"name":"orders.card","op":"mask"},
		{"name":"ip","op":"redact","drop":true}]}`))
	tok := func(field, v string) string {
		s, err := tk.TokenizeValue(field, v, "")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	email, ssn := tok("email", "c@d.com"), tok("user.ssn", "123-45-6789")
	uni := tok("email", "é@例え.jp")
	lines := []struct{ in, want string }{
		{"\ufeff  {\"email\":\"c@d.com\", \"n\":2}  \r\n", "\ufeff  {\"email\":\"" + email + "\", \"n\":2}  \r\n"},
		{"{ \"id\" : 7 , \"email\" : \"c@d.com\" , \"n\" : 1.50E+2 }\n", "{ \"id\" : 7 , \"email\" : \"" + email + "\" , \"n\" : 1.50E+2 }\n"},
		{"   \t\r\n", "   \t\r\n"},
		{"{\"z\":[1, 2 ,-0.0e0],\t\"user\": { \"ssn\" : \"123-45-6789\" ,\"name\":\"Ad\\u00e9 \\\"A\\\" \\/\"\r, \"tags\" : [ \"x\" , 7 ,null, [\"y\"] ] } }\r\n",
			"{\"z\":[1, 2 ,-0.0e0],\t\"user\": { \"ssn\" : \"" + ssn + "\" ,\"name\":\"Ad\\u00e9 \\\"A\\\" \\/\"\r, \"tags\" : [ \"" + tok("user.tags", "x") + "\" , \"" + tok("user.tags", "7") + "\" ,null, [\"" + tok("user.tags", "y") + "\"] ] } }\r\n"},
		{"{\"orders\":[ {\"card\":\"4111111111111111\" , \"n\":01e1} ,{ }, {\"card\":null}]}\n", ""}, // invalid: 01e1
		{"{\"orders\":[ {\"card\":\"4111111111111111\" , \"n\":10e1} ,{ }, {\"card\":null}]}\n", "{\"orders\":[ {\"card\":\"************1111\" , \"n\":10e1} ,{ }, {\"card\":null}]}\n"},
		{"{\"em\\u0061il\":\"é@例え.jp\",\"note\":\"ünï ☃ \\ud83d\\ude00\"}\n", "{\"em\\u0061il\":\"" + uni + "\",\"note\":\"ünï ☃ \\ud83d\\ude00\"}\n"},
		{"{\"ip\":\"10.0.0.1\", \"id\":1}\n", "{ \"id\":1}\n"},
		{"{\"id\":1 ,\"ip\":\"10.0.0.1\" }\n", "{\"id\":1 }\n"},
		{"{\"a\":1, \"ip\":{\"v\":4}, \"b\":2}\n", "{\"a\":1, \"b\":2}\n"},
		{"{ \"ip\":1,\"ip\" : [2] }\n", "{ }\n"},
		{"{\"ip\":1,\"ip\":2, \"email\":\"\",\"ip\":3}", "{ \"email\":\"\"}"},
	}
	var in, want strings.Builder
	for _, l := range lines {
		in.WriteString(l.in)
		want.WriteString(l.want)
	}
	for _, batch := range []int{0, 16} {
		var out, rej bytes.Buffer
		st, err := tk.Tokenize(&out, strings.NewReader(in.String()), Options{Format: FormatJSONL, BatchSize: batch, Rejects: &rej})
		if err != nil {
			t.Fatal(err)
		}
		if out.String() != want.String() {
			t.Errorf("batch size %d: got\n%s\nwant\n%s", batch, out.String(), want.String())
		}
		if st.Rejected != 1 || rej.String() != lines[4].in {
			t.Errorf("batch size %d: %d rejected: %q", batch, st.Rejected, rej.String())
		}
	}
}

// TestJSONLRoundTripBytes tokenizes and detokenizes with the same policy,
// which drops a member: the result is the input without it, byte for byte.
func TestJSONLRoundTripBytes(t *testing.T) {
	tk := mustNew(t, mustPolicy(t, `{"version":1,"fields":[
		{"name":"email","op":"deterministic"},
		{"name":"user.ssn","op":"fpe","alphabet":"digits","separators":"-"},
		{"name":"ip","op":"redact","drop":true}]}`))
	in := "\ufeff{ \"email\" : \"ada@example.com\" ,\"ip\":\"10.0.0.1\", \"user\":{\"ssn\":\"123-45-6789\", \"n\":[1 , 2.0]} }\r\n" +
		"\r\n" +
		"  {\"ip\":\"10.0.0.2\" , \"user\" : [ {\"ssn\":\"987-65-4321\"} , {\"x\":\"\\u00e9\\n\"} ] ,\"email\":\"b\\u00e9@example.com\"}\t\n" +
		"{\"email\":\"ünï@例え.jp\"}"
	want := "\ufeff{ \"email\" : \"ada@example.com\", \"user\":{\"ssn\":\"123-45-6789\", \"n\":[1 , 2.0]} }\r\n" +
		"\r\n" +
		"  {  \"user\" : [ {\"ssn\":\"987-65-4321\"} , {\"x\":\"\\u00e9\\n\"} ] ,\"email\":\"bé@example.com\"}\t\n" +
		"{\"email\":\"ünï@例え.jp\"}"
	var tok, back bytes.Buffer
	if _, err := tk.Tokenize(&tok, strings.NewReader(in), Options{Format: FormatJSONL}); err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"example.com", "10.0.0", "123-45", "987-65", "例え"} {
		if strings.Contains(tok.String(), leak) {
			t.Fatalf("%q left in %q", leak, tok.String())
		}
	}
	if _, err := tk.Detokenize(&back, &tok, Options{Format: FormatJSONL}); err != nil {
		t.Fatal(err)
	}
	// The escaped value of the policy's email comes back as its text.
	if back.String() != want {
		t.Errorf("got\n%q\nwant\n%q", back.String(), want)
	}
}
