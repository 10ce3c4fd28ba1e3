package s3io

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlseal/mlseal/envelope"
)

// ObjectInfo describes an object.
type ObjectInfo struct {
	Bucket, Key string
	Size        int64
	ETag        string
	// LastModified is S3's modification time.
	LastModified time.Time
	// Metadata is the object's user metadata (x-amz-meta-*), keys in
	// lower case.
	Metadata map[string]string
}

// Encrypted reports whether the object's metadata marks it as an AWS
// Encryption SDK message written by Upload.
func (o *ObjectInfo) Encrypted() bool { return o.Metadata[MetaFormat] == FormatESDK }

// Head returns the object's size, ETag and metadata.
func (c *Client) Head(ctx context.Context, bucket, key string) (*ObjectInfo, error) {
	out, err := c.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, wrapErr("reading", bucket, key, err)
	}
	return &ObjectInfo{
		Bucket: bucket, Key: key,
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         aws.ToString(out.ETag),
		LastModified: aws.ToTime(out.LastModified),
		Metadata:     out.Metadata,
	}, nil
}

// GetOptions configure one download. The zero value reads the whole
// object.
type GetOptions struct {
	// Progress, when set, is called with the number of object bytes each
	// ranged GET delivered, from the goroutine that reads them.
	Progress func(n int64)
}

// An ObjectReader reads an object sequentially, fetching Concurrency parts
// of PartSize bytes ahead in parallel with ranged GETs, all pinned to the
// ETag the object had when it was opened (so a replaced object is an
// error, never a mix). Memory stays within PartSize x (Concurrency + 1).
// It is not safe for concurrent use.
type ObjectReader struct {
	info   ObjectInfo
	cancel context.CancelFunc
	order  chan chan *part // parts in object order, each delivered when fetched
	free   chan []byte
	cur    *part
	err    error
	wg     sync.WaitGroup
}

type part struct {
	buf  []byte
	off  int // read position in buf
	err  error
	free chan []byte
	// refs counts the holders of buf: the reader until it moves past
	// the part, and each piece lent out. The last gives buf back.
	refs  atomic.Int32
	unref func() // p.release, made once
}

func newPart(buf []byte, free chan []byte, err error) *part {
	p := &part{buf: buf, err: err, free: free}
	p.refs.Store(1)
	p.unref = p.release
	return p
}

func (p *part) release() {
	if p.refs.Add(-1) == 0 {
		p.free <- p.buf // never blocks: it has room for every buffer
	}
}

// Get opens the object bucket/key for reading, without decrypting it.
// The caller must Close the reader.
func (c *Client) Get(ctx context.Context, bucket, key string, opts GetOptions) (*ObjectReader, error) {
	info, err := c.Head(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	return c.getInfo(ctx, info, opts), nil
}

func (c *Client) getInfo(ctx context.Context, info *ObjectInfo, opts GetOptions) *ObjectReader {
	ctx, cancel := context.WithCancel(ctx)
	r := &ObjectReader{
		info:   *info,
		cancel: cancel,
		order:  make(chan chan *part, c.opts.Concurrency),
		free:   make(chan []byte, c.opts.Concurrency+1),
	}
	partSize := c.opts.PartSize
	if info.Size < partSize {
		partSize = max(info.Size, 1)
	}
	for range c.opts.Concurrency + 1 {
		r.free <- nil // buffers are allocated on first use
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(r.order)
		for off := int64(0); off < info.Size; off += partSize {
			var buf []byte
			select {
			case buf = <-r.free:
			case <-ctx.Done():
				return
			}
			n := min(partSize, info.Size-off)
			if buf == nil {
				buf = make([]byte, partSize)
			}
			buf = buf[:n]
			ch := make(chan *part, 1)
			select {
			case r.order <- ch:
			case <-ctx.Done():
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				err := c.fetch(ctx, &r.info, off, buf)
				if err == nil && opts.Progress != nil {
					opts.Progress(int64(len(buf)))
				}
				ch <- newPart(buf, r.free, err)
			}()
		}
	}()
	return r
}

// fetchAttempts is how many times a ranged GET whose body breaks off is
// tried; the SDK retries failed requests itself.
const fetchAttempts = 3

// fetch reads len(buf) bytes of the object at off into buf.
func (c *Client) fetch(ctx context.Context, info *ObjectInfo, off int64, buf []byte) error {
	var err error
	for range fetchAttempts {
		var out *s3.GetObjectOutput
		out, err = c.api.GetObject(ctx, &s3.GetObjectInput{
			Bucket:  aws.String(info.Bucket),
			Key:     aws.String(info.Key),
			Range:   aws.String(fmt.Sprintf("bytes=%d-%d", off, off+int64(len(buf))-1)),
			IfMatch: nzString(info.ETag),
		})
		if err != nil {
			return wrapErr("reading", info.Bucket, info.Key, err)
		}
		_, err = io.ReadFull(out.Body, buf)
		out.Body.Close()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("the object is shorter than it was: %w", io.ErrUnexpectedEOF)
		}
	}
	return wrapErr("reading", info.Bucket, info.Key, err)
}

