package tokenize

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Operations a policy can apply to a field.
const (
	OpDeterministic = "deterministic" // AES-SIV token, reversible, join-stable
	OpFPE           = "fpe"           // FF1 format-preserving encryption, reversible
	OpHash          = "hash"          // keyed HMAC-SHA256 pseudonym, one-way
	OpMask          = "mask"          // keep the last N characters, one-way
	OpRedact        = "redact"        // replace with a constant or drop, one-way
	OpDateShift     = "date-shift"    // move a date by a keyed per-entity offset, one-way
	OpScan          = "scan"          // free text: replace the PII spans the detectors find
)

// Defaults of field options left out of a policy.
const (
	DefaultHashLength = 24        // base64url characters of a hash token (144 bits)
	DefaultMaskKeep   = 4         // characters a mask keeps in the clear
	DefaultMaskChar   = "*"       // what a mask puts in place of the others
	DefaultSeparators = " -./()+" // characters fpe and mask keep in place
	DefaultWindowDays = 180       // largest date shift, in days, either way
	DefaultDateLayout = "2006-01-02"
)

// A Policy says which fields of a record to transform and how. Its JSON
// form is documented in FORMAT.md; ParsePolicy reads it.
type Policy struct {
	// Version is 1.
	Version int `json:"version"`
	// PRFKeyID pins the keyset's PRF key that FF1, hash and date-shift use.
	// Zero means the keyset's primary PRF key. FF1 tokens carry no key id,
	// so a policy that is used to detokenize after a rotation must pin it.
	PRFKeyID uint32 `json:"prf_key_id,omitempty"`
	// Fields are the fields to transform; the others pass through as they
	// are.
	Fields []Field `json:"fields"`
}

// A Field names one field and the operation applied to it.
type Field struct {
	// Name is a CSV column's header or a JSON path: member names joined by
	// dots ("customer.email"), arrays traversed transparently.
	Name string `json:"name"`
	// Op is one of the Op constants.
	Op string `json:"op"`
	// Domain separates tokens: the same value gets the same token in every
	// field that shares a domain, and different tokens across domains. It
	// is the field's Name when empty, and for date-shift the Entity, so
	// that all the date columns of one entity move by one offset.
	Domain string `json:"domain,omitempty"`
	// PRFKeyID overrides Policy.PRFKeyID for this field.
	PRFKeyID uint32 `json:"prf_key_id,omitempty"`
	// Optional lets a CSV header lack the column (JSON fields are always
	// optional per record).
	Optional bool `json:"optional,omitempty"`
	// OnInvalid is "error" (the default: a value the operation cannot
	// transform stops the run, or rejects the record) or "pass" (such a
	// value is left as it is).
	OnInvalid string `json:"on_invalid,omitempty"`

	// Alphabet (fpe) is a named alphabet (digits, lower, upper, alpha,
	// alnum, alnum-lower, alnum-upper, hex) or, with "chars:" before it, the
	// characters themselves in numeral order, e.g. "chars:0123456789ABCDEF".
	Alphabet string `json:"alphabet,omitempty"`
	// Separators (fpe, mask) are characters kept in place;
	// DefaultSeparators when nil. Any other character outside the alphabet
	// is invalid.
	Separators *string `json:"separators,omitempty"`
	// Parse (fpe) is "phone" for phone numbers: a North American country
	// code ("+1", or a "1" before a separator) and an extension ("x12",
	// "ext. 12", "extension 12", "#12") stay in the clear around the
	// number, whose digits are encrypted; separators are " -./()+" unless
	// Separators says otherwise. Needs alphabet digits.
	Parse string `json:"parse,omitempty"`
	// KeepLast (fpe, mask) is how many trailing alphabet characters stay in
	// the clear. For mask, nil means DefaultMaskKeep.
	KeepLast *int `json:"keep_last,omitempty"`
	// Length (hash) is the token's length in base64url characters, 8 to 43;
	// DefaultHashLength when zero.
	Length int `json:"length,omitempty"`
	// MaskChar (mask) replaces the masked characters; DefaultMaskChar when
	// empty.
	MaskChar string `json:"mask_char,omitempty"`
	// Replace (redact) is the constant that replaces the value.
	Replace string `json:"replace,omitempty"`
	// Drop (redact) removes the field: the CSV column, or the JSON member.
	Drop bool `json:"drop,omitempty"`
	// Entity (date-shift) names the field whose value keys the offset,
	// such as a customer id, so that one entity's dates all move together.
	Entity string `json:"entity,omitempty"`
	// WindowDays (date-shift) bounds the offset: it is between 1 and
	// WindowDays days, earlier or later, never zero. DefaultWindowDays when
	// zero.
	WindowDays int `json:"window_days,omitempty"`
	// Layout (date-shift) is the Go time layout of the values, such as
	// "2006-01-02" (the default) or "01/02/2006"; "rfc3339" means
	// time.RFC3339.
	Layout string `json:"layout,omitempty"`
	// Detectors (scan) are the PII types to find in free text; all the
	// scanner's text detectors when empty.
	Detectors []string `json:"detectors,omitempty"`
	// SpanOp (scan) is how a found span is replaced: "deterministic" (the
	// default: "<TYPE:token>", reversible), "hash" ("<TYPE:pseudonym>") or
	// "redact" ("<TYPE>").
	SpanOp string `json:"span_op,omitempty"`
}

