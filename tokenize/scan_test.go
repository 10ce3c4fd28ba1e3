package tokenize

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// synth generates labelled values: PII of each type, and look-alikes that
// are not PII (decoys), so that precision and recall can be measured.
type synth struct{ rng *rand.Rand }

func (s synth) digits(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(byte('0' + s.rng.IntN(10)))
	}
	return b.String()
}

// luhnComplete appends the check digit that makes d Luhn-valid.
func luhnComplete(d string) string {
	for c := byte('0'); c <= '9'; c++ {
		if luhn(d + string(c)) {
			return d + string(c)
		}
	}
	panic("unreachable")
}

func (s synth) card() string {
	prefixes := []struct {
		p string
		n int
	}{{"4", 16}, {"51", 16}, {"55", 16}, {"2221", 16}, {"34", 15}, {"37", 15}, {"6011", 16}, {"65", 16}, {"3530", 16}}
	p := prefixes[s.rng.IntN(len(prefixes))]
	d := luhnComplete(p.p + s.digits(p.n-len(p.p)-1))
	switch s.rng.IntN(3) {
	case 0:
		return d
	case 1:
		var b strings.Builder
		for i := range len(d) {
			if i > 0 && i%4 == 0 {
				b.WriteByte(' ')
			}
			b.WriteByte(d[i])
		}
		return b.String()
	}
	return d[:4] + "-" + d[4:8] + "-" + d[8:12] + "-" + d[12:]
}

func (s synth) ssn() string {
	for {
		a, g, n := 1+s.rng.IntN(899), 1+s.rng.IntN(99), 1+s.rng.IntN(9999)
		if a == 666 {
			continue
		}
		return fmt.Sprintf("%03d-%02d-%04d", a, g, n)
	}
}

func (s synth) iban() string {
	// German IBAN: DE + check + 18 digits.
	bban := s.digits(18)
	for c := 2; c < 99; c++ {
		v := fmt.Sprintf("DE%02d%s", c, bban)
		if validIBAN(v) {
			if s.rng.IntN(2) == 0 {
				return v[:4] + " " + v[4:8] + " " + v[8:12] + " " + v[12:16] + " " + v[16:20] + " " + v[20:]
			}
			return v
		}
	}
	panic("no check digits")
}

func (s synth) value(typ string) string {
	switch typ {
	case TypeEmail:
		return fmt.Sprintf("user.%d@%s", s.rng.IntN(1e6), []string{"example.com", "mail.example.org", "corp.example.co.uk"}[s.rng.IntN(3)])
	case TypePhone:
		return []string{"(415) 555-%04d", "+1 415-555-%04d", "415.555.%04d", "+44 20 7946 %04d"}[s.rng.IntN(4)]
	case TypeSSN:
		return s.ssn()
	case TypeCard:
		return s.card()
	case TypeIBAN:
		return s.iban()
	case TypeIP:
		if s.rng.IntN(2) == 0 {
			return fmt.Sprintf("%d.%d.%d.%d", 1+s.rng.IntN(223), s.rng.IntN(256), s.rng.IntN(256), 1+s.rng.IntN(254))
		}
		return fmt.Sprintf("2001:db8:%x::%x", s.rng.IntN(65536), 1+s.rng.IntN(65535))
	case TypeAWSKeyID:
		const b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
		var b strings.Builder
		b.WriteString("AKIA")
		for range 16 {
			b.WriteByte(b32[s.rng.IntN(32)])
		}
		return b.String()
	}
	panic(typ)
}

// decoy returns a value that looks like PII and is not.
func (s synth) decoy() string {
	switch s.rng.IntN(10) {
	case 0: // a millisecond timestamp, made Luhn-valid on purpose
		return luhnComplete("17" + s.digits(10))
	case 1: // an order number
		return "ORD-" + s.digits(10)
	case 2: // an invalid SSN area
		return fmt.Sprintf("%03d-%02d-%04d", 900+s.rng.IntN(100), 1+s.rng.IntN(98), 1+s.rng.IntN(9998))
	case 3: // a Luhn-invalid 16-digit number with a Visa prefix
		d := luhnComplete("4" + s.digits(14))
		last := (d[15]-'0'+1)%10 + '0'
		return d[:15] + string(rune(last))
	case 4: // a version string
		return fmt.Sprintf("v%d.%d.%d", s.rng.IntN(10), s.rng.IntN(20), s.rng.IntN(100))
	case 5: // a time of day
		return fmt.Sprintf("%02d:%02d:%02d", s.rng.IntN(24), s.rng.IntN(60), s.rng.IntN(60))
	case 6: // an IBAN with a wrong check
		v := strings.ReplaceAll(s.iban(), " ", "")
		c := (v[2]-'0'+1)%10 + '0'
		return v[:2] + string(rune(c)) + v[3:]
	case 7: // a price and a quantity
		return fmt.Sprintf("%d.%02d USD x %d", s.rng.IntN(1000), s.rng.IntN(100), 1+s.rng.IntN(9))
	case 8: // an email-like handle without a domain
		return "@user" + s.digits(5)
	}
	return "SKU" + s.digits(8) // a product code
}

