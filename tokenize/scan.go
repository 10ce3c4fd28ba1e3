package tokenize

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// TypePerson is reported for fields whose name says they hold people's
// names and whose values are shaped like names. There is no detector for
// names in text: that needs a language model.
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
	Types  []*TypeReport `json:"types"`  // most confident first

	layout string // of dates of birth, for the starter policy
}

// A TypeReport is one PII type found in a field.
type TypeReport struct {
	Type string `json:"type"`
	// Matches is the number of values in which the type was found.
	Matches int `json:"matches"`
	// Whole is the number of those values that are the PII and nothing
	// else; the others hold it inside longer text.
	Whole int `json:"whole"`
	// Confidence is how sure the scanner is that the field holds the type,
	// from 0 to 1. It starts as Matches / Values; is at least 0.3 when the
	// type is in 3 values and 2% of them (validated PII in some notes is
	// still PII); at least 0.5 for each type in 5% of the values of a field
	// whose values mostly hold PII of several kinds; plus 0.25 when the
	// field's name hints at the type; and lowered when the name says the
	// field holds identifiers, codes or things (order_id, model_name): by
	// 0.25 for emails and IBANs, to a quarter for the rest. Card numbers in
	// a field of ids (most of its long numbers fail the checks, or they
	// count up) get 0. PERSON is 0.75 x the share of values shaped like
	// names, only in a field whose name says it holds them.
	Confidence float64 `json:"confidence"`
	// Level is "high" (0.8 and above), "medium" (0.3 and above) or "low".
	Level string `json:"level"`
}

// headerHints maps words of field names to the type they suggest. Names
// are split into lower-case words at '_', '-', '.', spaces and camelCase
// humps ("dateOfBirth" is date_of_birth); a hint of several words matches
// them in sequence.
var headerHints = []struct {
	words []string
	typ   string
}{
	{[]string{"email", "e_mail", "mail", "emailaddress"}, TypeEmail},
	{[]string{"phone", "mobile", "tel", "telephone", "fax", "cell", "msisdn", "phonenumber", "contact_no", "contact_number", "whatsapp"}, TypePhone},
	{[]string{"ssn", "social_security", "socialsecurity"}, TypeSSN},
	{[]string{"card", "cc", "pan", "creditcard", "cardnumber"}, TypeCard},
	{[]string{"iban"}, TypeIBAN},
	{[]string{"ip", "ipaddress", "ipv4", "ipv6", "remote_addr"}, TypeIP},
	{[]string{"dob", "birth", "birthday", "birthdate", "born", "bday"}, TypeDateOfBirth},
	{[]string{"name", "firstname", "lastname", "fullname", "surname", "given_name", "customer", "client", "patient",
		"employee", "cardholder", "person", "contact_name", "recipient"}, TypePerson},
}

// notPIIWords in a field's name say that it holds identifiers, codes,
// versions, times or things rather than people: "order_id", "model_name",
// "company_name". They lower confidence and cancel a name hint.
var notPIIWords = []string{"order", "invoice", "sku", "product", "company", "org", "organization", "vendor",
	"model", "table", "file", "filename", "host", "hostname", "version", "build", "commit", "sha", "hash",
	"checksum", "uuid", "guid", "isbn", "price", "amount", "total", "quantity", "qty", "count", "score",
	"timestamp", "ts", "epoch", "tracking", "shipment", "txn", "transaction", "ref", "request", "trace",
	"session", "part", "serial", "object", "item", "last4", "user", "username", "column",
	"field", "schema", "database", "bucket", "queue", "topic", "event", "job", "task", "app", "service"}

// nameWords splits a field's name into lower-case words.
func nameWords(field string) []string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		field = field[i+1:]
	}
	var words []string
	var w []rune
	prevLower := false
	for _, r := range field {
		switch {
		case r == '_' || r == '-' || r == ' ':
			if len(w) > 0 {
				words = append(words, string(w))
			}
			w, prevLower = w[:0], false
			continue
		case unicode.IsUpper(r) && prevLower:
			words = append(words, string(w))
			w = w[:0]
		}
		prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
		w = append(w, unicode.ToLower(r))
	}
	if len(w) > 0 {
		words = append(words, string(w))
	}
	return words
}

