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
// region, up to MaxClients regions (the least recently made client is
// dropped to make room). opts.Region is the default region, for keys
// named without an ARN and for discovery; opts.Endpoint overrides the
// endpoint for every region. optFns adjust each client, after the
// configuration is applied.
func NewClientProvider(opts awsconfig.Options, optFns ...func(*kms.Options)) ClientProvider {
	return &configProvider{opts: opts, optFns: optFns, clients: map[string]Client{}}
}

// MaxClients is how many regions' clients a ClientProvider from
// NewClientProvider keeps at once.
const MaxClients = 16

type configProvider struct {
	opts   awsconfig.Options
	optFns []func(*kms.Options)

	mu      sync.Mutex
	cfg     *aws.Config
	clients map[string]Client
	order   []string // regions of clients, oldest first
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
		if err := awsconfig.RequireRegion(*p.cfg); err != nil {
			return nil, err
		}
		region = p.cfg.Region
	}
	if c, ok := p.clients[region]; ok {
		return c, nil
	}
	fns := append([]func(*kms.Options){func(o *kms.Options) { o.Region = region }}, p.optFns...)
	c := kms.NewFromConfig(*p.cfg, fns...)
	if len(p.order) >= MaxClients {
		delete(p.clients, p.order[0])
		p.order = p.order[1:]
	}
	p.clients[region] = c
	p.order = append(p.order, region)
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
	case errors.Is(e.Err, awsconfig.ErrNoCredentials):
		msg = awsconfig.ErrNoCredentials.Error()
	case errors.As(e.Err, &ae):
		msg = ae.ErrorCode()
		if m := ae.ErrorMessage(); m != "" {
			msg += ": " + m
		}
		if why := reasons[ae.ErrorCode()]; why != "" {
			msg = why + " (" + msg + ")"
		}
		var me *retry.MaxAttemptsError
		if errors.As(e.Err, &me) {
			msg = fmt.Sprintf("%s (after %d attempts)", msg, me.Attempt)
		}
	}
	return fmt.Sprintf("kms:%s with key %s: %s", e.Op, e.Key, msg)
}

// reasons say in words what the KMS errors that people meet first mean.
var reasons = map[string]string{
	"DisabledException":          "the key is disabled: enable it in KMS to use it",
	"KMSInvalidStateException":   "the key cannot be used in its present state, such as pending deletion (cancel the deletion to use it again)",
	"AccessDeniedException":      "access denied: the key policy or the caller's IAM policy does not allow this call",
	"NotFoundException":          "the key does not exist in this account and region",
	"IncorrectKeyException":      "the data key was not wrapped by this key",
	"InvalidCiphertextException": "KMS could not open the wrapped data key: it was wrapped by another key, with another encryption context, or altered",
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
// not open this wrapped key with this encryption context, as opposed to a
// key that cannot be used now (disabled, pending deletion, unknown, denied
// to the caller), an outage, a throttled or unauthenticated request, or a
// deadline: only refusals count towards envelope.ErrNoDataKey, which says
// that the message cannot be opened with these keys and this context.
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
	case "IncorrectKeyException", "InvalidCiphertextException":
		return true
	}
	return false
}

// responseError is a KMS answer that the keyring does not accept.
type responseError struct{ msg string }

func (e *responseError) Error() string { return e.msg }
