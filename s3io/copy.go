package s3io

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/mlseal/mlseal/envelope"
)

// MinPartSize is S3's smallest size of a part of a multipart upload other
// than the last.
const MinPartSize = 5 << 20

// DefaultCopyPartSize is the length of each server-side copy of Rewrap.
// Copied ranges cost the client no memory and no bandwidth, so they are
// large, to make few requests; S3 allows up to 5 GiB.
const DefaultCopyPartSize = 512 << 20

// ErrChanged means the object was replaced or changed while it was being
// read or rewritten, so the operation was refused instead of mixing two
// versions or overwriting a change.
var ErrChanged = errors.New("the object changed since it was read")

// PartCopier is the server-side copy that Rewrap uses when the client's
// API has it (*s3.Client does). Without it, Rewrap streams the body
// through the client instead.
type PartCopier interface {
	UploadPartCopy(context.Context, *s3.UploadPartCopyInput, ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error)
}

// RewrapObjectOptions configure Client.Rewrap.
type RewrapObjectOptions struct {
	// InPlace replaces the source object itself, and only if it is still
	// the version that was read: the reads and copies are pinned to its
	// ETag (If-Match, x-amz-copy-source-if-match) and the final write is
	// conditional on it (If-Match on CompleteMultipartUpload or
	// PutObject). The destination must then be the source.
	InPlace bool
	// NoOverwrite fails with ErrExists when the destination exists
	// (If-None-Match: *). It cannot be combined with InPlace.
	NoOverwrite bool
	// CopyPartSize is the length of each server-side copied range,
	// DefaultCopyPartSize when zero; it grows to keep within S3's 10000
	// parts.
	CopyPartSize int64
	// Metadata is added to the source's user metadata (x-amz-meta-*) on
	// the new object, replacing keys of the same name. It is not
	// encrypted: put nothing secret in it.
	Metadata map[string]string
	// Progress, when set, is called with the number of body bytes of the
	// object each step has dealt with, copied or sent.
	Progress func(n int64)
}

// RewrapResult describes an object that Rewrap wrote.
type RewrapResult struct {
	PutResult
	// Rewrapped has the new header and the old and new headers' details.
	Rewrapped *envelope.Rewrapped
	// SourceETag is the ETag of the source object that was read.
	SourceETag string
	// BytesRead and BytesSent count the object bytes that went through the
	// client: the old header and the start of the body read, the new
	// header and the start of the body sent. BytesCopied counts the bytes
	// S3 copied from the source on the server side.
	BytesRead, BytesSent, BytesCopied int64
}