// domain returns the field's domain.
func (f *Field) domain() string {
	switch {
	case f.Domain != "":
		return f.Domain
	case f.Op == OpDateShift:
		// One entity's dates move together, in every date column keyed by
		// the same entity field.
		return f.Entity
	}
	return f.Name
}

// Reversible reports whether Detokenize can undo the field's operation.
func (f *Field) Reversible() bool {
	switch f.Op {
	case OpDeterministic, OpFPE:
		return true
	case OpScan:
		return f.SpanOp == "" || f.SpanOp == OpDeterministic
	}
	return false
}

// ErrPolicy means a policy is invalid; the error says which field and why.
var ErrPolicy = errors.New("tokenize: invalid policy")

// ParsePolicy reads a policy in its JSON form and validates it. Unknown
// members are errors, so that a misspelt option is not silently ignored.
func ParsePolicy(data []byte) (*Policy, error) {
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicy, jsonErr(data, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the policy object", ErrPolicy)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// LoadPolicy reads and validates the policy file at path.
func LoadPolicy(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return nil, err
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// jsonErr adds a line number to a JSON syntax or type error.
func jsonErr(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	return fmt.Errorf("line %d: %v", line, err)
}

// Validate checks the policy as ParsePolicy does: known operations, options
// that belong to them, sane values, and no field named twice.
func (p *Policy) Validate() error {
	if p.Version != 1 {
		return fmt.Errorf("%w: version %d, want 1", ErrPolicy, p.Version)
	}
	if len(p.Fields) == 0 {
		return fmt.Errorf("%w: no fields", ErrPolicy)
	}
	seen := map[string]bool{}
	for i := range p.Fields {
		f := &p.Fields[i]
		if err := f.validate(); err != nil {
			name := f.Name
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			return fmt.Errorf("%w: field %q: %v", ErrPolicy, name, err)
		}
		if seen[f.Name] {
			return fmt.Errorf("%w: field %q is named twice", ErrPolicy, f.Name)
		}
		seen[f.Name] = true
	}
	for i := range p.Fields {
		f := &p.Fields[i]
		if f.Op == OpDateShift && f.Entity == f.Name {
			return fmt.Errorf("%w: field %q: entity is the field itself; name the field that identifies the person, such as a customer id", ErrPolicy, f.Name)
		}
	}
	return nil
}

func (f *Field) validate() error {
	if f.Name == "" {
		return errors.New("no name")
	}
	if strings.HasPrefix(f.Name, ".") || strings.HasSuffix(f.Name, ".") || strings.Contains(f.Name, "..") {
		return errors.New("a JSON path has an empty member name")
	}
	switch f.OnInvalid {
	case "", "error", "pass":
	default:
		return fmt.Errorf("on_invalid %q: want error or pass", f.OnInvalid)
	}
	// Options that belong to other operations are refused.
	type opt struct {
		name string
		set  bool
		ops  []string
	}
	opts := []opt{
		{"alphabet", f.Alphabet != "", []string{OpFPE}},
		{"separators", f.Separators != nil, []string{OpFPE, OpMask}},
		{"parse", f.Parse != "", []string{OpFPE}},
		{"keep_last", f.KeepLast != nil, []string{OpFPE, OpMask}},
		{"length", f.Length != 0, []string{OpHash}},
		{"mask_char", f.MaskChar != "", []string{OpMask}},
		{"replace", f.Replace != "", []string{OpRedact}},
		{"drop", f.Drop, []string{OpRedact}},
		{"entity", f.Entity != "", []string{OpDateShift}},
		{"window_days", f.WindowDays != 0, []string{OpDateShift}},
		{"layout", f.Layout != "", []string{OpDateShift}},
		{"detectors", len(f.Detectors) > 0, []string{OpScan}},
		{"span_op", f.SpanOp != "", []string{OpScan}},
		{"domain", f.Domain != "", []string{OpDeterministic, OpFPE, OpHash, OpDateShift, OpScan}},
		{"prf_key_id", f.PRFKeyID != 0, []string{OpFPE, OpHash, OpDateShift, OpScan}},
	}
	for _, o := range opts {
		if o.set && !contains(o.ops, f.Op) {
			return fmt.Errorf("option %s does not apply to op %q (only to %s)", o.name, f.Op, strings.Join(o.ops, ", "))
		}
	}
	switch f.Op {
	case OpDeterministic, OpRedact:
		if f.Drop && f.Replace != "" {
			return errors.New("drop and replace together: choose one")
		}
	case OpFPE:
		if f.Alphabet == "" {
			return errors.New("fpe needs an alphabet (digits, lower, upper, alpha, alnum, alnum-lower, alnum-upper, hex, or chars:...)")
		}
		if _, err := parseAlphabet(f.Alphabet); err != nil {
			return err
		}
		if f.KeepLast != nil && *f.KeepLast < 0 {
			return errors.New("keep_last is negative")
		}
		switch f.Parse {
		case "":
		case "phone":
			if f.Alphabet != "digits" {
				return fmt.Errorf("parse phone needs alphabet digits, not %q", f.Alphabet)
			}
		default:
			return fmt.Errorf("parse %q: want phone", f.Parse)
		}
	case OpHash:
		if f.Length != 0 && (f.Length < 8 || f.Length > 43) {
			return fmt.Errorf("length %d is outside 8..43", f.Length)
		}
	case OpMask:
		if f.KeepLast != nil && *f.KeepLast < 0 {
			return errors.New("keep_last is negative")
		}
		if f.MaskChar != "" && len([]rune(f.MaskChar)) != 1 {
			return fmt.Errorf("mask_char %q is not one character", f.MaskChar)
		}
	case OpDateShift:
		if f.Entity == "" {
			return errors.New("date-shift needs an entity: the field whose value keys the offset, such as a customer id")
		}
		if f.WindowDays < 0 || f.WindowDays > 100*366 {
			return fmt.Errorf("window_days %d is outside 1..36600", f.WindowDays)
		}
	case OpScan:
		switch f.SpanOp {
		case "", OpDeterministic, OpHash, OpRedact:
		default:
			return fmt.Errorf("span_op %q: want deterministic, hash or redact", f.SpanOp)
		}
		for _, d := range f.Detectors {
			if !isTextDetector(d) {
				return fmt.Errorf("detector %q is not one of %s", d, strings.Join(textDetectorNames(), ", "))
			}
		}
	case "":
		return errors.New("no op")
	default:
		return fmt.Errorf("unknown op %q: want deterministic, fpe, hash, mask, redact, date-shift or scan", f.Op)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Marshal returns the policy's JSON form, indented.
func (p *Policy) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
