package tokenize

import (
	"fmt"
)

// A Tokenizer applies a Policy with the keys of a Keyset. It is safe for
// concurrent use; building one derives the per-domain keys once. While
// values repeat, it keeps the deterministic tokens of up to 32768 recent
// values per deterministic field in memory (a lookup costs less than
// AES-SIV and base64), so it should live no longer than the job that needs
// the plaintext anyway.
type Tokenizer struct {
	ks     *Keyset
	policy *Policy
	ops    []*fieldOp
	byName map[string]*fieldOp
}

// New returns a Tokenizer for the policy and keyset. It fails if the
// policy is invalid or pins a PRF key the keyset does not hold.
func New(ks *Keyset, p *Policy) (*Tokenizer, error) {
	if ks == nil || p == nil {
		return nil, fmt.Errorf("tokenize: New needs a keyset and a policy")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	t := &Tokenizer{ks: ks, policy: p, byName: map[string]*fieldOp{}}
	for i := range p.Fields {
		o, err := compileField(ks, p, &p.Fields[i])
		if err != nil {
			return nil, err
		}
		o.idx = len(t.ops)
		t.ops = append(t.ops, o)
		t.byName[o.f.Name] = o
	}
	return t, nil
}

// Policy returns the tokenizer's policy. It must not be changed.
func (t *Tokenizer) Policy() *Policy { return t.policy }

func (t *Tokenizer) op(field string) (*fieldOp, error) {
	o := t.byName[field]
	if o == nil {
		return nil, fmt.Errorf("tokenize: the policy has no field %q", field)
	}
	return o, nil
}

// TokenizeValue transforms one value of the named field. entity is the
// value of the field's date-shift entity (a customer id, say) and is
// ignored by the other operations. An empty value stays empty. A redact
// field with drop set gives "".
func (t *Tokenizer) TokenizeValue(field, value, entity string) (string, error) {
	o, err := t.op(field)
	if err != nil {
		return "", err
	}
	if value == "" {
		return "", nil
	}
	out, err := o.tokenize(value, entity)
	if err != nil {
		return "", fmt.Errorf("field %q: %w", field, err)
	}
	return out, nil
}

// DetokenizeValue reverses TokenizeValue for deterministic, fpe and scan
// (deterministic spans) fields. Values of one-way fields (hash, mask,
// redact, date-shift) are returned unchanged: they cannot be reversed.
func (t *Tokenizer) DetokenizeValue(field, token string) (string, error) {
	o, err := t.op(field)
	if err != nil {
		return "", err
	}
	if token == "" {
		return "", nil
	}
	out, err := o.detokenize(token)
	if err != nil {
		return "", fmt.Errorf("field %q: %w", field, err)
	}
	return out, nil
}

// keyRecorded refuses to tokenize while an fpe field's PRF key is neither
// named by the policy nor the keyset's only one: FF1 tokens carry no key
// id, so the policy is where the key must be recorded for detokenize.
func (t *Tokenizer) keyRecorded() error {
	for _, o := range t.ops {
		if o.f.Op == OpFPE && o.ambiguous {
			return fmt.Errorf("tokenize: field %q: %w", o.f.Name, o.errKeyVersion())
		}
	}
	return nil
}

func (t *Tokenizer) newCounts() *valueCounts { return newValueCounts(len(t.ops)) }

// report tells the token caches how a batch used them, and keeps the
// batch's counts of values passed through.
func (t *Tokenizer) report(b *batch, n *valueCounts) {
	t.reportCaches(n)
	b.passed = n.passed
}

// reportCaches tells the token caches how a batch used them.
func (t *Tokenizer) reportCaches(n *valueCounts) {
	for _, o := range t.ops {
		if o.cache != nil {
			o.cache.report(&n.cache[o.idx])
		}
	}
}
