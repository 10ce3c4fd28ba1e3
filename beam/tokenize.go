package beam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
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
		r, _, err := st.open(ctx, k.Keyset)
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

// FileOptions configure TokenizeFiles and DetokenizeFiles.
type FileOptions struct {
	Policy *tokenize.Policy
	Keys   TokenKeys
	// Format is the record format of every input; when empty it is taken
	// from each input's extension (.csv, .jsonl or .ndjson, .parquet).
	Format tokenize.Format
	// Output is the directory or s3:// prefix the outputs go to. Each
	// output is named after its input, relative to Root.
	Output string
	// Root is the prefix of the inputs' names that their outputs' names
	// leave out: inputs/a/b.csv with Root "inputs" goes to Output/a/b.csv.
	// When empty, outputs get their inputs' base names.
	Root string
	// Overwrite replaces existing outputs; otherwise such an item fails.
	Overwrite bool
	// FailOnError makes a failed item fail the pipeline, instead of
	// coming out as a Result with StatusFailed.
	FailOnError bool
	Storage     Storage
}

// TokenizeFiles tokenizes whole files or objects: a PCollection of input
// names (paths or s3:// URLs, such as fileio.MatchFiles's paths) in, a
// PCollection of Result out. Each worker streams an input from its source
// to its output with bounded memory (CSV records may span lines, so files
// are never split). An output appears only once complete: a failed item
// leaves none.
func TokenizeFiles(s beam.Scope, names beam.PCollection, opts FileOptions) beam.PCollection {
	return transformFiles(s.Scope("mlseal.TokenizeFiles"), names, opts, false)
}

// DetokenizeFiles reverses TokenizeFiles for the policy's reversible
// fields.
func DetokenizeFiles(s beam.Scope, names beam.PCollection, opts FileOptions) beam.PCollection {
	return transformFiles(s.Scope("mlseal.DetokenizeFiles"), names, opts, true)
}

func transformFiles(s beam.Scope, names beam.PCollection, opts FileOptions, detok bool) beam.PCollection {
	policy, err := policyJSON(opts.Policy)
	if err == nil {
		err = opts.Keys.check()
	}
	if err == nil && opts.Output == "" {
		err = errors.New("mlseal/beam: FileOptions.Output names no directory or prefix")
	}
	if err != nil {
		panic(err)
	}
	return beam.ParDo(s, &filesFn{
		Policy: policy, Keys: opts.Keys, Format: string(opts.Format), Output: opts.Output, Root: opts.Root,
		Overwrite: opts.Overwrite, FailOnError: opts.FailOnError, Storage: opts.Storage, Detokenize: detok,
	}, names)
}

type filesFn struct {
	Policy      string
	Keys        TokenKeys
	Format      string
	Output      string
	Root        string
	Overwrite   bool
	FailOnError bool
	Storage     Storage
	Detokenize  bool
}

func (f *filesFn) ProcessElement(ctx context.Context, source string, emit func(Result)) error {
	res := Result{Op: "tokenize", Source: source, Status: StatusDone}
	if f.Detokenize {
		res.Op = "detokenize"
	}
	if err := f.run(ctx, &res); err != nil {
		if f.FailOnError {
			return fmt.Errorf("%s %s: %w", res.Op, source, err)
		}
		res.Status, res.Error = StatusFailed, err.Error()
		res.Destination, res.BytesOut = "", 0
	}
	emit(res)
	return nil
}

func (f *filesFn) run(ctx context.Context, res *Result) error {
	format, err := formatOf(f.Format, res.Source)
	if err != nil {
		return err
	}
	if res.Destination, err = destination(res.Source, f.Root, f.Output, ""); err != nil {
		return err
	}
	// Loaded here rather than in Setup, so that a wrong key or keyset
	// comes out as failed items, like any other failure.
	tk, err := f.Keys.tokenizer(ctx, f.Storage, f.Policy)
	if err != nil {
		return err
	}
	out, err := f.Storage.create(ctx, res.Destination, f.Overwrite)
	if err != nil {
		return err
	}
	st, in, err := f.transform(ctx, tk, out, res.Source, format)
	res.Records, res.BytesIn = st.Records, in
	if err != nil {
		out.abort()
		return err
	}
	if err := out.commit(); err != nil {
		return err
	}
	res.BytesOut = out.n
	return nil
}

func (f *filesFn) transform(ctx context.Context, tk *tokenize.Tokenizer, out io.Writer, source string, format tokenize.Format) (tokenize.Stats, int64, error) {
	if format == tokenize.FormatParquet {
		ra, size, closer, err := f.Storage.openAt(ctx, source)
		if err != nil {
			return tokenize.Stats{}, 0, err
		}
		defer closer.Close()
		if f.Detokenize {
			st, err := tk.DetokenizeParquet(out, ra, size, tokenize.Options{})
			return st, size, err
		}
		st, err := tk.TokenizeParquet(out, ra, size, tokenize.Options{})
		return st, size, err
	}
	r, size, err := f.Storage.open(ctx, source)
	if err != nil {
		return tokenize.Stats{}, 0, err
	}
	defer r.Close()
	run := tk.Tokenize
	if f.Detokenize {
		run = tk.Detokenize
	}
	st, err := run(out, r, tokenize.Options{Format: format})
	return st, size, err
}

// formatOf returns the explicit format, or the one of name's extension.
func formatOf(explicit, name string) (tokenize.Format, error) {
	if explicit != "" {
		switch f := tokenize.Format(strings.ToLower(explicit)); f {
		case tokenize.FormatCSV, tokenize.FormatJSONL, tokenize.FormatParquet:
			return f, nil
		}
		return "", fmt.Errorf("unknown format %q: want csv, jsonl or parquet", explicit)
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".csv":
		return tokenize.FormatCSV, nil
	case ".jsonl", ".ndjson":
		return tokenize.FormatJSONL, nil
	case ".parquet":
		return tokenize.FormatParquet, nil
	}
	return "", fmt.Errorf("cannot tell the record format of %s from its extension: set FileOptions.Format", name)
}

func init() {
	register.DoFn3x1[string, func(string), func(Rejected), error](&linesFn{})
	register.DoFn3x1[context.Context, string, func(Result), error](&filesFn{})
	register.Emitter1[string]()
	register.Emitter1[Rejected]()
	register.Emitter1[Result]()
	beam.RegisterType(reflect.TypeFor[Rejected]())
}
