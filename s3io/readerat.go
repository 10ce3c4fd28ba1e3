package s3io

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlseal/mlseal/envelope"
)

// An ObjectReaderAt reads an object's bytes at any offset with one ranged
// GET per call, pinned to the ETag the object had when it was opened. It
// counts the bytes and requests it made. It is safe for concurrent use.
type ObjectReaderAt struct {
	ctx      context.Context
	api      API
	info     ObjectInfo
	fetched  atomic.Int64
	requests atomic.Int64
}

// OpenObject opens bucket/key for random access to its stored bytes. ctx
// bounds every later ReadAt.
func (c *Client) OpenObject(ctx context.Context, bucket, key string) (*ObjectReaderAt, error) {
	info, err := c.Head(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	return &ObjectReaderAt{ctx: ctx, api: c.api, info: *info}, nil
}

// Info describes the object.
func (r *ObjectReaderAt) Info() ObjectInfo { return r.info }

// Size returns the object's length.
func (r *ObjectReaderAt) Size() int64 { return r.info.Size }

// BytesFetched returns how many bytes the ReadAt calls have fetched.
func (r *ObjectReaderAt) BytesFetched() int64 { return r.fetched.Load() }

// Requests returns how many ranged GETs the ReadAt calls have made.
func (r *ObjectReaderAt) Requests() int64 { return r.requests.Load() }

// ReadAt reads len(p) bytes at off, returning io.EOF when fewer remain.
func (r *ObjectReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("s3io: negative offset")
	}
	if off >= r.info.Size {
		return 0, io.EOF
	}
	want := p
	if rest := r.info.Size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	if len(want) == 0 {
		return 0, nil
	}
	r.requests.Add(1)
	out, err := r.api.GetObject(r.ctx, &s3.GetObjectInput{
		Bucket:  aws.String(r.info.Bucket),
		Key:     aws.String(r.info.Key),
		Range:   aws.String(fmt.Sprintf("bytes=%d-%d", off, off+int64(len(want))-1)),
		IfMatch: nzString(r.info.ETag),
	})
	if err != nil {
		return 0, wrapErr("reading", r.info.Bucket, r.info.Key, err)
	}
	defer out.Body.Close()
	n, err := io.ReadFull(out.Body, want)
	r.fetched.Add(int64(n))
	if err != nil {
		return n, wrapErr("reading", r.info.Bucket, r.info.Key, fmt.Errorf("ranged read at %d: %w", off, err))
	}
	if len(want) < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// ReaderAt reads the plaintext of an encrypted object at any offset.
type ReaderAt struct {
	*envelope.ReaderAt
	obj *ObjectReaderAt
}

// OpenReaderAt opens the encrypted object bucket/key for random access to
// its plaintext: it fetches the header and the final frame (authenticating
// both, so a truncated object is refused here), then only the frames that
// cover each read, caching a few recent ones. The message must be framed
// and unsigned: a signed message is refused with envelope.ErrPolicy, since
// its signature covers the whole message and no part of it could be
// verified without reading all of it. ctx bounds every later ReadAt too.
func (c *Client) OpenReaderAt(ctx context.Context, bucket, key string, dec envelope.DecryptOptions) (*ReaderAt, error) {
	obj, err := c.OpenObject(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	ra, err := envelope.NewReaderAt(ctx, obj, obj.Size(), dec)
	if err != nil {
		return nil, fmt.Errorf("opening %s for random access: %w", URL(bucket, key), err)
	}
	return &ReaderAt{ReaderAt: ra, obj: obj}, nil
}

// Object returns the reader of the object's stored bytes, whose counters
// say how much was fetched.
func (r *ReaderAt) Object() *ObjectReaderAt { return r.obj }
