package beam

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/mlseal/mlseal/s3io"
)

// Storage says how workers reach S3 for s3:// names. The zero value uses
// the standard AWS configuration (AWS_REGION, AWS_ENDPOINT_URL_S3, profiles,
// AWS_CA_BUNDLE), with path-style addressing for IP and localhost endpoints.
type Storage struct {
	S3Region    string
	S3Endpoint  string
	S3PathStyle bool
}

func isS3(name string) bool { return strings.HasPrefix(name, "s3://") }

func (st Storage) s3(ctx context.Context) (*s3io.Client, error) {
	return perWorker(workerID("s3", st), func() (*s3io.Client, error) {
		return s3io.NewFromConfig(ctx, s3io.Config{Region: st.S3Region, Endpoint: st.S3Endpoint, PathStyle: st.S3PathStyle})
	})
}

// open opens a file or object for reading, with its size.
func (st Storage) open(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	if !isS3(name) {
		f, err := os.Open(name)
		if err != nil {
			return nil, 0, err
		}
		fi, err := f.Stat()
		if err == nil && !fi.Mode().IsRegular() {
			err = fmt.Errorf("%s is not a regular file", name)
		}
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, fi.Size(), nil
	}
	c, bucket, key, err := st.object(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	r, err := c.Get(ctx, bucket, key, s3io.GetOptions{})
	if err != nil {
		return nil, 0, err
	}
	return r, r.Info().Size, nil
}

// openAt opens a file or object for random access, as Parquet needs.
func (st Storage) openAt(ctx context.Context, name string) (io.ReaderAt, int64, io.Closer, error) {
	if !isS3(name) {
		r, size, err := st.open(ctx, name)
		if err != nil {
			return nil, 0, nil, err
		}
		return r.(*os.File), size, r, nil
	}
	c, bucket, key, err := st.object(ctx, name)
	if err != nil {
		return nil, 0, nil, err
	}
	r, err := c.OpenObject(ctx, bucket, key)
	if err != nil {
		return nil, 0, nil, err
	}
	return r, r.Size(), io.NopCloser(nil), nil
}

func (st Storage) object(ctx context.Context, name string) (*s3io.Client, string, string, error) {
	bucket, key, err := s3io.ParseURL(name)
	if err != nil {
		return nil, "", "", err
	}
	c, err := st.s3(ctx)
	if err != nil {
		return nil, "", "", err
	}
	return c, bucket, key, nil
}

// ErrExists means a destination exists and overwriting was not asked for.
var ErrExists = errors.New("the destination exists (set Overwrite to replace it)")

// A sink is a destination being written: nothing appears under its name
// until commit succeeds, and abort leaves nothing behind (a local
// temporary file is removed, a multipart upload aborted).
type sink struct {
	io.Writer
	n      int64
	commit func() error
	abort  func()
}

func (s *sink) Write(p []byte) (int, error) {
	n, err := s.Writer.Write(p)
	s.n += int64(n)
	return n, err
}

// create starts writing name. Local files are created 0600, since they may
// hold plaintext.
func (st Storage) create(ctx context.Context, name string, overwrite bool) (*sink, error) {
	if isS3(name) {
		return st.createObject(ctx, name, overwrite)
	}
	if !overwrite {
		if _, err := os.Lstat(name); err == nil {
			return nil, fmt.Errorf("%s: %w", name, ErrExists)
		}
	}
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(r[:]))
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	abort := func() { f.Close(); os.Remove(tmp) }
	commit := func() error {
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(tmp)
			return err
		}
		defer os.Remove(tmp)
		if overwrite {
			return os.Rename(tmp, name)
		}
		// A hard link fails if the name appeared meanwhile: never replace
		// a file someone else wrote.
		if err := os.Link(tmp, name); errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", name, ErrExists)
		} else if err != nil {
			return err
		}
		return nil
	}
	return &sink{Writer: f, commit: commit, abort: abort}, nil
}

var errAborted = errors.New("mlseal/beam: output abandoned")

func (st Storage) createObject(ctx context.Context, name string, overwrite bool) (*sink, error) {
	c, bucket, key, err := st.object(ctx, name)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := c.Put(ctx, bucket, key, pr, s3io.PutOptions{NoOverwrite: !overwrite})
		pr.CloseWithError(err) // unblock a writer if the upload failed first
		done <- err
	}()
	commit := func() error {
		pw.Close()
		err := <-done
		if errors.Is(err, s3io.ErrExists) {
			return fmt.Errorf("%s: %w", name, ErrExists)
		}
		return err
	}
	abort := func() {
		pw.CloseWithError(errAborted) // the upload fails and is aborted
		<-done
	}
	return &sink{Writer: pw, commit: commit, abort: abort}, nil
}

// destination names the output of source under out: out joined with
// source's name relative to root (its base name when root is empty). The
// relative name must stay inside out.
func destination(source, root, out, suffix string) (string, error) {
	rel := path.Base(filepath.ToSlash(source))
	if root != "" {
		r := strings.TrimPrefix(filepath.ToSlash(source), strings.TrimSuffix(filepath.ToSlash(root), "/")+"/")
		if r == filepath.ToSlash(source) {
			return "", fmt.Errorf("%s is not under the input root %s", source, root)
		}
		rel = r
	}
	if rel == "" || !fs.ValidPath(rel) {
		return "", fmt.Errorf("%s: unsafe relative name %q", source, rel)
	}
	rel = rel + suffix
	if isS3(out) {
		return strings.TrimSuffix(out, "/") + "/" + rel, nil
	}
	return filepath.Join(out, filepath.FromSlash(rel)), nil
}
