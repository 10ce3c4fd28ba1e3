package tokenize

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// TypePerson is reported for columns whose header names a person's name:
// there is no detector for names, only the header hint.
const TypePerson = "PERSON"

// DefaultSampleRecords is how many records Scan reads when
// ScanOptions.SampleRecords is zero.
const DefaultSampleRecords = 1000

// ScanOptions configure Scan.
type ScanOptions struct {
	// Format is FormatCSV or FormatJSONL.
	Format Format
	// SampleRecords is the number of records read from the start of the
	// input, DefaultSampleRecords when zero.
	SampleRecords int
}

// A ScanReport says which PII types were found in which fields.
type ScanReport struct {
	Records int            `json:"records"` // records sampled
	Fields  []*FieldReport `json:"fields"`  // in input order
}

// A FieldReport is one field's findings.
type FieldReport struct {
	Field  string        `json:"field"`
	Values int           `json:"values"` // non-empty values sampled
	Types  []*TypeReport `json:"types"`  // most frequent first
}

// A TypeReport is one PII type found in a field.
type TypeReport struct {
	Type string `json:"type"`
	// Matches is the number of values in which the type was found.
	Matches int `json:"matches"`
	// Whole is the number of those values that are the PII and nothing
	// else; the others hold it inside longer text.
	Whole int `json:"whole"`
	// Confidence is Matches / Values, raised by a quarter (up to 1) when the
	// field's name hints at the type; a type known only from the name (a
	// person's name) has confidence 0.5.
	Confidence float64 `json:"confidence"`
	// Level is "high" (0.8 and above), "medium" (0.3 and above) or "low".
	Level string `json:"level"`
}

// headerHints maps words of field names to the type they suggest.
var headerHints = []struct {
	words []string
	typ   string
}{
	{[]string{"email", "e-mail", "mail"}, TypeEmail},
	{[]string{"phone", "mobile", "tel", "telephone", "fax"}, TypePhone},
	{[]string{"ssn", "social_security", "socialsecurity"}, TypeSSN},
	{[]string{"card", "cc", "pan", "credit_card", "card_number"}, TypeCard},
	{[]string{"iban"}, TypeIBAN},
	{[]string{"ip", "ip_address", "ipaddress", "client_ip"}, TypeIP},
	{[]string{"dob", "birth", "birthday", "birth_date", "date_of_birth", "birthdate"}, TypeDateOfBirth},
	{[]string{"name", "first_name", "last_name", "full_name", "firstname", "lastname", "surname", "given_name"}, TypePerson},
}

// hintOf returns the type a field's name suggests, or "".
func hintOf(field string) string {
	name := strings.ToLower(field)
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	words := strings.FieldsFunc(name, func(r rune) bool { return r == '_' || r == '-' || r == ' ' })
	for _, h := range headerHints {
		for _, w := range h.words {
			if name == w || slices.Contains(words, w) {
				if h.typ == TypePerson && (strings.Contains(name, "user") || strings.Contains(name, "file") || strings.Contains(name, "host") || strings.Contains(name, "product")) {
					continue
				}
				return h.typ
			}
		}
	}
	return ""
}

type fieldStats struct {
	name   string
	hint   string
	values int
	types  map[string]*TypeReport
}

// observe runs the detectors on one value.
func (fs *fieldStats) observe(v string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return
	}
	fs.values++
	seen := map[string]bool{}
	add := func(typ string, whole bool) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		tr := fs.types[typ]
		if tr == nil {
			tr = &TypeReport{Type: typ}
			fs.types[typ] = tr
		}
		tr.Matches++
		if whole {
			tr.Whole++
		}
	}
	for _, s := range findSpans(v, detectors) {
		add(s.d.typ, s.start == 0 && s.end == len(v))
	}
	// Values the text detectors leave alone but the header explains.
	switch fs.hint {
	case TypeDateOfBirth:
		if _, ok := parseDate(v); ok {
			add(TypeDateOfBirth, true)
		}
	case TypeSSN:
		if len(v) == 9 && digitsOf(v) == v && validSSN(v) {
			add(TypeSSN, true)
		}
	case TypePhone:
		if d := digitsOf(v); len(d) >= 10 && len(d) <= 15 && len(d)+4 >= len(v) && validPhone(v) {
			add(TypePhone, true)
		}
	case TypeCard:
		if validCard(v) {
			add(TypeCard, true)
		}
	}
}

