package beam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/mlseal/mlseal/tokenize"
)

// TokenKeys name a token keyset and the envelope keys that unwrap it.
// Workers read and unwrap the keyset themselves, once per worker.
type TokenKeys struct {
	// Keyset is the keyset file ('mlseal tokenize keygen'): a path on the
	// workers or an s3:// object. It is encrypted; the pipeline carries
	// only its name.
	Keyset string
	// Keys unwrap the keyset.
	Keys Keys
}

func (k TokenKeys) check() error {
	if k.Keyset == "" {
		return errors.New("mlseal/beam: no token keyset: set TokenKeys.Keyset to the keyset file")
	}
	return k.Keys.Check()
}

// tokenizer returns the worker's tokenizer for the policy (JSON) and keys.
func (k TokenKeys) tokenizer(ctx context.Context, st Storage, policy string) (*tokenize.Tokenizer, error) {
	return perWorker(workerID("tokenizer", k, st, policy), func() (*tokenize.Tokenizer, error) {
		p, err := tokenize.ParsePolicy([]byte(policy))
		if err != nil {
			return nil, err
		}
		kr, err := k.Keys.keyring(ctx, true)
		if err != nil {
			return nil, err
		}
		r, err := st.read(ctx, k.Keyset)
		if err != nil {
			return nil, fmt.Errorf("mlseal/beam: token keyset: %w", err)
		}
		defer r.Close()
		ks, err := tokenize.ReadKeyset(ctx, r, kr)
		if err != nil {
			return nil, fmt.Errorf("mlseal/beam: token keyset %s: %w", k.Keyset, err)
		}
		return tokenize.New(ks, p)
	})
}

// policyJSON validates a policy and returns the form a pipeline carries.
// A policy names fields and operations, never keys.
func policyJSON(p *tokenize.Policy) (string, error) {
	if p == nil {
		return "", errors.New("mlseal/beam: no tokenization policy")
	}
	if err := p.Validate(); err != nil {
		return "", err
	}
	b, err := p.Marshal()
	return string(b), err
}

// LinesOptions configure TokenizeLines and DetokenizeLines.
type LinesOptions struct {
	Policy  *tokenize.Policy
	Keys    TokenKeys
	Storage Storage // to read an s3:// keyset
}

// A Rejected is an element that could not be tokenized, with the reason
// (which names the record's field, never its value).
type Rejected struct {
	Line  string
	Error string
}

// TokenizeLines tokenizes a PCollection of JSON Lines records (strings,
// each one JSON object) with the policy, for pipelines that already hold
// records. It returns the tokenized records, in the same form, and the
// records that could not be parsed or transformed, as Rejected.
func TokenizeLines(s beam.Scope, lines beam.PCollection, opts LinesOptions) (tokenized, rejected beam.PCollection) {
	return transformLines(s.Scope("mlseal.TokenizeLines"), lines, opts, false)
}

// DetokenizeLines reverses TokenizeLines for the policy's reversible fields.
func DetokenizeLines(s beam.Scope, lines beam.PCollection, opts LinesOptions) (detokenized, rejected beam.PCollection) {
	return transformLines(s.Scope("mlseal.DetokenizeLines"), lines, opts, true)
}

func transformLines(s beam.Scope, lines beam.PCollection, opts LinesOptions, detok bool) (beam.PCollection, beam.PCollection) {
	policy, err := policyJSON(opts.Policy)
	if err == nil {
		err = opts.Keys.check()
	}
	if err != nil {
		panic(err) // as Beam's own transforms do on bad construction arguments
	}
	fn := &linesFn{Policy: policy, Keys: opts.Keys, Storage: opts.Storage, Detokenize: detok}
	return beam.ParDo2(s, fn, lines)
}

type linesFn struct {
	Policy     string
	Keys       TokenKeys
	Storage    Storage
	Detokenize bool

	tk *tokenize.Tokenizer
}

func (f *linesFn) Setup(ctx context.Context) error {
	tk, err := f.Keys.tokenizer(ctx, f.Storage, f.Policy)
	f.tk = tk
	return err
}

func (f *linesFn) ProcessElement(line string, emit func(string), reject func(Rejected)) error {
	var out, rej bytes.Buffer
	var recErr *tokenize.RecordError
	opts := tokenize.Options{
		Format: tokenize.FormatJSONL, Workers: 1, Rejects: &rej,
		OnReject: func(e *tokenize.RecordError) { recErr = e },
	}
	run := f.tk.Tokenize
	if f.Detokenize {
		run = f.tk.Detokenize
	}
	// The stream API splits at newlines: one element is one record, so a
	// newline inside it can only be a malformed record.
	if strings.ContainsRune(strings.TrimSuffix(line, "\n"), '\n') {
		reject(Rejected{Line: line, Error: "the element holds more than one line: give one JSON object per element"})
		return nil
	}
	if _, err := run(&out, strings.NewReader(strings.TrimSuffix(line, "\n")+"\n"), opts); err != nil {
		return err
	}
	if recErr != nil {
		reject(Rejected{Line: line, Error: recErr.Error()})
		return nil
	}
	emit(strings.TrimSuffix(out.String(), "\n"))
	return nil
}

// formatOf checks an explicit record format.
func formatOf(name string) (tokenize.Format, error) {
	switch f := tokenize.Format(strings.ToLower(name)); f {
	case tokenize.FormatCSV, tokenize.FormatJSONL, tokenize.FormatParquet:
		return f, nil
	}
	return "", fmt.Errorf("mlseal/beam: unknown format %q: want csv, jsonl or parquet", name)
}

func init() {
	register.DoFn3x1[string, func(string), func(Rejected), error](&linesFn{})
	register.Emitter1[string]()
	register.Emitter1[Rejected]()
	beam.RegisterType(reflect.TypeFor[Rejected]())
}
