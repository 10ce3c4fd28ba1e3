package s3io

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/mlseal/mlseal/internal/awsconfig"
)

// Defaults used when the corresponding option is zero.
const (
	// DefaultPartSize is the size of each part of a multipart upload and of
	// each ranged GET of a download: the transfer manager's own default.
	DefaultPartSize = 8 << 20
	// DefaultConcurrency is the number of parts in flight per object.
	DefaultConcurrency = 5
	// DefaultFrameLength is the plaintext length of each frame of the
	// messages Upload writes when EncryptOptions.FrameLength is zero. Random
	// access fetches whole frames, so this trades streaming throughput
	// against read amplification; see README.md for the measurements.
	DefaultFrameLength = 64 << 10
	// DefaultAbortTimeout bounds the attempts to abort a failed multipart
	// upload, which go on after the upload's own context is done.
	DefaultAbortTimeout = 30 * time.Second
)

// Object metadata written on every encrypted object (as x-amz-meta-*). It
// says what the body is and is not secret: the same facts are in the
// message header.
const (
	// MetaFormat is "aws-encryption-sdk" on objects whose body is an AWS
	// Encryption SDK message.
	MetaFormat = "mlseal-format"
	// MetaSuite is the message's algorithm suite id, such as "0x0478".
	MetaSuite = "mlseal-suite"
	// MetaFrameLength is the message's plaintext frame length in bytes.
	MetaFrameLength = "mlseal-frame-length"
	// FormatESDK is the value of MetaFormat.
	FormatESDK = "aws-encryption-sdk"
)

// PathStyleEnv names the environment variable that turns on path-style
// addressing ("1" or "true").
const PathStyleEnv = "MLSEAL_S3_PATH_STYLE"

// API is the part of the S3 client that this package uses. *s3.Client
// implements it.
type API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Options configure a Client. The zero value of each field selects its
// default.
type Options struct {
	// PartSize is the size of each upload part and each ranged GET,
	// DefaultPartSize when zero; S3 requires at least 5 MiB per upload part.
	PartSize int64
	// Concurrency is the number of parts in flight per object,
	// DefaultConcurrency when zero.
	Concurrency int
	// AbortTimeout bounds the retries of aborting a failed multipart upload,
	// DefaultAbortTimeout when zero.
	AbortTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.PartSize <= 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.AbortTimeout <= 0 {
		o.AbortTimeout = DefaultAbortTimeout
	}
}

// A Client encrypts to and decrypts from S3. It is safe for concurrent use.
type Client struct {
	api     API
	opts    Options
	up      uploader
	tracker *tracker
}

// New returns a Client over an S3 client such as *s3.Client.
func New(api API, opts Options) *Client {
	opts.setDefaults()
	t := &tracker{open: map[Upload]bool{}}
	api = &trackingAPI{API: api, t: t}
	return &Client{api: api, opts: opts, up: newTransferUploader(api, opts), tracker: t}
}

// Options returns the client's options, defaults filled in.
func (c *Client) Options() Options { return c.opts }

// Config says how NewFromConfig finds S3.
type Config struct {
	// Region overrides the region of the environment or profile.
	Region string
	// Endpoint overrides the S3 endpoint otherwise taken from
	// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the profile's endpoint_url.
	// It must be https except on a loopback address.
	Endpoint string
	// PathStyle forces path-style addressing (https://host/bucket/key).
	// It is on anyway for IP-address and localhost endpoints, and when
	// MLSEAL_S3_PATH_STYLE is "1" or "true".
	PathStyle bool
	// Options configure the returned Client.
	Options Options
	// ClientOptions adjust the S3 client after the above; tests use it.
	ClientOptions []func(*s3.Options)
}

// NewFromConfig returns a Client for the S3 service of the standard AWS
// configuration, loaded by mlseal's one AWS configuration loader.
func NewFromConfig(ctx context.Context, cfg Config) (*Client, error) {
	awscfg, err := awsconfig.Load(ctx, awsconfig.Options{Region: cfg.Region, Endpoint: cfg.Endpoint})
	if err != nil {
		return nil, err
	}
	api, err := NewS3Client(awscfg, cfg.PathStyle, cfg.ClientOptions...)
	if err != nil {
		return nil, err
	}
	return New(api, cfg.Options), nil
}

