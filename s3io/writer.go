package s3io

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// An ObjectWriter streams what is written to it into an object, as Put
// does for a reader: a multipart upload with parallel parts once the data
// outgrows one part. Nothing is visible until Commit succeeds; Abort
// discards everything. It is not safe for concurrent use.
type ObjectWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
	stop func() bool
	res  *PutResult
	err  error
}

// Create starts an upload into the object bucket/key and returns a writer
// for its body. The caller must end it with Commit or Abort. When ctx is
// done the upload fails and is aborted, even while nothing is being
// written.
func (c *Client) Create(ctx context.Context, bucket, key string, opts PutOptions) *ObjectWriter {
	pr, pw := io.Pipe()
	w := &ObjectWriter{pw: pw, done: make(chan struct{})}
	w.stop = context.AfterFunc(ctx, func() { pr.CloseWithError(context.Cause(ctx)) })
	go func() {
		defer close(w.done)
		w.res, w.err = c.Put(ctx, bucket, key, pr, opts)
		if w.err != nil {
			// Writers blocked on the pipe learn why.
			pr.CloseWithError(w.err)
		}
	}()
	return w
}

// Write writes to the object's body. After the upload failed it returns
// the upload's error.
func (w *ObjectWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

// Commit ends the body and waits for the upload to complete.
func (w *ObjectWriter) Commit() (*PutResult, error) {
	w.pw.Close()
	<-w.done
	w.stop()
	return w.res, w.err
}

// Abort fails the upload with cause and waits until its multipart upload
// is aborted. It returns nil once nothing is left behind, and an error
// (an *AbortError when an upload could not be aborted) otherwise.
func (w *ObjectWriter) Abort(cause error) error {
	if cause == nil {
		cause = context.Canceled
	}
	w.pw.CloseWithError(cause)
	<-w.done
	w.stop()
	var ae *AbortError
	if errors.As(w.err, &ae) {
		return ae
	}
	if w.err == nil {
		// The body had been read whole before the cause: nothing to
		// undo but the object itself, which the caller may delete.
		return fmt.Errorf("uploading %s: completed before it was aborted", URL(w.res.Bucket, w.res.Key))
	}
	return nil
}

// An AbortError reports a multipart upload that could not be aborted: its
// parts stay stored (and billed) until it is aborted, for example with
// "aws s3api abort-multipart-upload --bucket BUCKET --key KEY
// --upload-id ID", or by a bucket lifecycle rule.
type AbortError struct {
	Bucket, Key, UploadID string
	Err                   error
}

func (e *AbortError) Error() string {
	return fmt.Sprintf("the multipart upload %s of %s could not be aborted: %v", e.UploadID, URL(e.Bucket, e.Key), e.Err)
}

func (e *AbortError) Unwrap() error { return e.Err }

// An Upload is a multipart upload in flight.
type Upload struct {
	Bucket, Key, UploadID string
}

// Uploads returns the multipart uploads this client has started and not
// yet completed or aborted: what a program that must leave at once should
// report, so that they can be aborted later.
func (c *Client) Uploads() []Upload {
	c.tracker.mu.Lock()
	defer c.tracker.mu.Unlock()
	var ups []Upload
	for u := range c.tracker.open {
		ups = append(ups, u)
	}
	slices.SortFunc(ups, func(a, b Upload) int {
		if c := strings.Compare(a.Bucket+"/"+a.Key, b.Bucket+"/"+b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.UploadID, b.UploadID)
	})
	return ups
}

// tracker records the multipart uploads in flight.
type tracker struct {
	mu   sync.Mutex
	open map[Upload]bool
}

// trackingAPI is an API that records the multipart uploads it creates
// until they are completed or aborted.
type trackingAPI struct {
	API
	t *tracker
}

func (a *trackingAPI) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, fns ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	out, err := a.API.CreateMultipartUpload(ctx, in, fns...)
	if err == nil {
		a.t.mu.Lock()
		a.t.open[Upload{aws.ToString(in.Bucket), aws.ToString(in.Key), aws.ToString(out.UploadId)}] = true
		a.t.mu.Unlock()
	}
	return out, err
}

func (a *trackingAPI) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, fns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	out, err := a.API.CompleteMultipartUpload(ctx, in, fns...)
	if err == nil {
		a.forget(in.Bucket, in.Key, in.UploadId)
	}
	return out, err
}

func (a *trackingAPI) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, fns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	out, err := a.API.AbortMultipartUpload(ctx, in, fns...)
	if err == nil || isNoSuchUpload(err) {
		a.forget(in.Bucket, in.Key, in.UploadId)
	}
	return out, err
}

func (a *trackingAPI) forget(bucket, key, id *string) {
	a.t.mu.Lock()
	delete(a.t.open, Upload{aws.ToString(bucket), aws.ToString(key), aws.ToString(id)})
	a.t.mu.Unlock()
}
