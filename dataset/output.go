package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/mlseal/mlseal/atomicfile"
	"github.com/mlseal/mlseal/s3io"
)

// existsError reports an output that exists when Overwrite is off.
type existsError struct{ name string }

func (e *existsError) Error() string        { return e.name + " already exists" }
func (e *existsError) Is(target error) bool { return target == ErrExists }

// A pendingOutput is an item's output until it is committed or aborted.
type pendingOutput struct {
	w     io.Writer
	count *countingWriter
	name  string

	// A local file: a temporary file in root, renamed to rel on commit.
	root      *os.Root
	tmp       *atomicfile.File
	rel       string
	overwrite bool
	direct    *os.File // an existing device or pipe, written in place

	obj *s3io.ObjectWriter // an S3 object
}

// createOutput opens the output of it.
func (j *Job) createOutput(ctx context.Context, it *Item, opts CreateOptions) (*pendingOutput, error) {
	var o *pendingOutput
	var err error
	switch out := it.Out; {
	case out.IsStd():
		o = &pendingOutput{w: j.stdout(), name: "stdout"}
	case out.IsS3():
		c, err := j.s3Client(ctx)
		if err != nil {
			return nil, err
		}
		obj := c.Create(ctx, out.Bucket, out.Key, s3io.PutOptions{
			Metadata: opts.Metadata, NoOverwrite: !j.opts.Overwrite, Size: opts.SizeHint,
		})
		o = &pendingOutput{w: obj, obj: obj, name: out.String()}
	default:
		if o, err = j.createLocal(it, opts.Perm); err != nil {
			return nil, err
		}
	}
	o.count = &countingWriter{w: o.w}
	o.w = o.count
	return o, nil
}

// createLocal opens a temporary file for a local output, through an
// os.Root at the destination directory, so that neither the name nor a
// symbolic link inside the directory can place it elsewhere.
func (j *Job) createLocal(it *Item, perm fs.FileMode) (*pendingOutput, error) {
	dir := it.OutRoot
	if dir == "" {
		dir = filepath.Dir(it.Out.Path)
	}
	if !within(dir, it.Out.Path) {
		return nil, &nameError{it.Name, fmt.Sprintf("%s is not under %s", it.Out.Path, dir)}
	}
	rel, err := filepath.Rel(dir, it.Out.Path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	o := &pendingOutput{root: root, rel: rel, name: it.Out.Path, overwrite: j.opts.Overwrite}
	if sub := filepath.Dir(rel); sub != "." {
		if err := root.MkdirAll(sub, 0o755); err != nil {
			defer root.Close()
			if link := linkOnPath(root, sub); link != "" {
				return nil, linkError(it, dir, link)
			}
			return nil, fmt.Errorf("creating %s: %w", filepath.Join(dir, sub), err)
		}
	}
	if fi, err := root.Stat(rel); err == nil {
		switch {
		case fi.IsDir():
			root.Close()
			return nil, fmt.Errorf("%s is a directory", it.Out.Path)
		case !fi.Mode().IsRegular():
			// A device or pipe such as /dev/null: written in place.
			f, err := root.OpenFile(rel, os.O_WRONLY, 0)
			if err != nil {
				root.Close()
				return nil, err
			}
			o.w, o.direct = f, f
			return o, nil
		case !j.opts.Overwrite:
			root.Close()
			return nil, &existsError{it.Out.Path}
		}
	}
	if o.tmp, err = atomicfile.CreateIn(root, rel, perm); err != nil {
		defer root.Close()
		if link := linkOnPath(root, rel); link != "" {
			return nil, linkError(it, dir, link)
		}
		return nil, err
	}
	o.w = o.tmp
	return o, nil
}

// linkOnPath returns the first directory on rel, within root, that is a
// symbolic link, or "". An os.Root refuses to follow such a link out of
// it; this names the link for the error.
func linkOnPath(root *os.Root, rel string) string {
	p := ""
	for _, seg := range strings.Split(filepath.Clean(rel), string(filepath.Separator)) {
		p = filepath.Join(p, seg)
		fi, err := root.Lstat(p)
		if err != nil {
			return ""
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return p
		}
	}
	return ""
}

// linkError fails an item whose output would go through a symbolic link
// in the output directory dir.
func linkError(it *Item, dir, link string) error {
	return &nameError{it.Name, fmt.Sprintf("its output %s would leave the output directory %s through a symbolic link (%s); outputs are only written inside it",
		it.Out.Path, dir, filepath.Join(dir, link))}
}

// commit makes the output visible under its name.
func (o *pendingOutput) commit() error {
	switch {
	case o.obj != nil:
		_, err := o.obj.Commit()
		if errors.Is(err, s3io.ErrExists) {
			return &existsError{o.name}
		}
		return err
	case o.direct != nil:
		defer o.root.Close()
		return o.direct.Close()
	case o.tmp == nil:
		return nil
	}
	defer o.root.Close()
	if o.overwrite {
		return o.tmp.Replace()
	}
	err := o.tmp.Commit()
	if errors.Is(err, fs.ErrExist) {
		return &existsError{o.name}
	}
	return err
}

// abort discards the output; nothing is left under its name. It returns
// an error only when an S3 upload could not be aborted.
func (o *pendingOutput) abort(cause error) error {
	switch {
	case o.obj != nil:
		return o.obj.Abort(cause)
	case o.direct != nil:
		o.direct.Close()
		o.root.Close()
	case o.tmp != nil:
		o.tmp.Abort()
		o.root.Close()
	}
	return nil
}

// RemoveTemporaryFiles removes the temporary files of every output being
// written in the process, by this package's jobs or through atomicfile
// (it calls atomicfile.RemoveTemporaryFiles), and makes new ones fail. It
// is meant for a program's signal handler, just before it exits without
// waiting for its jobs to unwind (which would remove their files
// themselves). The manifests and audit trails of the jobs running get
// their "stopped" line; the outputs whose files it removed are not
// recorded done.
func RemoveTemporaryFiles() {
	atomicfile.RemoveTemporaryFiles()
	running.stopAll(errInterrupted)
}

// errInterrupted is why a batch stopped when RemoveTemporaryFiles ended it.
var errInterrupted = fmt.Errorf("interrupted: the outputs not yet committed were removed (%w)", context.Canceled)

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
