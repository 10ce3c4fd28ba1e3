package beam

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/s3io"
	"github.com/mlseal/mlseal/tokenize"
)

// Storage says how workers reach S3 for s3:// names. The zero value uses
// the standard AWS configuration (AWS_REGION, AWS_ENDPOINT_URL_S3, profiles,
// AWS_CA_BUNDLE), with path-style addressing for IP and localhost endpoints.
type Storage struct {
	S3Region    string
	S3Endpoint  string
	S3PathStyle bool
}

func (st Storage) config() s3io.Config {
	return s3io.Config{Region: st.S3Region, Endpoint: st.S3Endpoint, PathStyle: st.S3PathStyle}
}

// read opens a local file or an s3:// object.
func (st Storage) read(ctx context.Context, name string) (io.ReadCloser, error) {
	if !strings.HasPrefix(name, "s3://") {
		return os.Open(name)
	}
	bucket, key, err := s3io.ParseURL(name)
	if err != nil {
		return nil, err
	}
	c, err := perWorker(workerID("s3", st), func() (*s3io.Client, error) { return s3io.NewFromConfig(ctx, st.config()) })
	if err != nil {
		return nil, err
	}
	return c.Get(ctx, bucket, key, s3io.GetOptions{})
}

// Files configure where the file transforms write and how they fail.
type Files struct {
	// Output is the directory or s3:// prefix the outputs go to. An input
	// named by a file or object is written under its base name; a
	// directory or prefix given as an input has its tree mirrored below
	// Output, as the mlseal command does.
	Output string
	// Overwrite replaces existing outputs; otherwise such an item fails.
	Overwrite bool
	// FailOnError makes a failed item fail the pipeline, instead of
	// coming out as a Result with StatusFailed.
	FailOnError bool
	Storage     Storage
}

// EncryptOptions configure EncryptFiles.
type EncryptOptions struct {
	Files
	// Keys wrap each data key; the first generates it.
	Keys Keys
	// Context is the encryption context of every message (not secret:
	// stored in it and authenticated).
	Context map[string]string
	// RequiredContextKeys are keys of Context that are authenticated but
	// not stored: whoever decrypts must supply them.
	RequiredContextKeys []string
	// Signed selects the signed suite (ECDSA P-384).
	Signed bool
	// FrameLength is the plaintext bytes per frame; the engine's default
	// when zero.
	FrameLength int
	// Suffix is added to output names, dataset.DefaultSuffix when empty.
	Suffix string
}

// DecryptOptions configure DecryptFiles.
type DecryptOptions struct {
	Files
	// Keys are the keys that may unwrap each data key (KMS keys by ARN).
	Keys Keys
	// Context is the encryption context the messages must have.
	Context map[string]string
	// UnsignedOnly refuses signed messages before releasing anything.
	UnsignedOnly bool
	// AllowLegacy reads messages of the suites without key commitment.
	AllowLegacy bool
	// Suffix is removed from output names, dataset.DefaultSuffix when
	// empty.
	Suffix string
}

// RewrapOptions configure RewrapFiles.
type RewrapOptions struct {
	Files
	// OldKeys unwrap each data key.
	OldKeys Keys
	// NewKeys wrap it anew: the new messages' wrapped keys are exactly
	// these.
	NewKeys Keys
	// Context is the encryption context the messages must have.
	Context map[string]string
}

// FileOptions configure TokenizeFiles and DetokenizeFiles.
type FileOptions struct {
	Files
	Policy *tokenize.Policy
	Keys   TokenKeys
	// Format is the record format of every input; when empty it is taken
	// from each input's extension (.csv, .jsonl or .ndjson, .parquet).
	Format tokenize.Format
}

// EncryptFiles encrypts files or objects: a PCollection of input names in
// (paths, directories, s3:// objects or prefixes; fileio.MatchFiles's
// paths, or a list), a PCollection of dataset.Result out, one per item.
// Each worker streams an item from its source to its output with the
// dataset engine, so no data passes through the runner. An output appears
// only once complete: a failed item leaves none, and comes out as a Result
// with StatusFailed unless FailOnError is set.
//
// Each worker loads the keys once and shares one data-key cache between
// its items: one GenerateDataKey per CacheMaxAge or CacheMaxMessages.
func EncryptFiles(s beam.Scope, names beam.PCollection, opts EncryptOptions) beam.PCollection {
	op := opSpec{Op: "encrypt", Keys: opts.Keys, Context: opts.Context, RequiredContextKeys: opts.RequiredContextKeys,
		Signed: opts.Signed, FrameLength: opts.FrameLength, Suffix: opts.Suffix}
	return files(s.Scope("mlseal.EncryptFiles"), names, op, opts.Files)
}

