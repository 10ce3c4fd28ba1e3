package s3io

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/mlseal/mlseal/envelope"
)

// PutOptions configure one upload. The zero value uploads with no extra
// metadata, replacing any existing object.
type PutOptions struct {
	// Metadata is user metadata to store with the object (x-amz-meta-*).
	// It is not encrypted: put nothing secret in it.
	Metadata map[string]string
	// ContentType is the object's Content-Type, application/octet-stream
	// when empty.
	ContentType string
	// NoOverwrite makes the upload fail with ErrExists when the object
	// exists, atomically (a conditional write, If-None-Match: *).
	NoOverwrite bool
	// Size is the body's length when known in advance (-1 or 0: unknown).
	// It lets very large bodies use parts larger than PartSize, to stay
	// within S3's 10000 parts; a body of unknown length can be at most
	// PartSize x 10000 bytes long.
	Size int64
	// Progress, when set, is called with the number of body bytes read
	// for the upload, from the goroutine that reads them.
	Progress func(n int64)
}

// PutResult describes a completed upload.
type PutResult struct {
	Bucket, Key string
	// ETag and VersionID are S3's for the new object.
	ETag, VersionID string
	// Size is the object's length in bytes.
	Size int64
	// PlaintextSize is the plaintext's length (Upload only).
	PlaintextSize int64
	// Header is the header of the message written (Upload only).
	Header *envelope.Header
}

// Put streams body into the object bucket/key without encrypting it, as a
// multipart upload with parallel parts when it is longer than one part.
// On failure the multipart upload is aborted and no object is created.
func (c *Client) Put(ctx context.Context, bucket, key string, body io.Reader, opts PutOptions) (*PutResult, error) {
	cr := &countingReader{r: body, progress: opts.Progress}
	size := opts.Size
	if size <= 0 {
		size = -1
	}
	out, err := c.up.upload(ctx, &putInput{
		bucket: bucket, key: key, body: cr, size: size,
		metadata:    opts.Metadata,
		contentType: contentType(opts.ContentType),
		noOverwrite: opts.NoOverwrite,
	})
	if err != nil {
		return nil, wrapErr("uploading", bucket, key, err)
	}
	return &PutResult{Bucket: bucket, Key: key, ETag: out.etag, VersionID: out.versionID, Size: cr.n.Load()}, nil
}

func contentType(ct string) string {
	if ct == "" {
		return "application/octet-stream"
	}
	return ct
}