// TestDetectorPrecisionRecall measures each detector on a labelled synthetic
// dataset: recall on values of its type, and precision over all values
// (other types and decoys included).
func TestDetectorPrecisionRecall(t *testing.T) {
	s := synth{rand.New(rand.NewPCG(7, 7))}
	types := []string{TypeEmail, TypePhone, TypeSSN, TypeCard, TypeIBAN, TypeIP, TypeAWSKeyID}
	type sample struct{ v, label string }
	var data []sample
	for _, typ := range types {
		for range 300 {
			v := s.value(typ)
			if typ == TypePhone {
				v = fmt.Sprintf(v, s.rng.IntN(10000))
			}
			data = append(data, sample{v, typ})
		}
	}
	for range 2000 {
		data = append(data, sample{s.decoy(), ""})
	}
	tp, fp, fn := map[string]int{}, map[string]int{}, map[string]int{}
	for _, d := range data {
		found := map[string]bool{}
		for _, sp := range findSpans(d.v, detectors()) {
			if sp.start == 0 && sp.end == len(d.v) {
				found[sp.d.typ] = true
			} else {
				found[sp.d.typ+" (part)"] = true
			}
		}
		for typ := range found {
			if typ == d.label {
				tp[typ]++
			} else {
				fp[typ]++
				if fp[typ] <= 3 {
					t.Logf("false positive %s in %q (label %q)", typ, d.v, d.label)
				}
			}
		}
		if d.label != "" && !found[d.label] {
			fn[d.label]++
			if fn[d.label] <= 3 {
				t.Logf("missed %s %q", d.label, d.v)
			}
		}
	}
	for _, typ := range types {
		precision := float64(tp[typ]) / float64(max(tp[typ]+fp[typ], 1))
		recall := float64(tp[typ]) / float64(tp[typ]+fn[typ])
		t.Logf("%-18s precision %.3f recall %.3f", typ, precision, recall)
		if precision < 0.99 || recall < 0.95 {
			t.Errorf("%s: precision %.3f, recall %.3f; want at least 0.99 and 0.95", typ, precision, recall)
		}
	}
	for typ, n := range fp {
		if strings.HasSuffix(typ, "(part)") {
			t.Errorf("%d values matched partly as %s", n, typ)
		}
	}
}