// DecryptFiles decrypts and authenticates files or objects, as
// EncryptFiles encrypts them. An output appears only once its whole
// message is authenticated.
func DecryptFiles(s beam.Scope, names beam.PCollection, opts DecryptOptions) beam.PCollection {
	op := opSpec{Op: "decrypt", Keys: opts.Keys, Context: opts.Context, UnsignedOnly: opts.UnsignedOnly,
		AllowLegacy: opts.AllowLegacy, Suffix: opts.Suffix}
	return files(s.Scope("mlseal.DecryptFiles"), names, op, opts.Files)
}

// RewrapFiles gives each message new wrapping keys without re-encrypting
// it (see dataset.Rewrap): a new header, the body copied unchanged (from
// S3 to S3, by S3 itself). Outputs keep their inputs' names. It retires a
// key for the future; it does not help against whoever already unwrapped a
// data key with the old one.
func RewrapFiles(s beam.Scope, names beam.PCollection, opts RewrapOptions) beam.PCollection {
	op := opSpec{Op: "rewrap", Keys: opts.OldKeys, NewKeys: opts.NewKeys, Context: opts.Context}
	return files(s.Scope("mlseal.RewrapFiles"), names, op, opts.Files)
}

// TokenizeFiles tokenizes whole files or objects (CSV, JSON Lines or
// Parquet) with the dataset engine, as EncryptFiles encrypts them: files
// are never split, since CSV records may span lines. Outputs keep their
// inputs' names.
func TokenizeFiles(s beam.Scope, names beam.PCollection, opts FileOptions) beam.PCollection {
	return tokenizeFiles(s.Scope("mlseal.TokenizeFiles"), names, opts, "tokenize")
}

// DetokenizeFiles reverses TokenizeFiles for the policy's reversible
// fields.
func DetokenizeFiles(s beam.Scope, names beam.PCollection, opts FileOptions) beam.PCollection {
	return tokenizeFiles(s.Scope("mlseal.DetokenizeFiles"), names, opts, "detokenize")
}

func tokenizeFiles(s beam.Scope, names beam.PCollection, opts FileOptions, op string) beam.PCollection {
	policy, err := policyJSON(opts.Policy)
	if err != nil {
		panic(err)
	}
	if opts.Format != "" {
		if _, err := formatOf(string(opts.Format)); err != nil {
			panic(err)
		}
	}
	return files(s, names, opSpec{Op: op, Keys: opts.Keys.Keys, Keyset: opts.Keys.Keyset, Policy: policy, Format: string(opts.Format)}, opts.Files)
}

// files plans each input on a worker (directories walked, prefixes
// listed), spreads the items over the workers, and processes each with the
// dataset engine.
func files(s beam.Scope, names beam.PCollection, op opSpec, f Files) beam.PCollection {
	if err := op.check(); err != nil {
		panic(err) // as Beam's own transforms do on bad construction arguments
	}
	if f.Output == "" {
		panic("mlseal/beam: Files.Output names no directory or s3:// prefix")
	}
	items, planFailed := beam.ParDo2(s, &planFn{Op: op, Files: f}, names)
	done := beam.ParDo(s, &itemFn{Op: op, Files: f}, beam.Reshuffle(s, items))
	return beam.Flatten(s, done, planFailed)
}

// opSpec is an operation as a pipeline carries it: settings and key
// references, from which each worker makes the dataset.Operation.
type opSpec struct {
	Op                  string
	Keys                Keys
	NewKeys             Keys `json:",omitzero"`
	Context             map[string]string
	RequiredContextKeys []string `json:",omitempty"`
	Signed              bool     `json:",omitempty"`
	FrameLength         int      `json:",omitempty"`
	Suffix              string   `json:",omitempty"`
	UnsignedOnly        bool     `json:",omitempty"`
	AllowLegacy         bool     `json:",omitempty"`
	Policy              string   `json:",omitempty"` // tokenize: the policy's JSON
	Keyset              string   `json:",omitempty"` // tokenize: the keyset file's name
	Format              string   `json:",omitempty"`
}

func (o opSpec) check() error {
	if err := o.Keys.Check(); err != nil {
		return err
	}
	switch o.Op {
	case "rewrap":
		return o.NewKeys.Check()
	case "tokenize", "detokenize":
		return TokenKeys{Keyset: o.Keyset, Keys: o.Keys}.check()
	}
	return nil
}

