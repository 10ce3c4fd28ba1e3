package awskms

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/mlseal/mlseal/internal/awsconfig"
)

// Client is the part of the AWS KMS client that the keyrings use;
// *kms.Client satisfies it, and tests may give their own.
type Client interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Encrypt(ctx context.Context, in *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// A ClientProvider returns the KMS client for a region; region "" asks for
// the default region of the configuration. Implementations must be safe for
// concurrent use.
type ClientProvider interface {
	Client(ctx context.Context, region string) (Client, error)
}

// ClientProviderFunc adapts a function to a ClientProvider.
type ClientProviderFunc func(ctx context.Context, region string) (Client, error)

// Client calls f.
func (f ClientProviderFunc) Client(ctx context.Context, region string) (Client, error) {
	return f(ctx, region)
}

// NewClientProvider returns a ClientProvider that loads the AWS
// configuration once, on first use, through the standard chain
// (environment, shared config and credentials files, SSO, web identity,
// IMDS; AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, a profile's endpoint_url,
// AWS_USE_FIPS_ENDPOINT and AWS_CA_BUNDLE included), and keeps one client per
// region. opts.Region is the default region, for keys named without an ARN;
// opts.Endpoint overrides the endpoint for every region. optFns adjust each
// client, after the configuration is applied.
func NewClientProvider(opts awsconfig.Options, optFns ...func(*kms.Options)) ClientProvider {
	return &configProvider{opts: opts, optFns: optFns, clients: map[string]Client{}}
}

type configProvider struct {
	opts   awsconfig.Options
	optFns []func(*kms.Options)

	mu      sync.Mutex
	cfg     *aws.Config
	clients map[string]Client
}

func (p *configProvider) Client(ctx context.Context, region string) (Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg == nil {
		cfg, err := awsconfig.Load(ctx, p.opts)
		if err != nil {
			return nil, err
		}
		p.cfg = &cfg
	}
	if region == "" {
		region = p.cfg.Region
		if region == "" {
			return nil, errors.New("no AWS region is configured: set AWS_REGION (or a profile's region), or name the key by its ARN")
		}
	}
	if c, ok := p.clients[region]; ok {
		return c, nil
	}
	fns := append([]func(*kms.Options){func(o *kms.Options) { o.Region = region }}, p.optFns...)
	c := kms.NewFromConfig(*p.cfg, fns...)
	p.clients[region] = c
	return c, nil
}

// Error is a failed call to AWS KMS: the operation, the key it named, and
// why it failed. It unwraps to the SDK's error, so errors.As finds the KMS
// error type (such as *types.NotFoundException) and errors.Is finds
// context.DeadlineExceeded.
type Error struct {
	Op  string // GenerateDataKey, Encrypt or Decrypt
	Key string // the key identifier the call named
	Err error
}

func (e *Error) Error() string {
	msg := e.Err.Error()
	var ae smithy.APIError
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded):
		msg = "no answer before the deadline: " + msg
	case errors.As(e.Err, &ae):
		msg = ae.ErrorCode()
		if m := ae.ErrorMessage(); m != "" {
			msg += ": " + m
		}
		var me *retry.MaxAttemptsError
		if errors.As(e.Err, &me) {
			msg = fmt.Sprintf("%s (after %d attempts)", msg, me.Attempt)
		}
	}
	return fmt.Sprintf("kms:%s with key %s: %s", e.Op, e.Key, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Code returns the KMS error type, such as "AccessDeniedException", or ""
// when the call failed without an answer from KMS.
func (e *Error) Code() string {
	var ae smithy.APIError
	if errors.As(e.Err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// refusal reports whether err means that KMS answered that this key does
// not open this ciphertext for this caller, as opposed to an outage, a
// throttled or unauthenticated request, or a deadline: only refusals count
// towards envelope.ErrNoDataKey.
func refusal(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var re *responseError
	if errors.As(err, &re) {
		return true
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "NotFoundException", "DisabledException", "KMSInvalidStateException", "AccessDeniedException",
		"IncorrectKeyException", "InvalidCiphertextException", "InvalidKeyUsageException", "InvalidGrantTokenException":
		return true
	}
	return false
}

// responseError is a KMS answer that the keyring does not accept.
type responseError struct{ msg string }

func (e *responseError) Error() string { return e.msg }
