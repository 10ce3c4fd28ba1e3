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