func (fs *fieldStats) report() *FieldReport {
	fr := &FieldReport{Field: fs.name, Values: fs.values}
	for _, tr := range fs.types {
		tr.Confidence = float64(tr.Matches) / float64(max(fs.values, 1))
		if fs.hint == tr.Type {
			tr.Confidence = min(1, tr.Confidence+0.25)
		}
		fr.Types = append(fr.Types, tr)
	}
	if fs.hint == TypePerson && fs.values > 0 && fs.types[TypePerson] == nil {
		fr.Types = append(fr.Types, &TypeReport{Type: TypePerson, Confidence: 0.5})
	}
	for _, tr := range fr.Types {
		switch {
		case tr.Confidence >= 0.8:
			tr.Level = "high"
		case tr.Confidence >= 0.3:
			tr.Level = "medium"
		default:
			tr.Level = "low"
		}
	}
	sort.SliceStable(fr.Types, func(i, j int) bool {
		if fr.Types[i].Confidence != fr.Types[j].Confidence {
			return fr.Types[i].Confidence > fr.Types[j].Confidence
		}
		return fr.Types[i].Type < fr.Types[j].Type
	})
	return fr
}

// Scan reads a sample of records from src and reports, per field, the PII
// types found in it and how sure it is. Detectors are validated (Luhn and
// issuer ranges for cards, SSA rules for SSNs, mod-97 for IBANs, address
// parsing for IPs) to keep false positives low; dates of birth and names
// are found by the fields' names. Scan reads no more than it samples.
func Scan(src io.Reader, opts ScanOptions) (*ScanReport, error) {
	limit := positive(opts.SampleRecords, DefaultSampleRecords)
	rep := &ScanReport{}
	var stats []*fieldStats
	byName := map[string]*fieldStats{}
	field := func(name string) *fieldStats {
		fs := byName[name]
		if fs == nil {
			fs = &fieldStats{name: name, hint: hintOf(name), types: map[string]*TypeReport{}}
			byName[name] = fs
			stats = append(stats, fs)
		}
		return fs
	}
	switch opts.Format {
	case FormatCSV:
		r := csv.NewReader(src)
		r.ReuseRecord = true
		header, err := r.Read()
		if err != nil {
			return nil, fmt.Errorf("%w: CSV header: %v", ErrMalformed, err)
		}
		header = slices.Clone(header)
		cols := make([]*fieldStats, len(header))
		for i, h := range header {
			cols[i] = field(h)
		}
		r.FieldsPerRecord = len(header)
		for rep.Records < limit {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, &RecordError{Record: int64(rep.Records + 1), Line: lineOf(err), Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
			}
			rep.Records++
			for i, v := range rec {
				cols[i].observe(v)
			}
		}
	case FormatJSONL:
		dec := json.NewDecoder(src)
		dec.UseNumber()
		for rep.Records < limit {
			var m map[string]any
			err := dec.Decode(&m)
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, &RecordError{Record: int64(rep.Records + 1), Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
			}
			rep.Records++
			walkLeaves("", m, func(path, v string) { field(path).observe(v) })
		}
	default:
		return nil, fmt.Errorf("tokenize: Scan needs Options.Format csv or jsonl, not %q", opts.Format)
	}
	for _, fs := range stats {
		rep.Fields = append(rep.Fields, fs.report())
	}
	return rep, nil
}