// Rewrap writes the encrypted object bucket/key to dstBucket/dstKey with
// its data key wrapped anew, as envelope.Rewrap does, without the body
// passing through the client: the new object is a multipart upload whose
// first part is the new header plus enough of the old body to reach S3's
// minimum part size (5 MiB), and whose other parts are server-side copies
// (UploadPartCopy) of the rest of the old object. An object whose new
// version is under 5 MiB is read and written whole.
//
// Everything envelope.Rewrap says about what rewrap does and does not
// protect against applies. Note especially that a bucket with versioning
// keeps the old version, wrapped keys and all, until it is deleted.
//
// The source is read at one ETag throughout; a source replaced in between
// fails with ErrChanged. If anything fails, the multipart upload is aborted
// and the destination is left as it was. The new object keeps the source's
// user metadata, plus put.Metadata.
func (c *Client) Rewrap(ctx context.Context, bucket, key, dstBucket, dstKey string, opts envelope.RewrapOptions, put RewrapObjectOptions) (*RewrapResult, error) {
	if put.InPlace && (bucket != dstBucket || key != dstKey) {
		return nil, fmt.Errorf("rewrapping %s in place: the destination %s is another object", URL(bucket, key), URL(dstBucket, dstKey))
	}
	if put.InPlace && put.NoOverwrite {
		return nil, errors.New("rewrapping in place replaces the object: NoOverwrite cannot be set too")
	}
	obj, err := c.OpenObject(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	info := obj.Info()
	if put.InPlace && info.ETag == "" {
		return nil, fmt.Errorf("rewrapping %s in place: S3 gave the object no ETag, so its replacement cannot be made conditional on it being unchanged", URL(bucket, key))
	}
	// The header is rarely over a few KiB: one ranged GET reads it, or
	// the whole of a small object, which is then written in one piece.
	var src io.Reader
	var whole []byte
	if info.Size <= MinPartSize {
		whole = make([]byte, info.Size)
		if _, err := obj.ReadAt(whole, 0); err != nil && err != io.EOF {
			return nil, wrapErr("rewrapping", bucket, key, changedErr(bucket, key, err))
		}
		src = bytes.NewReader(whole)
	} else {
		src = bufio.NewReaderSize(io.NewSectionReader(obj, 0, info.Size), 64<<10)
	}
	rw, err := envelope.RewrapHeader(ctx, src, opts)
	if err != nil {
		return nil, wrapErr("rewrapping", bucket, key, changedErr(bucket, key, err))
	}
	r := &rewrapJob{c: c, obj: obj, whole: whole, dstBucket: dstBucket, dstKey: dstKey, put: put, res: &RewrapResult{
		PutResult:  PutResult{Bucket: dstBucket, Key: dstKey, Header: rw.New},
		Rewrapped:  rw,
		SourceETag: info.ETag,
	}}
	r.res.Size = int64(len(rw.Header)) + info.Size - rw.OldHeaderLen
	r.meta = maps.Clone(info.Metadata)
	if len(put.Metadata) > 0 {
		if r.meta == nil {
			r.meta = map[string]string{}
		}
		maps.Copy(r.meta, put.Metadata)
	}
	if put.InPlace {
		r.replaces = info.ETag
	}
	if r.res.Size <= MinPartSize {
		err = r.small(ctx)
	} else {
		err = r.multipart(ctx)
	}
	r.res.BytesRead = obj.BytesFetched()
	if err != nil {
		return nil, wrapErr("rewrapping", dstBucket, dstKey, err)
	}
	return r.res, nil
}

// rewrapJob is one object being rewrapped.
type rewrapJob struct {
	c                 *Client
	obj               *ObjectReaderAt
	whole             []byte // the object, when it was read whole
	dstBucket, dstKey string
	put               RewrapObjectOptions
	// replaces is the ETag the destination must still have, when rewrapping
	// in place.
	replaces string
	meta     map[string]string
	res      *RewrapResult
	mu       sync.Mutex // guards res's counters while parts are copied
}

func (r *rewrapJob) ifMatch() *string { return nzString(r.replaces) }

func (r *rewrapJob) ifNoneMatch() *string {
	if r.put.NoOverwrite {
		return aws.String("*")
	}
	return nil
}

// destErr explains a failed write of the destination: when rewrapping in
// place, a failed precondition means the object changed since it was read.
func (r *rewrapJob) destErr(err error) error {
	if r.replaces != "" {
		return changedErr(r.dstBucket, r.dstKey, err)
	}
	return err
}

func (r *rewrapJob) progress(n int64) {
	if r.put.Progress != nil && n > 0 {
		r.put.Progress(n)
	}
}

// readBody returns n bytes of the old body from its offset off.
func (r *rewrapJob) readBody(off, n int64) ([]byte, error) {
	if r.whole != nil {
		return r.whole[r.res.Rewrapped.OldHeaderLen+off:][:n], nil
	}
	b := make([]byte, n)
	_, err := r.obj.ReadAt(b, r.res.Rewrapped.OldHeaderLen+off)
	if err == io.EOF {
		err = nil
	}
	return b, changedErr(r.obj.info.Bucket, r.obj.info.Key, err)
}

// small writes an object under the minimum part size with one PutObject.
func (r *rewrapJob) small(ctx context.Context) error {
	bodyLen := r.obj.Size() - r.res.Rewrapped.OldHeaderLen
	body, err := r.readBody(0, bodyLen)
	if err != nil {
		return err
	}
	data := append(slices.Clip(r.res.Rewrapped.Header), body...)
	out, err := r.c.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(r.dstBucket), Key: aws.String(r.dstKey),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String(contentType("")),
		Metadata:      r.meta,
		IfMatch:       r.ifMatch(),
		IfNoneMatch:   r.ifNoneMatch(),
	})
	if err != nil {
		return r.destErr(err)
	}
	r.res.BytesSent = int64(len(data))
	r.res.ETag, r.res.VersionID = aws.ToString(out.ETag), aws.ToString(out.VersionId)
	r.progress(bodyLen)
	return nil
}

// multipart writes the new header and the start of the body as the first
// part, then copies the rest of the body range by range.
func (r *rewrapJob) multipart(ctx context.Context) error {
	rw := r.res.Rewrapped
	info := r.obj.Info()
	bodyLen := info.Size - rw.OldHeaderLen
	first := min(bodyLen, MinPartSize-int64(len(rw.Header)))
	size := r.put.CopyPartSize
	if size <= 0 {
		size = DefaultCopyPartSize
	}
	size = max(size, MinPartSize, (bodyLen-first+maxParts-2)/(maxParts-1))
	copier, serverSide := partCopier(r.c.api)

	created, err := r.c.api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(r.dstBucket), Key: aws.String(r.dstKey),
		ContentType: aws.String(contentType("")),
		Metadata:    r.meta,
	})
	if err != nil {
		return err
	}
	id := created.UploadId
	parts, err := r.parts(ctx, id, first, size, bodyLen, copier, serverSide)
	err = changedErr(info.Bucket, info.Key, err)
	if err == nil {
		var out *s3.CompleteMultipartUploadOutput
		out, err = r.c.api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(r.dstBucket), Key: aws.String(r.dstKey), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
			IfMatch:         r.ifMatch(),
			IfNoneMatch:     r.ifNoneMatch(),
		})
		if err == nil {
			r.res.ETag, r.res.VersionID = aws.ToString(out.ETag), aws.ToString(out.VersionId)
			return nil
		}
		err = r.destErr(err)
	}
	if aerr := abortUpload(r.c.api, r.c.opts.AbortTimeout, r.dstBucket, r.dstKey, aws.ToString(id)); aerr != nil {
		err = errors.Join(err, aerr)
	}
	return err
}