// Upload encrypts plaintext into one message of the AWS Encryption SDK
// format as it streams into the object bucket/key, as a multipart upload
// with parallel parts. Memory stays within PartSize x (Concurrency + 1)
// plus the envelope's frames in flight, whatever the plaintext's length.
//
// enc configures the encryption as for envelope.Encrypt; its FrameLength
// defaults to DefaultFrameLength here. opts.Size, when set, is the
// plaintext's length and becomes enc.SizeHint unless that is set.
//
// The object gets the metadata of opts plus MetaFormat, MetaSuite and
// MetaFrameLength. If anything fails (reading plaintext, the keyring, S3),
// the multipart upload is aborted and no object becomes visible.
func (c *Client) Upload(ctx context.Context, bucket, key string, plaintext io.Reader, enc envelope.EncryptOptions, opts PutOptions) (*PutResult, error) {
	if enc.FrameLength == 0 {
		enc.FrameLength = DefaultFrameLength
	}
	if enc.SizeHint == 0 && opts.Size > 0 {
		enc.SizeHint = opts.Size
	}
	meta := make(map[string]string, len(opts.Metadata)+3)
	maps.Copy(meta, opts.Metadata)
	maps.Copy(meta, EncryptedMetadata(enc))

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	pt := &countingReader{r: plaintext, progress: opts.Progress}

	// The encrypting side: plaintext -> envelope -> pipe.
	encDone := make(chan error, 1)
	var header *envelope.Header
	go func() {
		err := func() error {
			ew, err := envelope.Encrypt(ctx, pw, enc)
			if err != nil {
				return err
			}
			header = ew.Header()
			if _, err := io.Copy(ew, onlyReader{pt}); err != nil {
				cancel() // stop the envelope's workers
				ew.Close()
				return &readError{err}
			}
			return ew.Close()
		}()
		pw.CloseWithError(err) // nil: io.EOF for the uploader
		encDone <- err
	}()

	// The uploading side: pipe -> transfer manager -> S3.
	size := int64(-1)
	if enc.SizeHint > 0 {
		size = CiphertextSizeBound(enc.SizeHint, enc.FrameLength)
	}
	cr := &countingReader{r: pr}
	// A cancelled upload must fail, and abort, even while the plaintext
	// reader is blocked (a pipe that has nothing more to say yet).
	stop := context.AfterFunc(parent, func() { pr.CloseWithError(parent.Err()) })
	defer stop()
	out, err := c.up.upload(ctx, &putInput{
		bucket: bucket, key: key, body: cr, size: size,
		metadata:    meta,
		contentType: contentType(opts.ContentType),
		noOverwrite: opts.NoOverwrite,
	})
	if err != nil {
		// Unblock the encrypting side if it is still writing.
		pr.CloseWithError(errUploadFailed)
	}
	var encErr error
	select {
	case encErr = <-encDone:
	case <-parent.Done():
		// The caller gave up, which is why the upload failed. The
		// encrypting side may be blocked reading the plaintext; it ends
		// when that read does, and its result no longer matters.
		if err != nil {
			err = parent.Err()
		}
	}
	if encErr != nil && !errors.Is(encErr, errUploadFailed) {
		// The root cause: the plaintext or the keyring failed, and the
		// upload failed because of it.
		return nil, fmt.Errorf("uploading %s: %w", URL(bucket, key), encErr)
	}
	if err != nil {
		return nil, wrapErr("uploading", bucket, key, err)
	}
	return &PutResult{
		Bucket: bucket, Key: key, ETag: out.etag, VersionID: out.versionID,
		Size: cr.n.Load(), PlaintextSize: pt.n.Load(), Header: header,
	}, nil
}

var errUploadFailed = errors.New("upload failed")

// readError marks an error from reading the plaintext.
type readError struct{ err error }

func (e *readError) Error() string { return "reading the plaintext: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// EncryptedMetadata returns the object metadata that marks an object as a
// message written with enc (MetaFormat, MetaSuite, MetaFrameLength), as
// Upload stores it, for callers that upload messages with Put.
func EncryptedMetadata(enc envelope.EncryptOptions) map[string]string {
	suite := enc.Suite
	if suite == 0 {
		suite = envelope.DefaultSuite
	}
	frame := enc.FrameLength
	if frame == 0 {
		frame = envelope.DefaultFrameLength
	}
	return map[string]string{
		MetaFormat:      FormatESDK,
		MetaSuite:       fmt.Sprintf("0x%04x", uint16(suite)),
		MetaFrameLength: strconv.Itoa(frame),
	}
}

// CiphertextSizeBound bounds the size of a message with n bytes of
// plaintext in frames of f bytes: generous for the header, 32 bytes of
// framing per frame, and a signature. PutOptions.Size may take it. A frame
// length of zero, which EncryptOptions reads as a default, is bounded as
// the smaller of envelope's and Upload's defaults.
func CiphertextSizeBound(n int64, f int) int64 {
	if f <= 0 {
		f = min(envelope.DefaultFrameLength, DefaultFrameLength)
	}
	frames := n/int64(f) + 1
	return n + frames*32 + 64<<10
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r        io.Reader
	n        atomic.Int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n.Add(int64(n))
		if c.progress != nil {
			c.progress(int64(n))
		}
	}
	return n, err
}

// onlyReader hides a reader's other methods (WriteTo) so that io.Copy uses
// the writer's ReadFrom.
type onlyReader struct{ io.Reader }

// UploadFile encrypts the named local file into bucket/key, with its size
// as the size hint. See Upload.
func (c *Client) UploadFile(ctx context.Context, bucket, key, name string, enc envelope.EncryptOptions, opts PutOptions) (*PutResult, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && opts.Size <= 0 {
		opts.Size = fi.Size()
	}
	return c.Upload(ctx, bucket, key, f, enc, opts)
}