func lineOf(err error) int64 {
	if pe, ok := err.(*csv.ParseError); ok {
		return int64(pe.StartLine)
	}
	return 0
}

// walkLeaves calls f for each scalar of v, with its dotted path (arrays are
// transparent, as in policies).
func walkLeaves(path string, v any, f func(path, v string)) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkLeaves(p, x[k], f)
		}
	case []any:
		for _, e := range x {
			walkLeaves(path, e, f)
		}
	case string:
		f(path, x)
	case json.Number:
		f(path, x.String())
	}
}

// Policy returns a starter policy for the fields found to hold PII with at
// least medium confidence: deterministic tokens for emails, names and
// IBANs; FF1 for phone numbers, SSNs and card numbers (last four kept);
// hashes for IP addresses; a date shift for dates of birth, keyed by the
// first field named like an id; scan for free text; redaction for
// credentials, found at any confidence. Review it before use.
func (r *ScanReport) Policy() *Policy {
	p := &Policy{Version: 1}
	entity := ""
	for _, f := range r.Fields {
		n := strings.ToLower(f.Field)
		if n == "id" || strings.HasSuffix(n, "_id") || strings.HasSuffix(n, "id") && len(n) <= 12 {
			entity = f.Field
			break
		}
	}
	for _, f := range r.Fields {
		if fl, ok := starterField(f, entity); ok {
			p.Fields = append(p.Fields, fl)
		}
	}
	return p
}

func starterField(f *FieldReport, entity string) (Field, bool) {
	fl := Field{Name: f.Field}
	for _, t := range f.Types {
		if isCredential(t.Type) {
			fl.Op = OpRedact
			return fl, true
		}
	}
	if len(f.Types) == 0 || f.Types[0].Confidence < 0.3 {
		return fl, false
	}
	t := f.Types[0]
	if t.Type != TypePerson && t.Whole*2 < t.Matches {
		// Found inside longer text.
		fl.Op = OpScan
		return fl, true
	}
	switch t.Type {
	case TypeEmail:
		fl.Op, fl.Domain = OpDeterministic, "email"
	case TypePerson:
		fl.Op = OpDeterministic
	case TypeIBAN:
		fl.Op, fl.Domain = OpDeterministic, "iban"
	case TypePhone:
		fl.Op, fl.Alphabet, fl.Separators, fl.OnInvalid = OpFPE, "digits", ptrTo(" -.()+"), "pass"
	case TypeSSN:
		fl.Op, fl.Alphabet, fl.Separators = OpFPE, "digits", ptrTo("- ")
	case TypeCard:
		fl.Op, fl.Alphabet, fl.Separators, fl.KeepLast = OpFPE, "digits", ptrTo(" -"), ptrTo(4)
	case TypeIP:
		fl.Op = OpHash
	case TypeDateOfBirth:
		if entity == "" || entity == f.Field {
			fl.Op = OpRedact
		} else {
			fl.Op, fl.Entity = OpDateShift, entity
		}
	default:
		return fl, false
	}
	return fl, true
}

func isCredential(typ string) bool {
	for _, d := range detectors {
		if d.typ == typ {
			return d.credential
		}
	}
	return false
}

func ptrTo[T any](v T) *T { return &v }

// Text renders the report as an aligned table.
func (r *ScanReport) Text() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d records sampled\n", r.Records)
	fmt.Fprintf(&b, "%-24s %-22s %9s %7s  %s\n", "FIELD", "TYPE", "MATCHES", "WHOLE", "CONFIDENCE")
	for _, f := range r.Fields {
		if len(f.Types) == 0 {
			continue
		}
		for _, t := range f.Types {
			fmt.Fprintf(&b, "%-24s %-22s %4d/%-4d %7d  %.2f %s\n", f.Field, t.Type, t.Matches, f.Values, t.Whole, t.Confidence, t.Level)
		}
	}
	return b.String()
}