// parts uploads the first part and copies (or, without a PartCopier,
// streams) the others, Concurrency at a time, pinned to the source's ETag.
func (r *rewrapJob) parts(ctx context.Context, id *string, first, size, bodyLen int64, copier PartCopier, serverSide bool) ([]types.CompletedPart, error) {
	rw := r.res.Rewrapped
	info := r.obj.Info()
	start, err := r.readBody(0, first)
	if err != nil {
		return nil, err
	}
	data := append(slices.Clip(rw.Header), start...)
	up, err := r.c.api.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(r.dstBucket), Key: aws.String(r.dstKey), UploadId: id,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return nil, err
	}
	r.res.BytesSent += int64(len(data))
	r.progress(first)
	// Parts are completed by ETag: the upload is created without a
	// checksum algorithm, and copied parts carry no checksum of the client's.
	parts := []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}

	for off := first; off < bodyLen; off += size {
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(len(parts) + 1))})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		firstErr error
		sem      = make(chan struct{}, r.c.opts.Concurrency)
	)
	fail := func(err error) {
		r.mu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
		r.mu.Unlock()
	}
	for i := 1; i < len(parts) && ctx.Err() == nil; i++ {
		n, off := *parts[i].PartNumber, first+int64(i-1)*size
		end := min(off+size, bodyLen)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			var etag *string
			var err error
			if serverSide {
				etag, err = r.copyPart(ctx, copier, id, n, rw.OldHeaderLen+off, rw.OldHeaderLen+end-1, info)
			} else {
				etag, err = r.sendPart(ctx, id, n, off, end)
			}
			if err != nil {
				fail(err)
				return
			}
			r.mu.Lock()
			parts[i].ETag = etag
			r.mu.Unlock()
			r.progress(end - off)
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return parts, firstErr
}

func (r *rewrapJob) copyPart(ctx context.Context, copier PartCopier, id *string, n int32, from, to int64, info ObjectInfo) (*string, error) {
	out, err := copier.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
		Bucket: aws.String(r.dstBucket), Key: aws.String(r.dstKey), UploadId: id,
		PartNumber:        aws.Int32(n),
		CopySource:        aws.String(copySource(info.Bucket, info.Key)),
		CopySourceRange:   aws.String(fmt.Sprintf("bytes=%d-%d", from, to)),
		CopySourceIfMatch: nzString(info.ETag),
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.res.BytesCopied += to - from + 1
	r.mu.Unlock()
	return out.CopyPartResult.ETag, nil
}

// sendPart streams body bytes [off, end) through the client, for APIs
// without a server-side copy.
func (r *rewrapJob) sendPart(ctx context.Context, id *string, n int32, off, end int64) (*string, error) {
	b, err := r.readBody(off, end-off)
	if err != nil {
		return nil, err
	}
	out, err := r.c.api.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(r.dstBucket), Key: aws.String(r.dstKey), UploadId: id,
		PartNumber: aws.Int32(n), Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))),
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.res.BytesSent += int64(len(b))
	r.mu.Unlock()
	return out.ETag, nil
}

// copySource is the x-amz-copy-source of an object: bucket and key, the key
// URL-encoded segment by segment as S3 requires (the SDK sends it as given).
func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return bucket + "/" + strings.Join(segs, "/")
}

// partCopier returns the server-side copy of api, looking through the
// client's own upload tracking.
func partCopier(api API) (PartCopier, bool) {
	if t, ok := api.(*trackingAPI); ok {
		api = t.API
	}
	pc, ok := api.(PartCopier)
	return pc, ok
}

// changedErr reports a failed precondition on an ETag (the source's, or
// the destination's when rewrapping in place) as ErrChanged.
func changedErr(bucket, key string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed" {
		return &s3Error{op: "rewrapping", bucket: bucket, key: key, kind: ErrChanged,
			msg: "the object changed since it was read, so nothing was written: run again", err: ae}
	}
	return err
}
