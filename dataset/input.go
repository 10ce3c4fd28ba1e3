package dataset

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mlseal/mlseal/s3io"
)

// openInput opens the input of it.
func (j *Job) openInput(ctx context.Context, it *Item) (io.Reader, io.Closer, error) {
	switch in := it.In; {
	case in.IsStd():
		return j.stdin(), io.NopCloser(nil), nil
	case in.IsS3():
		c, err := j.s3Client(ctx)
		if err != nil {
			return nil, nil, err
		}
		obj, err := c.Get(ctx, in.Bucket, in.Key, s3io.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		return obj, obj, nil
	case it.InRoot != "":
		// Through the source directory: a link swapped in since planning
		// cannot lead out of it.
		root, err := os.OpenRoot(it.InRoot)
		if err != nil {
			return nil, nil, err
		}
		defer root.Close()
		f, err := root.Open(filepath.FromSlash(it.Name))
		if err != nil {
			return nil, nil, fmt.Errorf("open %s: %w", in.Path, unwrapPath(err))
		}
		return checkFile(f, in.Path)
	default:
		f, err := os.Open(in.Path)
		if err != nil {
			return nil, nil, err
		}
		return checkFile(f, in.Path)
	}
}

func checkFile(f *os.File, name string) (io.Reader, io.Closer, error) {
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is a directory", name)
	}
	return f, f, nil
}

// unwrapPath drops the *fs.PathError of a Root, whose path is relative
// to the root; the caller names the whole path.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (j *Job) stdin() io.Reader {
	if j.opts.Stdin != nil {
		return j.opts.Stdin
	}
	return os.Stdin
}

func (j *Job) stdout() io.Writer {
	if j.opts.Stdout != nil {
		return j.opts.Stdout
	}
	return os.Stdout
}

// detachedReader reads r in a goroutine, so that Read returns when ctx is
// done even though the read underneath is still blocked (os.Stdin on a
// pipe or a terminal cannot be interrupted). After that the reader is
// unusable.
type detachedReader struct {
	ctx     context.Context
	r       io.Reader
	buf     []byte
	rest    []byte // read and not yet returned
	pending chan readResult
	err     error
}

type readResult struct {
	n   int
	err error
}

func (d *detachedReader) Read(p []byte) (int, error) {
	if len(d.rest) > 0 {
		n := copy(p, d.rest)
		d.rest = d.rest[n:]
		return n, nil
	}
	if d.err != nil {
		return 0, d.err
	}
	if d.pending == nil {
		if d.buf == nil {
			d.buf = make([]byte, copyBufSize)
		}
		ch := make(chan readResult, 1)
		go func() {
			n, err := d.r.Read(d.buf)
			ch <- readResult{n, err}
		}()
		d.pending = ch
	}
	select {
	case res := <-d.pending:
		d.pending = nil
		d.err = res.err
		n := copy(p, d.buf[:res.n])
		d.rest = d.buf[n:res.n]
		if n > 0 {
			return n, nil
		}
		return 0, d.err
	case <-d.ctx.Done():
		d.err = context.Cause(d.ctx)
		return 0, d.err
	}
}