// hintOf returns the type a field's name suggests, or "", and whether the
// name says the field holds no personal data.
func hintOf(field string) (hint string, notPII bool) {
	words := nameWords(field)
	joined := "_" + strings.Join(words, "_") + "_"
	for _, w := range notPIIWords {
		if slices.Contains(words, w) {
			notPII = true
		}
	}
	for _, h := range headerHints {
		for _, w := range h.words {
			if strings.Contains(joined, "_"+w+"_") {
				if h.typ == TypePerson && notPII {
					break
				}
				// A hint for a type wins over the words that lower
				// confidence ("phone_verified_at" is still a phone hint).
				return h.typ, h.typ == TypePerson && notPII
			}
		}
	}
	return "", notPII
}

type fieldStats struct {
	name   string
	hint   string
	notPII bool // the name says the field holds no personal data
	values int
	types  map[string]*TypeReport
	anyPII int // values holding some PII that is not a credential

	// Card numbers: whole values shaped like one (13 to 19 digits), how
	// many of them pass the checks, and those that do.
	cardShaped, cardValid int
	cards                 []uint64

	names   int            // values shaped like a person's name
	layouts map[string]int // values each date layout parses
}

func newFieldStats(name string) *fieldStats {
	hint, notPII := hintOf(name)
	return &fieldStats{name: name, hint: hint, notPII: notPII, types: map[string]*TypeReport{}, layouts: map[string]int{}}
}

// observe runs the detectors on one value.
func (fs *fieldStats) observe(v string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return
	}
	fs.values++
	var seenBuf [8]string
	seen := seenBuf[:0]
	add := func(typ string, whole bool) {
		if slices.Contains(seen, typ) {
			return
		}
		seen = append(seen, typ)
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
	for _, s := range findSpans(v, detectors()) {
		add(s.d.typ, s.start == 0 && s.end == len(v))
	}
	if cardShaped(v) {
		d := digitsOf(v)
		fs.cardShaped++
		if validCard(d) {
			fs.cardValid++
			n, _ := strconv.ParseUint(d, 10, 64)
			fs.cards = append(fs.cards, n)
		}
	}
	// Values the text detectors leave alone but the header explains.
	switch fs.hint {
	case TypeDateOfBirth:
		found := false
		for _, l := range dateLayouts {
			if plausibleBirthDate(l, v) {
				fs.layouts[l]++
				found = true
			}
		}
		if found {
			add(TypeDateOfBirth, true)
		}
	case TypeSSN:
		if len(v) == 9 && allDigits(v) && validSSN(v) {
			add(TypeSSN, true)
		}
	case TypePhone:
		if d := digitsOf(v); len(d) >= 8 && len(d) <= 15 && len(d)+6 >= len(v) && validPhone(v) && !slices.Contains(seen, TypePhone) {
			add(TypePhone, !strings.ContainsAny(v, "xX#"))
		}
	case TypeCard:
		if validCard(v) {
			add(TypeCard, true)
		}
	case TypePerson:
		if nameShaped(v) {
			fs.names++
		}
	}
	for _, typ := range seen {
		if !isCredential(typ) {
			fs.anyPII++
			break
		}
	}
}

// cardShaped reports whether v is 13 to 19 digits, perhaps grouped by
// spaces or dashes: a card number or an id as long.
func cardShaped(v string) bool {
	digits := 0
	for i := range len(v) {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c != ' ' && c != '-' || i == 0:
			return false
		}
	}
	return digits >= 13 && digits <= 19 && digits+3 >= len(v)
}

// nameShaped reports whether v could be a person's name: one to five words
// of letters (with ' - . and one comma: "O'Brien, Mary-Jane B."), no digits.
func nameShaped(v string) bool {
	if len(v) > 80 || strings.Count(v, ",") > 1 {
		return false
	}
	letters := 0
	for _, r := range v {
		switch {
		case unicode.IsLetter(r):
			letters++
		case strings.ContainsRune(" '-.,’", r):
		default:
			return false
		}
	}
	n := len(strings.Fields(v))
	return letters >= 2 && n >= 1 && n <= 5
}

// sequential reports whether most of the numbers, sorted, lie within
// 100,000 of the next: ids counted up, not card numbers, which are spread
// over their issuer's range even when their check digits are right.
func sequential(ns []uint64) bool {
	if len(ns) < 5 {
		return false
	}
	ns = slices.Clone(ns)
	slices.Sort(ns)
	close := 0
	for i := 1; i < len(ns); i++ {
		if ns[i]-ns[i-1] < 100_000 {
			close++
		}
	}
	return close*2 >= len(ns)-1
}

// strongTypes have checks that look-alikes fail (an email's shape, an
// IBAN's mod-97): a field's name lowers their confidence less.
var strongTypes = []string{TypeEmail, TypeIBAN}

