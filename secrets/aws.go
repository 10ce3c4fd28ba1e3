package secrets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/mlseal/mlseal/internal/awsconfig"
)

// SecretsManagerAPI is the part of the Secrets Manager client that
// [SecretsManager] uses; *secretsmanager.Client implements it.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	BatchGetSecretValue(ctx context.Context, in *secretsmanager.BatchGetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error)
}

// SSMAPI is the part of the SSM client that [SSM] uses; *ssm.Client
// implements it.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
}

// The largest batches the services take.
const (
	SecretsManagerBatchSize = 20 // BatchGetSecretValue
	SSMBatchSize            = 10 // GetParameters
)

// SecretsManager is the provider of secretsmanager:// references.
type SecretsManager struct {
	client SecretsManagerAPI
}

// NewSecretsManager returns a provider that reads secrets with client.
func NewSecretsManager(client SecretsManagerAPI) *SecretsManager {
	return &SecretsManager{client: client}
}

// Fetch reads the secret version named by ref with GetSecretValue.
func (p *SecretsManager) Fetch(ctx context.Context, ref Ref) (Secret, error) {
	if ref.scheme != SchemeSecretsManager {
		return Secret{}, wrongScheme(ref, SchemeSecretsManager)
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.name)}
	if ref.versionID != "" {
		in.VersionId = aws.String(ref.versionID)
	} else {
		in.VersionStage = aws.String(ref.Stage())
	}
	out, err := p.client.GetSecretValue(ctx, in)
	if err != nil {
		return Secret{}, awsError(ref, err)
	}
	return smSecret(ref, out.SecretString, out.SecretBinary, Metadata{
		Name: aws.ToString(out.Name), ARN: aws.ToString(out.ARN), VersionID: aws.ToString(out.VersionId),
		VersionStages: out.VersionStages, Created: aws.ToTime(out.CreatedDate),
	})
}

func smSecret(ref Ref, str *string, bin []byte, m Metadata) (Secret, error) {
	switch {
	case str != nil:
		return NewSecret(*str, m), nil
	case bin != nil:
		m.Binary = true
		return NewSecret(string(bin), m), nil
	}
	return Secret{}, &Error{Ref: ref, Kind: ErrInvalid, Err: errors.New("the response has neither SecretString nor SecretBinary")}
}

// BatchSize returns SecretsManagerBatchSize.
func (p *SecretsManager) BatchSize() int { return SecretsManagerBatchSize }

// Batchable reports whether ref reads AWSCURRENT, the only version that
// BatchGetSecretValue returns.
func (p *SecretsManager) Batchable(ref Ref) bool {
	return ref.scheme == SchemeSecretsManager && ref.versionID == "" && ref.stage == ""
}

// FetchBatch reads up to SecretsManagerBatchSize AWSCURRENT secrets with
// one BatchGetSecretValue call.
func (p *SecretsManager) FetchBatch(ctx context.Context, refs []Ref) ([]Secret, []error, error) {
	if len(refs) > SecretsManagerBatchSize {
		return nil, nil, fmt.Errorf("secrets: %d references in one batch, at most %d", len(refs), SecretsManagerBatchSize)
	}
	ids := make([]string, len(refs))
	for i, r := range refs {
		if !p.Batchable(r) {
			return nil, nil, fmt.Errorf("secrets: %s cannot be fetched in a batch", r)
		}
		ids[i] = r.name
	}
	secrets := make([]Secret, len(refs))
	errs := make([]error, len(refs))
	in := &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids}
	for {
		out, err := p.client.BatchGetSecretValue(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		for _, v := range out.SecretValues {
			for i, r := range refs {
				if secrets[i].IsZero() && errs[i] == nil && matchesSecret(r.name, v) {
					secrets[i], errs[i] = smSecret(r, v.SecretString, v.SecretBinary, Metadata{
						Name: aws.ToString(v.Name), ARN: aws.ToString(v.ARN), VersionID: aws.ToString(v.VersionId),
						VersionStages: v.VersionStages, Created: aws.ToTime(v.CreatedDate),
					})
				}
			}
		}
		for _, e := range out.Errors {
			for i, r := range refs {
				if secrets[i].IsZero() && errs[i] == nil && aws.ToString(e.SecretId) == r.name {
					code := aws.ToString(e.ErrorCode)
					errs[i] = &Error{Ref: r, Kind: kindOf(code), Err: fmt.Errorf("%s: %s", code, aws.ToString(e.Message))}
				}
			}
		}
		if out.NextToken == nil || *out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	return secrets, errs, nil
}

// matchesSecret reports whether the batch result v answers id, a name, an
// ARN or a partial ARN.
func matchesSecret(id string, v smtypes.SecretValueEntry) bool {
	name, arn := aws.ToString(v.Name), aws.ToString(v.ARN)
	return id == name || id == arn || len(arn) == len(id)+7 && arn[:len(id)] == id && arn[len(id)] == '-'
}

// SSM is the provider of ssm:// references: SSM Parameter Store, with
// SecureString parameters decrypted.
type SSM struct {
	client SSMAPI
}

// NewSSM returns a provider that reads parameters with client.
func NewSSM(client SSMAPI) *SSM { return &SSM{client: client} }

// Fetch reads the parameter version named by ref with GetParameter.
func (p *SSM) Fetch(ctx context.Context, ref Ref) (Secret, error) {
	if ref.scheme != SchemeSSM {
		return Secret{}, wrongScheme(ref, SchemeSSM)
	}
	out, err := p.client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(ref.selector()), WithDecryption: aws.Bool(ref.Decrypt())})
	if err != nil {
		return Secret{}, awsError(ref, err)
	}
	if out.Parameter == nil {
		return Secret{}, &Error{Ref: ref, Kind: ErrInvalid, Err: errors.New("the response has no Parameter")}
	}
	return ssmSecret(out.Parameter.Value, out.Parameter.Name, out.Parameter.ARN, out.Parameter.Version,
		string(out.Parameter.Type), out.Parameter.LastModifiedDate), nil
}

