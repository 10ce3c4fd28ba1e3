package dataset

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/s3io"
)

// An Operation is what a job does to each item. Encrypt, Decrypt, Verify,
// Tokenize and Detokenize are the package's own; another package (or
// another file of this one) adds an operation by implementing it.
//
// An Operation's methods are called from several goroutines at once.
type Operation interface {
	// Name names the operation in results and manifests ("encrypt").
	Name() string
	// OutputName maps the base name of an input to the base name of its
	// output under a destination directory or prefix ("a.csv" to
	// "a.csv.enc"). It returns "" for an operation that writes nothing.
	OutputName(base string) string
	// Apply processes one item: it reads the input with t.Open (or, for
	// S3 to S3 operations, through t.S3 and t.Item), writes the output
	// with t.Create, and describes the message in t.Result (MessageID,
	// Suite, WrappingKeys, ContextKeys). The output becomes visible only
	// if Apply returns nil. Apply must return once ctx is done.
	Apply(ctx context.Context, t *Task) error
}

// A Task is one attempt at one item, as an Operation sees it.
type Task struct {
	// Item is the item being processed.
	Item *Item
	// Result is the item's result so far; Apply fills in what it knows
	// about the message.
	Result *Result

	job    *Job
	in     io.Closer
	out    *pendingOutput
	ctx    context.Context
	watch  *watchdog
	opened bool
}

// CreateOptions configure the output of an item.
type CreateOptions struct {
	// Perm is the mode of a new local file before the umask, 0o600 when
	// zero.
	Perm fs.FileMode
	// Metadata is user metadata for an S3 output (x-amz-meta-*), not
	// encrypted; local outputs ignore it.
	Metadata map[string]string
	// SizeHint is the output's expected length when known, which lets a
	// very large S3 upload choose larger parts.
	SizeHint int64
}

// S3 returns the job's S3 client, creating it on first use.
func (t *Task) S3() (*s3io.Client, error) { return t.job.s3Client(t.ctx) }

// Open opens the item's input. Reads are counted for progress and watched
// for stalls. The job closes it after Apply returns.
func (t *Task) Open() (io.Reader, error) {
	if t.opened {
		return nil, fmt.Errorf("dataset: the input of %s opened twice", t.Item.In)
	}
	t.opened = true
	r, c, err := t.job.openInput(t.ctx, t.Item)
	if err != nil {
		return nil, err
	}
	// A read blocked on a pipe, a FIFO or a stalled download returns once
	// the attempt is cancelled (stalled, past its deadline, stopped).
	if t.Item.In.IsStd() && regularFile(r) == nil {
		// A read from a pipe or a terminal cannot be interrupted; the
		// item gives up on it instead. (A read from a file always
		// returns.)
		r = &detachedReader{ctx: t.ctx, r: r}
	}
	stop := context.AfterFunc(t.ctx, func() { c.Close() })
	t.in = closerFunc(func() error {
		stop()
		return c.Close()
	})
	return &watchedReader{r: r, w: t.watch, job: t.job, item: t.Item}, nil
}

// Create opens the item's output: a temporary file next to a local
// output, a multipart upload for an S3 output, or Stdout. What is written
// becomes the output only if Apply returns nil; otherwise the temporary
// file is removed or the upload aborted.
func (t *Task) Create(opts CreateOptions) (io.Writer, error) {
	if t.out != nil {
		return nil, fmt.Errorf("dataset: the output of %s created twice", t.Item.Out)
	}
	if opts.Perm == 0 {
		opts.Perm = 0o600
	}
	meta := maps.Clone(opts.Metadata)
	if t.job.manifest != nil {
		// Recognise this output if a killed run wrote it unrecorded.
		if meta == nil {
			meta = map[string]string{}
		}
		meta[MetaSource] = sourceTag(t.Item)
	}
	opts.Metadata = meta
	o, err := t.job.createOutput(t.ctx, t.Item, opts)
	if err != nil {
		return nil, err
	}
	t.out = o
	return &watchedWriter{w: o.w, wd: t.watch, stdout: t.Item.Out.IsStd()}, nil
}

// MetaSource is the S3 metadata key, on outputs of a job with a manifest,
// that records the input and its version, so that a rerun recognises an
// output it wrote but did not record.
const MetaSource = "mlseal-source"

func sourceTag(it *Item) string { return it.In.String() + " " + it.SourceVersion() }

// describe fills the result's message fields from a header.
func describe(r *Result, h *envelope.Header) {
	if h == nil {
		return
	}
	r.MessageID = hex.EncodeToString(h.MessageID)
	r.Suite = h.Suite.String()
	r.context = h.Context
	r.WrappingKeys = r.WrappingKeys[:0]
	for _, k := range h.EncryptedDataKeys {
		r.WrappingKeys = append(r.WrappingKeys, k.ProviderID+" "+printable(k.ProviderInfo))
	}
	r.ContextKeys = slices.Sorted(maps.Keys(h.Context))
}

// printable returns a provider info as text, or hex when it is binary
// (the raw RSA and AES keyrings' infos are names; others may not be).
func printable(b []byte) string {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			return hex.EncodeToString(b)
		}
	}
	return string(b)
}