func TestScanCSV(t *testing.T) {
	s := synth{rand.New(rand.NewPCG(8, 8))}
	var in bytes.Buffer
	in.WriteString("customer_id,name,email,phone,ssn,card_number,birth_date,notes,created_ms,sku\n")
	for i := range 200 {
		fmt.Fprintf(&in, "C-%d,%s %s,%s,%s,%s,%s,19%02d-%02d-%02d,\"call me at %s\",%s,SKU%s\n",
			i, evalFirst[i%len(evalFirst)], evalLast[i%len(evalLast)], s.value(TypeEmail), fmt.Sprintf(s.value(TypePhone), s.rng.IntN(1e4)), s.ssn(), s.card(),
			50+s.rng.IntN(49), 1+s.rng.IntN(12), 1+s.rng.IntN(28), s.value(TypeEmail),
			luhnComplete("17"+s.digits(10)), s.digits(8))
	}
	rep, err := Scan(&in, ScanOptions{Format: FormatCSV, SampleRecords: 150})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 150 {
		t.Errorf("sampled %d records", rep.Records)
	}
	want := map[string]string{"name": TypePerson, "email": TypeEmail, "phone": TypePhone, "ssn": TypeSSN,
		"card_number": TypeCard, "birth_date": TypeDateOfBirth, "notes": TypeEmail}
	for _, f := range rep.Fields {
		top := ""
		if len(f.Types) > 0 && f.Types[0].Level != "low" {
			top = f.Types[0].Type
		}
		if top != want[f.Field] {
			t.Errorf("field %s: found %q, want %q (%+v)", f.Field, top, want[f.Field], f.Types)
		}
	}
	p := rep.Policy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	ops := map[string]string{}
	for _, f := range p.Fields {
		ops[f.Name] = f.Op
	}
	wantOps := map[string]string{"name": OpDeterministic, "email": OpDeterministic, "phone": OpFPE, "ssn": OpFPE,
		"card_number": OpFPE, "birth_date": OpDateShift, "notes": OpScan}
	if fmt.Sprint(ops) != fmt.Sprint(wantOps) {
		t.Errorf("starter policy ops %v, want %v", ops, wantOps)
	}
	// The starter policy tokenizes the whole file.
	in.Reset()
	if _, err := mustNew(t, p).Tokenize(&bytes.Buffer{}, strings.NewReader(customersCSV), Options{Format: FormatCSV, Rejects: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.Text(), "card_number") {
		t.Error("text report lacks a field")
	}
}

func TestScanJSONL(t *testing.T) {
	in := `{"user":{"email":"a@example.com","ip":"203.0.113.9"},"creds":"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
{"user":{"email":"b@example.com","ip":"198.51.100.7"},"creds":"none"}
`
	rep, err := Scan(strings.NewReader(in), ScanOptions{Format: FormatJSONL})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range rep.Fields {
		if len(f.Types) > 0 {
			got[f.Field] = f.Types[0].Type
		}
	}
	if got["user.email"] != TypeEmail || got["user.ip"] != TypeIP || got["creds"] != TypeAWSSecret {
		t.Errorf("found %v", got)
	}
	for _, f := range rep.Policy().Fields {
		if f.Name == "creds" && f.Op != OpRedact {
			t.Errorf("credentials get %s, want redact", f.Op)
		}
	}
}

// TestScanBOM: a byte order mark before the header is not part of the first
// field's name, whether or not the name is quoted (a starter policy naming
// "\ufeffcustomer_id" would not match the column).
func TestScanBOM(t *testing.T) {
	for _, in := range []struct {
		format Format
		data   string
	}{
		{FormatCSV, "\ufeffid,email\n1,ada@example.com\n"},
		{FormatCSV, "\ufeff\"id\",\"email\"\r\n1,ada@example.com\r\n"},
		{FormatJSONL, "\ufeff{\"id\":1,\"email\":\"ada@example.com\"}\n"},
	} {
		rep, err := Scan(strings.NewReader(in.data), ScanOptions{Format: in.format})
		if err != nil {
			t.Errorf("%q: %v", in.data, err)
			continue
		}
		var names []string
		for _, f := range rep.Fields {
			names = append(names, f.Field)
		}
		if fmt.Sprint(names) != "[id email]" && fmt.Sprint(names) != "[email id]" {
			t.Errorf("%q: fields %q", in.data, names)
		}
	}
}

// TestHeaderHints: names raise confidence in the type they name and lower
// it when they name identifiers or things.
func TestHeaderHints(t *testing.T) {
	for _, c := range []struct {
		name, hint string
		notPII     bool
	}{
		{"contact_no", TypePhone, false},
		{"phoneNumber", TypePhone, false},
		{"born_on", TypeDateOfBirth, false},
		{"dateOfBirth", TypeDateOfBirth, false},
		{"customer", TypePerson, false},
		{"Customer Name", TypePerson, false},
		{"user.email", TypeEmail, false},
		{"order_id", "", true},
		{"company_name", "", true},
		{"model_name", "", true},
		{"table_name", "", true},
		{"username", "", true},
		{"phone_verified_at", TypePhone, false},
		{"notes", "", false},
	} {
		hint, notPII := hintOf(c.name)
		if hint != c.hint || notPII != c.notPII {
			t.Errorf("hintOf(%q) = %q, %v; want %q, %v", c.name, hint, notPII, c.hint, c.notPII)
		}
	}
}

// TestNotPhoneOrCard: digits inside UUIDs, hex ids, versions and invoice
// numbers are never phone numbers; Luhn-valid order numbers are not cards;
// bare ten-digit numbers are phone numbers where the text says so.
func TestNotPhoneOrCard(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"request 12345678-4155-5501-3422-125550134987 failed", ""},
		{"trace 550e8400-e29b-41d4-a716-446655440000", ""},
		{"object 5f2b4155550134a9c3d2e1f0", ""},
		{"build 10.0.19045.3803 and 2.415.555.0134", ""},
		{"invoice INV-2023-0042-7781", ""},
		{"tracking 7489 2345 6789", ""},
		{"ts=1705312245 ms=1705312245123", ""},
		{"order #4532015112830366 shipped", ""},
		{"Order no. 5409879879701459", ""},
		{"ISBN 978-0-306-40615-7", ""},
		{"version 4.2.0.1", ""},
		{"part no. 512-54-5024", ""},
		{"call me at 4155550134 tomorrow", TypePhone + " 4155550134"},
		{"my cell: +1 (415) 555-0134 x12", TypePhone + " +1 (415) 555-0134"},
		{"reach me on 1-415-555-0134.", TypePhone + " 1-415-555-0134"},
		{"paid with 4532 0151 1283 0366", TypeCard + " 4532 0151 1283 0366"},
		{"SSN 524713352 on file", TypeSSN + " 524713352"},
		{"from ::ffff:192.0.2.7 on port 443", TypeIP + " ::ffff:192.0.2.7"},
	} {
		var got []string
		for _, s := range findSpans(c.text, detectors()) {
			got = append(got, s.d.typ+" "+c.text[s.start:s.end])
		}
		if strings.Join(got, "; ") != c.want {
			t.Errorf("%q: found %q, want %q", c.text, got, c.want)
		}
	}
}