func ssmSecret(value, name, arn *string, version int64, typ string, modified *time.Time) Secret {
	return NewSecret(aws.ToString(value), Metadata{
		Name: aws.ToString(name), ARN: aws.ToString(arn), VersionID: strconv.FormatInt(version, 10),
		Type: typ, Created: aws.ToTime(modified),
	})
}

// BatchSize returns SSMBatchSize.
func (p *SSM) BatchSize() int { return SSMBatchSize }

// Batchable reports whether ref is an ssm:// reference read decrypted:
// GetParameters takes versions and labels too, but decrypts all its
// parameters or none.
func (p *SSM) Batchable(ref Ref) bool { return ref.scheme == SchemeSSM && ref.Decrypt() }

// FetchBatch reads up to SSMBatchSize parameters with one GetParameters
// call.
func (p *SSM) FetchBatch(ctx context.Context, refs []Ref) ([]Secret, []error, error) {
	if len(refs) > SSMBatchSize {
		return nil, nil, fmt.Errorf("secrets: %d references in one batch, at most %d", len(refs), SSMBatchSize)
	}
	names := make([]string, len(refs))
	for i, r := range refs {
		if !p.Batchable(r) {
			return nil, nil, fmt.Errorf("secrets: %s cannot be fetched in a batch", r)
		}
		names[i] = r.selector()
	}
	out, err := p.client.GetParameters(ctx, &ssm.GetParametersInput{Names: names, WithDecryption: aws.Bool(true)})
	if err != nil {
		return nil, nil, err
	}
	secrets := make([]Secret, len(refs))
	errs := make([]error, len(refs))
	for _, v := range out.Parameters {
		for i, r := range refs {
			name := aws.ToString(v.Name)
			if (r.name == name || r.name == aws.ToString(v.ARN)) && r.selector()[len(r.name):] == aws.ToString(v.Selector) {
				secrets[i] = ssmSecret(v.Value, v.Name, v.ARN, v.Version, string(v.Type), v.LastModifiedDate)
			}
		}
	}
	for _, bad := range out.InvalidParameters {
		for i, r := range refs {
			if names[i] == bad && secrets[i].IsZero() {
				errs[i] = &Error{Ref: r, Kind: ErrNotFound, Err: errors.New("GetParameters lists it as an invalid parameter")}
			}
		}
	}
	return secrets, errs, nil
}

// kindOf maps an AWS error code to a kind of failure.
func kindOf(code string) error {
	switch code {
	case "ResourceNotFoundException", "ParameterNotFound", "ParameterVersionNotFound":
		return ErrNotFound
	case "AccessDeniedException", "AccessDenied", "UnrecognizedClientException":
		return ErrAccessDenied
	case "DecryptionFailure", "InvalidKeyId":
		return ErrDecryption
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "ThrottledException":
		return ErrThrottled
	case "InvalidRequestException":
		return ErrInvalid
	}
	return nil
}

// isAccessDenied reports whether err is AWS refusing the call for want of
// permission (not for bad credentials).
func isAccessDenied(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	code := api.ErrorCode()
	return code == "AccessDeniedException" || code == "AccessDenied"
}