func nzString(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// Info describes the object being read.
func (r *ObjectReader) Info() ObjectInfo { return r.info }

// next makes r.cur a part with unread bytes, or returns the reader's error
// (io.EOF at the end).
func (r *ObjectReader) next() error {
	for r.err == nil && (r.cur == nil || r.cur.off == len(r.cur.buf)) {
		if r.cur != nil {
			r.cur.release()
			r.cur = nil
		}
		ch, ok := <-r.order
		if !ok {
			r.err = io.EOF
			break
		}
		if pt := <-ch; pt.err != nil {
			r.err = pt.err
		} else {
			r.cur = pt
		}
	}
	return r.err
}

// Read reads the object's bytes in order.
func (r *ObjectReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, r.err
	}
	if err := r.next(); err != nil {
		return 0, err
	}
	n := copy(p, r.cur.buf[r.cur.off:])
	r.cur.off += n
	return n, nil
}

// Lend returns the next n bytes of the object without copying them, if
// they lie in one fetched part, and keeps that part's buffer from reuse
// until release is called; envelope.Decrypt opens frames where they lie
// through it (see envelope.BufferedSource).
func (r *ObjectReader) Lend(n int) (b []byte, release func(), ok bool) {
	if r.next() != nil {
		return nil, nil, false
	}
	p := r.cur
	if len(p.buf)-p.off < n {
		return nil, nil, false
	}
	b = p.buf[p.off : p.off+n : p.off+n]
	p.off += n
	p.refs.Add(1)
	return b, p.unref, true
}

// WriteTo writes the rest of the object to w, straight from the fetched
// parts; io.Copy uses it.
func (r *ObjectReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := r.next(); err != nil {
			if err == io.EOF {
				err = nil
			}
			return total, err
		}
		n, err := w.Write(r.cur.buf[r.cur.off:])
		r.cur.off += n
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// Close stops the fetches in flight and waits for them. It always returns
// nil.
func (r *ObjectReader) Close() error {
	r.cancel()
	if r.err == nil {
		r.err = errors.New("s3io: read after Close")
	}
	// Drain so that the goroutines are not blocked on the order channel.
	go func() {
		for range r.order {
		}
	}()
	r.wg.Wait()
	return nil
}

// Reader is the plaintext of an encrypted object being downloaded.
type Reader struct {
	obj *ObjectReader
	dr  *envelope.Reader
}

// Download opens the encrypted object bucket/key and returns a Reader of
// its plaintext: it fetches ranges of the object in parallel and decrypts
// as it streams, releasing each frame only once it is authenticated. The
// header is read and authenticated, and the data key unwrapped, before
// Download returns. The caller must Close the Reader.
func (c *Client) Download(ctx context.Context, bucket, key string, dec envelope.DecryptOptions, opts GetOptions) (*Reader, error) {
	obj, err := c.Get(ctx, bucket, key, opts)
	if err != nil {
		return nil, err
	}
	dr, err := envelope.Decrypt(ctx, obj, dec)
	if err != nil {
		obj.Close()
		return nil, fmt.Errorf("decrypting %s: %w", URL(bucket, key), err)
	}
	return &Reader{obj: obj, dr: dr}, nil
}

// Read reads authenticated plaintext. It returns io.EOF only after the
// whole message has been authenticated.
func (r *Reader) Read(p []byte) (int, error) { return r.dr.Read(p) }

// WriteTo writes the rest of the plaintext to w; io.Copy uses it.
func (r *Reader) WriteTo(w io.Writer) (int64, error) { return r.dr.WriteTo(w) }

// Header returns the authenticated message header.
func (r *Reader) Header() *envelope.Header { return r.dr.Header() }

// Info describes the object.
func (r *Reader) Info() ObjectInfo { return r.obj.Info() }

// Close stops the download.
func (r *Reader) Close() error {
	r.obj.cancel() // a fetch the decrypting goroutines wait for ends
	r.dr.Close()
	return r.obj.Close()
}

// List calls fn for each object whose key starts with prefix, in key
// order. Metadata is not filled in (S3 does not list it).
func (c *Client) List(ctx context.Context, bucket, prefix string, fn func(ObjectInfo) error) error {
	p := s3.NewListObjectsV2Paginator(c.api, &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket),
		Prefix: nzString(prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return wrapErr("listing", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			err := fn(ObjectInfo{
				Bucket:       bucket,
				Key:          aws.ToString(o.Key),
				Size:         aws.ToInt64(o.Size),
				ETag:         aws.ToString(o.ETag),
				LastModified: aws.ToTime(o.LastModified),
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}