// operation makes the dataset operation. Without keys it is only good for
// planning (output names), and loads nothing.
func (o opSpec) operation(ctx context.Context, st Storage, keys bool) (dataset.Operation, error) {
	switch o.Op {
	case "encrypt":
		op := &dataset.Encrypt{Suffix: o.Suffix, Options: envelope.EncryptOptions{
			Context: o.Context, RequiredContextKeys: o.RequiredContextKeys, FrameLength: o.FrameLength}}
		if o.Signed {
			op.Options.Suite = envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384
		}
		if keys {
			mm, err := o.Keys.materials(ctx, false)
			if err != nil {
				return nil, err
			}
			op.Options.Materials = mm
		}
		return op, nil
	case "decrypt":
		op := &dataset.Decrypt{Suffix: o.Suffix, Options: o.decryptOptions()}
		if keys {
			mm, err := o.Keys.materials(ctx, true)
			if err != nil {
				return nil, err
			}
			op.Options.Materials = mm
		}
		return op, nil
	case "rewrap":
		op := &dataset.Rewrap{Options: envelope.RewrapOptions{Decrypt: o.decryptOptions()}}
		if keys {
			kr, err := o.Keys.keyring(ctx, true)
			if err != nil {
				return nil, err
			}
			if op.Options.Keyring, err = o.NewKeys.wrapping(ctx); err != nil {
				return nil, err
			}
			op.Options.Decrypt.Keyring = kr
		}
		return op, nil
	case "tokenize", "detokenize":
		op := &dataset.Tokenize{Reverse: o.Op == "detokenize", Options: tokenize.Options{Format: tokenize.Format(o.Format)}}
		if keys {
			tk, err := TokenKeys{Keyset: o.Keyset, Keys: o.Keys}.tokenizer(ctx, st, o.Policy)
			if err != nil {
				return nil, err
			}
			op.Tokenizer = tk
		}
		return op, nil
	}
	return nil, fmt.Errorf("mlseal/beam: unknown operation %q", o.Op)
}

func (o opSpec) decryptOptions() envelope.DecryptOptions {
	d := envelope.DecryptOptions{Context: o.Context, UnsignedOnly: o.UnsignedOnly}
	if o.AllowLegacy {
		d.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
	}
	return d
}

// options are the dataset options of a job on a worker.
func (f Files) options(op dataset.Operation, sources ...string) dataset.Options {
	opts := dataset.Options{
		Destination: dataset.Destination(f.Output),
		Operation:   op,
		Overwrite:   f.Overwrite,
		S3Config:    f.Storage.config(),
	}
	for _, s := range sources {
		opts.Sources = append(opts.Sources, dataset.Source(s))
	}
	return opts
}

// planFn expands one input name into the dataset engine's items.
type planFn struct {
	Op    opSpec
	Files Files
}

func (f *planFn) ProcessElement(ctx context.Context, name string, emit func(dataset.Item), failed func(dataset.Result)) error {
	err := f.plan(ctx, name, emit)
	if err == nil {
		return nil
	}
	if f.Files.FailOnError {
		return fmt.Errorf("%s %s: %w", f.Op.Op, name, err)
	}
	failed(dataset.Result{Op: f.Op.Op, Input: name, Status: dataset.StatusFailed, Error: err.Error(), ErrorClass: dataset.Classify(err)})
	return nil
}

func (f *planFn) plan(ctx context.Context, name string, emit func(dataset.Item)) error {
	files := f.Files
	// The destination is a directory or prefix whatever the input, so
	// that every worker names outputs the same way.
	if strings.HasPrefix(files.Output, "s3://") {
		files.Output = strings.TrimSuffix(files.Output, "/") + "/"
	} else if err := os.MkdirAll(files.Output, 0o755); err != nil {
		return err
	}
	op, err := f.Op.operation(ctx, f.Files.Storage, false)
	if err != nil {
		return err
	}
	items, err := dataset.Plan(ctx, files.options(op, name))
	if err != nil {
		return err
	}
	for _, it := range items {
		emit(*it)
	}
	return nil
}

// itemFn processes items with the worker's dataset job for the operation.
type itemFn struct {
	Op    opSpec
	Files Files
}

// job returns the worker's job. Keys are loaded here, on the first item,
// rather than in Setup, so that a wrong key or an unreachable key service
// comes out as failed items, like any other failure, and a later bundle
// tries again.
func (f *itemFn) job(ctx context.Context) (*dataset.Job, error) {
	return perWorker(workerID("job", f.Op, f.Files), func() (*dataset.Job, error) {
		op, err := f.Op.operation(ctx, f.Files.Storage, true)
		if err != nil {
			return nil, err
		}
		return dataset.New(context.WithoutCancel(ctx), f.Files.options(op))
	})
}

func (f *itemFn) ProcessElement(ctx context.Context, it dataset.Item, emit func(dataset.Result)) error {
	var r *dataset.Result
	if job, err := f.job(ctx); err != nil {
		r = &dataset.Result{Op: f.Op.Op, Input: it.In.String(), Output: it.Out.String(), InputSize: it.Size,
			Status: dataset.StatusFailed, Error: err.Error(), ErrorClass: dataset.Classify(err)}
	} else {
		r = job.Do(ctx, &it)
	}
	if r.Status == dataset.StatusFailed && f.Files.FailOnError {
		return fmt.Errorf("%s %s: %s", r.Op, r.Input, r.Error)
	}
	emit(*r)
	return nil
}

func init() {
	register.DoFn4x1[context.Context, string, func(dataset.Item), func(dataset.Result), error](&planFn{})
	register.DoFn3x1[context.Context, dataset.Item, func(dataset.Result), error](&itemFn{})
	register.Emitter1[dataset.Item]()
	register.Emitter1[dataset.Result]()
}
