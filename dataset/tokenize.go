package dataset

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/mlseal/mlseal/atomicfile"
	"github.com/mlseal/mlseal/tokenize"
)

// Tokenize replaces the personal data in the records of each item (CSV,
// JSON Lines or Parquet) with tokens, as its Tokenizer's policy says.
// Outputs keep their inputs' names.
type Tokenize struct {
	Tokenizer *tokenize.Tokenizer
	// Options configure each item's run. An empty Format is taken from
	// each item's name (see FormatOf). Rejects and OnReject are shared by
	// the items, so a job with several items must leave Rejects nil.
	Options tokenize.Options
	// Reverse detokenizes instead: deterministic and fpe tokens are turned
	// back into their values.
	Reverse bool
}

func (t *Tokenize) Name() string {
	if t.Reverse {
		return "detokenize"
	}
	return "tokenize"
}

func (t *Tokenize) OutputName(base string) string { return base }

// FormatOf returns the record format that a name's extension says (.csv,
// .jsonl or .ndjson, .parquet; a trailing .mlseal is ignored), or "".
func FormatOf(name string) tokenize.Format {
	switch strings.ToLower(path.Ext(strings.TrimSuffix(name, ".mlseal"))) {
	case ".csv":
		return tokenize.FormatCSV
	case ".jsonl", ".ndjson":
		return tokenize.FormatJSONL
	case ".parquet":
		return tokenize.FormatParquet
	}
	return ""
}

func (t *Tokenize) Apply(ctx context.Context, task *Task) error {
	opts := t.Options
	if opts.Format == "" {
		if opts.Format = FormatOf(task.Item.Name); opts.Format == "" {
			return fmt.Errorf("cannot tell the record format of %s from its name", task.Item.In)
		}
	}
	w, err := task.Create(CreateOptions{Perm: 0o600})
	if err != nil {
		return err
	}
	var st tokenize.Stats
	if opts.Format == tokenize.FormatParquet {
		ra, size, err := task.OpenReaderAt()
		if err != nil {
			return err
		}
		if t.Reverse {
			st, err = t.Tokenizer.DetokenizeParquet(w, ra, size, opts)
		} else {
			st, err = t.Tokenizer.TokenizeParquet(w, ra, size, opts)
		}
		task.Result.Records, task.Result.Rejected, task.Result.Passed = st.Records, st.Rejected, st.Passed
		return err
	}
	r, err := task.Open()
	if err != nil {
		return err
	}
	// The tokenizer does not watch ctx: a cancelled item stops at its
	// next read.
	r = &ctxReader{ctx: ctx, r: r}
	if t.Reverse {
		st, err = t.Tokenizer.Detokenize(w, r, opts)
	} else {
		st, err = t.Tokenizer.Tokenize(w, r, opts)
	}
	task.Result.Records, task.Result.Rejected, task.Result.Passed = st.Records, st.Rejected, st.Passed
	return err
}

// ctxReader fails reads once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

// OpenReaderAt opens the item's input for random access, as Parquet needs:
// a local file as it is; stdin and S3 objects are first copied to a
// temporary file, removed when the attempt ends.
func (t *Task) OpenReaderAt() (io.ReaderAt, int64, error) {
	r, err := t.Open()
	if err != nil {
		return nil, 0, err
	}
	if f, ok := r.(*watchedReader).r.(*os.File); ok && f != os.Stdin {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return f, fi.Size(), nil
		}
	}
	tmp, err := os.CreateTemp("", "mlseal-spool-*")
	if err != nil {
		return nil, 0, err
	}
	forget := atomicfile.Track(tmp.Name())
	prev := t.in
	t.in = closerFunc(func() error {
		tmp.Close()
		os.Remove(tmp.Name())
		forget()
		return prev.Close()
	})
	n, err := io.Copy(tmp, &ctxReader{ctx: t.ctx, r: r})
	if err != nil {
		return nil, 0, fmt.Errorf("copying %s to %s: %w", t.Item.In, tmp.Name(), err)
	}
	return tmp, n, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