// NewS3Client returns an S3 client from an AWS configuration, with
// path-style addressing when forced, asked by MLSEAL_S3_PATH_STYLE, or
// implied by an IP-address or localhost endpoint. It refuses a plain-http
// endpoint to another machine.
func NewS3Client(cfg aws.Config, pathStyle bool, optFns ...func(*s3.Options)) (*s3.Client, error) {
	pathStyle = pathStyle || envTrue(os.Getenv(PathStyleEnv))
	var endpointErr error
	fns := append([]func(*s3.Options){func(o *s3.Options) {
		// BaseEndpoint is resolved by now, from the service-specific
		// settings (AWS_ENDPOINT_URL_S3, the profile's s3 endpoint_url) too.
		if o.BaseEndpoint != nil && *o.BaseEndpoint != "" {
			endpointErr = awsconfig.CheckEndpoint(*o.BaseEndpoint)
			if PathStyleFor(*o.BaseEndpoint) {
				o.UsePathStyle = true
			}
		}
		if pathStyle {
			o.UsePathStyle = true
		}
	}}, optFns...)
	c := s3.NewFromConfig(cfg, fns...)
	if endpointErr != nil {
		return nil, endpointErr
	}
	return c, nil
}

func envTrue(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	return v == "1" || v == "true" || v == "yes" || v == "on"
}

// PathStyleFor reports whether an endpoint needs path-style addressing:
// virtual-hosted buckets need a DNS name, so IP addresses and localhost
// cannot take them.
func PathStyleFor(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || strings.HasSuffix(h, ".localhost") || net.ParseIP(h) != nil
}

// ParseURL splits "s3://bucket/key" into its bucket and key. The key may be
// empty or end with "/" for a prefix.
func ParseURL(s string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3:// URL", s)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket", s)
	}
	return bucket, key, nil
}

// URL formats an S3 URL.
func URL(bucket, key string) string { return "s3://" + bucket + "/" + key }

// ErrNotFound means the bucket or object does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists means the object exists and the caller asked not to replace it.
var ErrExists = errors.New("object already exists")

// ErrAccess means S3 refused the credentials or the permission.
var ErrAccess = errors.New("access denied")

// s3Error wraps an error from S3 with the object it was about and a
// sentinel for errors.Is.
type s3Error struct {
	op, bucket, key string
	kind            error // ErrNotFound, ErrExists, ErrAccess or nil
	msg             string
	err             error
}

func (e *s3Error) Error() string {
	where := URL(e.bucket, e.key)
	if e.msg != "" {
		return fmt.Sprintf("%s %s: %s", e.op, where, e.msg)
	}
	return fmt.Sprintf("%s %s: %v", e.op, where, e.err)
}

func (e *s3Error) Unwrap() []error {
	if e.kind != nil {
		return []error{e.kind, e.err}
	}
	return []error{e.err}
}

// wrapErr explains an error of an S3 call on bucket/key.
func wrapErr(op, bucket, key string, err error) error {
	if err == nil {
		return nil
	}
	var se *s3Error
	if errors.As(err, &se) {
		return err
	}
	e := &s3Error{op: op, bucket: bucket, key: key, err: err}
	var nb *types.NoSuchBucket
	var nk *types.NoSuchKey
	var nf *types.NotFound
	var ae smithy.APIError
	switch {
	case errors.As(err, &nb):
		e.kind, e.msg = ErrNotFound, fmt.Sprintf("bucket %q does not exist", bucket)
	case errors.As(err, &nk), errors.As(err, &nf):
		e.kind, e.msg = ErrNotFound, "no such object"
	case errors.As(err, &ae):
		switch ae.ErrorCode() {
		case "NoSuchBucket":
			e.kind, e.msg = ErrNotFound, fmt.Sprintf("bucket %q does not exist", bucket)
		case "NoSuchKey", "NotFound":
			e.kind, e.msg = ErrNotFound, "no such object"
		case "PreconditionFailed":
			e.kind, e.msg = ErrExists, "the object already exists"
		case "InvalidAccessKeyId":
			e.kind, e.msg = ErrAccess, "S3 does not know the access key id (check the AWS credentials)"
		case "SignatureDoesNotMatch":
			e.kind, e.msg = ErrAccess, "S3 rejected the request signature (check the AWS secret access key)"
		case "AccessDenied", "Forbidden":
			e.kind, e.msg = ErrAccess, "access denied (check the AWS credentials and the bucket policy)"
		case "ExpiredToken", "InvalidToken":
			e.kind, e.msg = ErrAccess, "the session token is expired or invalid"
		}
	}
	if e.msg == "" {
		var oe *net.OpError
		if errors.As(err, &oe) {
			e.msg = fmt.Sprintf("cannot reach S3: %v", oe)
		}
	}
	return e
}