// scanValues scans one CSV column.
func scanValues(t *testing.T, name string, values []string) *FieldReport {
	t.Helper()
	in := name + "\n" + strings.Join(values, "\n") + "\n"
	rep, err := Scan(strings.NewReader(in), ScanOptions{Format: FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Fields[0]
}

// TestScanColumns: column-level judgements the values alone cannot make.
func TestScanColumns(t *testing.T) {
	g := evalGen{rand.New(rand.NewPCG(3, 3))}
	level := func(f *FieldReport, typ string) string {
		for _, tr := range f.Types {
			if tr.Type == typ {
				return tr.Level
			}
		}
		return "none"
	}
	var seq, mixed, ids []string
	for i := range 100 {
		d := fmt.Sprintf("453201511%06d", 2830+i*7)
		seq = append(seq, d+luhnDigit(d))
		ids = append(ids, g.luhnOrderID())
		switch i % 4 {
		case 0:
			mixed = append(mixed, g.email())
		case 1:
			mixed = append(mixed, "(415) 555-"+fmt.Sprintf("%04d", i))
		case 2:
			mixed = append(mixed, g.ssn(true))
		default:
			mixed = append(mixed, g.ipv4())
		}
	}
	if l := level(scanValues(t, "ref", seq), TypeCard); l != "low" {
		t.Errorf("sequential Luhn-valid ids: card confidence %s", l)
	}
	if l := level(scanValues(t, "ref", ids), TypeCard); l == "medium" || l == "high" {
		t.Errorf("Luhn-valid order ids: card confidence %s", l)
	}
	f := scanValues(t, "contact", mixed)
	for _, typ := range []string{TypeEmail, TypePhone, TypeSSN, TypeIP} {
		if l := level(f, typ); l != "medium" {
			t.Errorf("a column of four kinds of PII: %s is %s, want medium", typ, l)
		}
	}
	p := (&ScanReport{Fields: []*FieldReport{f}}).Policy()
	if len(p.Fields) != 1 || p.Fields[0].Op != OpScan {
		t.Errorf("a column of four kinds of PII gets %+v, want scan", p.Fields)
	}
	names := []string{"Ada Lovelace", "Alan Turing", "Grace Hopper"}
	if l := level(scanValues(t, "customer", names), TypePerson); l == "low" || l == "none" {
		t.Errorf("names under customer: %s", l)
	}
	if l := level(scanValues(t, "company_name", names), TypePerson); l != "none" {
		t.Errorf("company_name: PERSON %s", l)
	}
	if l := level(scanValues(t, "model_name", []string{"resnet-50", "bert-base", "t5-small"}), TypePerson); l != "none" {
		t.Errorf("model_name: PERSON %s", l)
	}
	if l := level(scanValues(t, "name", []string{"resnet-50", "bert-base", "t5-small"}), TypePerson); l != "none" && l != "low" {
		t.Errorf("name of models: PERSON %s", l)
	}
	var dates []string
	for i := range 20 {
		dates = append(dates, fmt.Sprintf("%d/%d/19%d", 1+i%12, 1+i, 50+i))
	}
	f = scanValues(t, "born_on", dates)
	p = (&ScanReport{Fields: []*FieldReport{{Field: "id"}, f}}).Policy()
	if len(p.Fields) != 1 || p.Fields[0].Op != OpDateShift || p.Fields[0].Layout != "1/2/2006" {
		t.Errorf("dates of birth in 1/2/2006 get %+v", p.Fields)
	}
}