// awsError wraps the error of an SDK call for ref, with its kind.
func awsError(ref Ref, err error) error {
	var kind error
	var api smithy.APIError
	var quota ratelimit.QuotaExceededError
	switch {
	case errors.As(err, &api):
		kind = kindOf(api.ErrorCode())
	case errors.As(err, &quota):
		kind = ErrThrottled
	}
	return &Error{Ref: ref, Kind: kind, Err: err}
}

// AWSOptions configure the AWS clients of [NewProviders]. The zero value
// uses the standard AWS configuration chain as it is.
type AWSOptions struct {
	// Region overrides the region of the configuration chain.
	Region string
	// SecretsManagerEndpoint and SSMEndpoint override the services'
	// endpoints, for VPC interface endpoints; they take precedence over
	// AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_SSM and
	// AWS_ENDPOINT_URL. Endpoints must be https, except on loopback.
	SecretsManagerEndpoint string
	SSMEndpoint            string
	// Timeout bounds each HTTP request; zero leaves the SDK's default.
	Timeout time.Duration
	// SecretsManagerOptions and SSMOptions are applied to the clients
	// last (a retryer for tests, say).
	SecretsManagerOptions []func(*secretsmanager.Options)
	SSMOptions            []func(*ssm.Options)
}

// NewProviders returns the standard providers: Secrets Manager and SSM
// clients from the standard AWS configuration chain (created on first use,
// so that env:// and file:// references need no AWS configuration), the
// environment and files. Throttled calls are retried with exponential
// backoff, up to awsconfig.MaxAttempts attempts in all.
func NewProviders(opts AWSOptions) Providers {
	return Providers{
		SchemeSecretsManager: &lazy[*SecretsManager]{build: func(ctx context.Context) (*SecretsManager, error) {
			cfg, err := awsconfig.Load(ctx, awsconfig.Options{Region: opts.Region, Timeout: opts.Timeout})
			if err != nil {
				return nil, err
			}
			client := secretsmanager.NewFromConfig(cfg, append([]func(*secretsmanager.Options){func(o *secretsmanager.Options) {
				if opts.SecretsManagerEndpoint != "" {
					o.BaseEndpoint = aws.String(opts.SecretsManagerEndpoint)
				}
			}}, opts.SecretsManagerOptions...)...)
			if err := checkClientEndpoint("secrets manager", client.Options().BaseEndpoint); err != nil {
				return nil, err
			}
			return NewSecretsManager(client), nil
		}},
		SchemeSSM: &lazy[*SSM]{build: func(ctx context.Context) (*SSM, error) {
			cfg, err := awsconfig.Load(ctx, awsconfig.Options{Region: opts.Region, Timeout: opts.Timeout})
			if err != nil {
				return nil, err
			}
			client := ssm.NewFromConfig(cfg, append([]func(*ssm.Options){func(o *ssm.Options) {
				if opts.SSMEndpoint != "" {
					o.BaseEndpoint = aws.String(opts.SSMEndpoint)
				}
			}}, opts.SSMOptions...)...)
			if err := checkClientEndpoint("ssm", client.Options().BaseEndpoint); err != nil {
				return nil, err
			}
			return NewSSM(client), nil
		}},
		SchemeEnv:  Env{},
		SchemeFile: File{},
	}
}

// checkClientEndpoint applies the https-only rule to the endpoint a client
// ends up with, whichever setting it came from.
func checkClientEndpoint(service string, endpoint *string) error {
	if endpoint == nil {
		return nil
	}
	if err := awsconfig.CheckEndpoint(*endpoint); err != nil {
		return fmt.Errorf("%s: %w", service, err)
	}
	return nil
}

// lazy is a BatchProvider built on first use, so that env:// and file://
// references need no AWS configuration.
type lazy[P BatchProvider] struct {
	build func(context.Context) (P, error)
	mu    sync.Mutex
	p     P
	built bool
}

func (l *lazy[P]) get(ctx context.Context) (P, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.built {
		p, err := l.build(ctx)
		if err != nil {
			return p, err
		}
		l.p, l.built = p, true
	}
	return l.p, nil
}

func (l *lazy[P]) Fetch(ctx context.Context, ref Ref) (Secret, error) {
	p, err := l.get(ctx)
	if err != nil {
		return Secret{}, &Error{Ref: ref, Err: err}
	}
	return p.Fetch(ctx, ref)
}

// BatchSize and Batchable depend on the provider's kind only, so they are
// answered without building it.
func (l *lazy[P]) BatchSize() int { var p P; return p.BatchSize() }

func (l *lazy[P]) Batchable(ref Ref) bool { var p P; return p.Batchable(ref) }

func (l *lazy[P]) FetchBatch(ctx context.Context, refs []Ref) ([]Secret, []error, error) {
	p, err := l.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	return p.FetchBatch(ctx, refs)
}
