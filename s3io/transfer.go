package s3io

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// This file is the only one that uses the transfer manager, which is still
// at v0: everything else goes through uploader.

// maxParts is S3's limit on the parts of a multipart upload.
const maxParts = 10000

// putInput is one streaming upload.
type putInput struct {
	bucket, key string
	body        io.Reader
	// size is the body's length, or -1 when unknown.
	size        int64
	metadata    map[string]string
	contentType string
	noOverwrite bool
}

// putOutput is what a completed upload reports.
type putOutput struct {
	etag, versionID string
}

// An uploader streams a body into an object, as a multipart upload when it
// is larger than one part, and aborts the upload when it fails.
type uploader interface {
	upload(ctx context.Context, in *putInput) (*putOutput, error)
}

// transferUploader uploads through the transfer manager.
type transferUploader struct {
	api  API
	tm   *transfermanager.Client
	opts Options
}

func newTransferUploader(api API, opts Options) *transferUploader {
	tm := transfermanager.New(api, func(o *transfermanager.Options) {
		o.PartSizeBytes = opts.PartSize
		o.Concurrency = opts.Concurrency
		// Multipart from the first full part, so that no larger first
		// buffer is read: memory stays PartSize x (Concurrency + 1).
		o.MultipartUploadThreshold = opts.PartSize
		// Abort with a fresh context, so that a cancelled upload is still
		// aborted.
		o.FailTimeout = opts.AbortTimeout
	})
	return &transferUploader{api: api, tm: tm, opts: opts}
}

func (u *transferUploader) upload(ctx context.Context, in *putInput) (*putOutput, error) {
	tin := &transfermanager.UploadObjectInput{
		Bucket:   aws.String(in.bucket),
		Key:      aws.String(in.key),
		Body:     in.body,
		Metadata: in.metadata,
	}
	if in.contentType != "" {
		tin.ContentType = aws.String(in.contentType)
	}
	if in.noOverwrite {
		tin.IfNoneMatch = aws.String("*")
	}
	var perCall []func(*transfermanager.Options)
	if in.size > 0 {
		// A known size: grow the parts so that they fit S3's 10000.
		if need := (in.size + maxParts - 1) / maxParts; need > u.opts.PartSize {
			perCall = append(perCall, func(o *transfermanager.Options) { o.PartSizeBytes = need })
		}
	}
	out, err := u.tm.UploadObject(ctx, tin, perCall...)
	if err != nil {
		var mpe transfermanager.MultipartUploadError
		if errors.As(err, &mpe) && mpe.UploadID() != "" {
			// The transfer manager tried to abort once; if S3 was
			// unreachable then, keep trying for a while.
			if aerr := u.abort(in.bucket, in.key, mpe.UploadID()); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
		return nil, err
	}
	return &putOutput{etag: aws.ToString(out.ETag), versionID: aws.ToString(out.VersionID)}, nil
}

// abort aborts a multipart upload, retrying with backoff until S3 confirms
// it or AbortTimeout passes. An upload that is already gone counts as
// aborted.
func (u *transferUploader) abort(bucket, key, uploadID string) error {
	return abortUpload(u.api, u.opts.AbortTimeout, bucket, key, uploadID)
}

// abortUpload is abort for any multipart upload made through api, with a
// context of its own: a cancelled operation must still leave no parts
// behind.
func abortUpload(api API, timeout time.Duration, bucket, key, uploadID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		_, err := api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		})
		if err == nil || isNoSuchUpload(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return &AbortError{Bucket: bucket, Key: key, UploadID: uploadID, Err: wrapErr("aborting", bucket, key, err)}
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func isNoSuchUpload(err error) bool {
	var nsu *types.NoSuchUpload
	if errors.As(err, &nsu) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload"
}