func (fs *fieldStats) report() *FieldReport {
	fr := &FieldReport{Field: fs.name, Values: fs.values}
	n := float64(max(fs.values, 1))
	// A field whose values mostly hold PII, of several kinds: each kind
	// found in a twentieth of them is medium (a contact column of emails
	// and phone numbers).
	kinds := 0
	for _, tr := range fs.types {
		if !isCredential(tr.Type) && float64(tr.Matches)/n >= 0.05 {
			kinds++
		}
	}
	mixed := kinds >= 2 && float64(fs.anyPII)/n >= 0.5
	for _, tr := range fs.types {
		share := float64(tr.Matches) / n
		c := share
		if tr.Matches >= 3 && share >= 0.02 {
			// A few validated values are evidence that the field holds
			// the type (notes of which some hold an email address).
			c = max(c, 0.3)
		}
		if mixed && share >= 0.05 {
			c = max(c, 0.5)
		}
		switch {
		case fs.hint == tr.Type:
			c += 0.25
		case fs.notPII && slices.Contains(strongTypes, tr.Type):
			c -= 0.25
		case fs.notPII:
			c *= 0.25
		}
		if tr.Type == TypeCard && fs.cardShaped >= 5 && (fs.cardValid*5 < fs.cardShaped*4 || sequential(fs.cards)) {
			// Ids whose check digits pass by chance (a tenth of them) or
			// by design (sequential ids with a Luhn digit).
			c = 0
		}
		tr.Confidence = min(1, max(0, c))
		fr.Types = append(fr.Types, tr)
	}
	if fs.hint == TypePerson && fs.names > 0 {
		share := float64(fs.names) / n
		fr.Types = append(fr.Types, &TypeReport{Type: TypePerson, Matches: fs.names, Whole: fs.names, Confidence: 0.75 * share})
	}
	for _, tr := range fr.Types {
		tr.Confidence = math.Round(tr.Confidence*1000) / 1000
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
	if fs.hint == TypeDateOfBirth {
		best := 0
		for _, l := range dateLayouts { // the first of equally good layouts
			if fs.layouts[l] > best {
				fr.layout, best = l, fs.layouts[l]
			}
		}
	}
	return fr
}

// Scan reads a sample of records from src and reports, per field, the PII
// types found in it and how sure it is. Detectors are validated (Luhn and
// issuer ranges for cards, SSA rules for SSNs, mod-97 for IBANs, address
// parsing for IPs) to keep false positives low; dates of birth and names
// are found by the fields' names. Scan reads no more than it samples.
func Scan(src io.Reader, opts ScanOptions) (*ScanReport, error) {
	limit := positive(opts.SampleRecords, DefaultSampleRecords)
	// A byte order mark is not part of the first field's name: a starter
	// policy naming "\ufeffid" would not match the column.
	br := bufio.NewReader(src)
	if b, _ := br.Peek(3); string(b) == "\ufeff" {
		br.Discard(3)
	}
	src = br
	rep := &ScanReport{}
	var stats []*fieldStats
	byName := map[string]*fieldStats{}
	field := func(name string) *fieldStats {
		fs := byName[name]
		if fs == nil {
			fs = newFieldStats(name)
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
// hashes for IP addresses; a date shift for dates of birth (in the layout
// found), keyed by the first field named like an id; scan for free text
// and for fields whose values hold PII of several kinds; redaction for
// credentials, found at any confidence. No field is given on_invalid
// "pass". A field that a policy cannot name ("", ".") is left out. Review
// it before use.
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
		// A field the policy cannot name (a CSV column called "" or ".")
		// is left out; the report still shows what it holds.
		if fl, ok := starterField(f, entity); ok && fl.validate() == nil {
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
	kinds := 0
	for _, k := range f.Types {
		if k.Type != TypePerson && k.Level != "low" {
			kinds++
		}
	}
	if kinds > 1 || t.Type != TypePerson && t.Whole*2 < t.Matches {
		// Found inside longer text, or values of several kinds: one
		// operation does not fit them all.
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
		// Not on_invalid "pass": a number written in a way FF1 cannot
		// take would be left in the clear.
		// parse phone: extensions, / and a +1 country code are
		// tokenized too.
		fl.Op, fl.Alphabet, fl.Parse = OpFPE, "digits", "phone"
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
			if f.layout != DefaultDateLayout {
				fl.Layout = f.layout
			}
		}
	default:
		return fl, false
	}
	return fl, true
}

func isCredential(typ string) bool {
	for _, d := range detectors() {
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
