// Package awsconfig is the one place where mlseal loads AWS configuration,
// for the KMS keyring, the secrets providers and S3 streaming alike.
//
// It uses the SDK's standard chain (environment, shared config and
// credentials files, SSO, web identity, IMDS), so AWS_REGION, AWS_PROFILE,
// AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, a profile's endpoint_url and
// AWS_USE_FIPS_ENDPOINT all work as they do for the AWS CLI. Its HTTP client
// is the SDK's buildable client, so that AWS_CA_BUNDLE keeps working: the SDK
// cannot add a CA bundle to a plain *http.Client.
//
// The SDK's own log lines (such as "falling back to IMDSv1", or "Response
// has no supported checksum" for every ranged GET) are dropped unless
// SetDebugLog names where they go; and a caller with no credentials at all
// gets ErrNoCredentials instead of the chain's last failure.
package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/smithy-go/logging"
)

// ErrNoCredentials is wrapped by the error of a call made with no AWS
// credentials configured anywhere: the SDK's chain would otherwise end in
// a message about EC2 instance roles that means little off EC2.
var ErrNoCredentials = errors.New("no AWS credentials found: set AWS_PROFILE, run `aws sso login`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (on EC2, ECS or EKS, give the instance or task a role)")

// ErrNoRegion is returned by RequireRegion when no region is configured.
var ErrNoRegion = errors.New("no AWS region is configured: set AWS_REGION or a profile's region")

// RequireRegion returns an error wrapping ErrNoRegion, with the same
// message for every service, when cfg has no region. Call it once per run,
// before the first request, rather than letting each request fail.
func RequireRegion(cfg aws.Config) error {
	if cfg.Region == "" {
		return ErrNoRegion
	}
	return nil
}

// debugLog is where the SDK's log lines go; nil drops them.
var debugLog atomic.Pointer[logging.Logger]

// SetDebugLog sends the log lines of the SDK clients loaded after it
// (warnings, debug notes and retries) to w, as a --debug flag would; nil
// drops them again, which is the default.
func SetDebugLog(w io.Writer) {
	if w == nil {
		debugLog.Store(nil)
		return
	}
	var l logging.Logger = logging.NewStandardLogger(w)
	debugLog.Store(&l)
}

// MaxAttempts is how many times a call is tried in all when AWS throttles it
// or a transient fault occurs, with the SDK's exponential backoff between.
const MaxAttempts = 6

// Options adjust the configuration for one service client.
type Options struct {
	// Region overrides the region from the environment or profile.
	Region string
	// Endpoint overrides the service endpoint (a VPC interface endpoint, a
	// FIPS endpoint, or a local server in tests). It must be https, except
	// on a loopback address.
	Endpoint string
	// Timeout bounds each HTTP request; zero leaves the SDK's default.
	Timeout time.Duration
}

// Load returns the AWS configuration for a client, with mlseal's retry and
// transport settings.
func Load(ctx context.Context, opts Options) (aws.Config, error) {
	if opts.Endpoint != "" {
		if err := CheckEndpoint(opts.Endpoint); err != nil {
			return aws.Config{}, err
		}
	}
	// The SDK applies AWS_ENDPOINT_URL_<SERVICE> inside each client, after
	// this function: check those settings here, so that none of them sends
	// requests in the clear.
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_ENDPOINT_URL") && value != "" {
			if err := CheckEndpoint(value); err != nil {
				return aws.Config{}, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	client := awshttp.NewBuildableClient()
	if opts.Timeout > 0 {
		client = client.WithTimeout(opts.Timeout)
	}
	var logger logging.Logger = logging.Nop{}
	mode := aws.ClientLogMode(0)
	if l := debugLog.Load(); l != nil {
		logger, mode = *l, aws.LogRetries
	}
	loaders := []func(*config.LoadOptions) error{
		config.WithHTTPClient(client),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = MaxAttempts })
		}),
		config.WithLogger(logger),
		config.WithClientLogMode(mode),
	}
	if opts.Region != "" {
		loaders = append(loaders, config.WithRegion(opts.Region))
	}
	if opts.Endpoint != "" {
		loaders = append(loaders, config.WithBaseEndpoint(opts.Endpoint))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loaders...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.BaseEndpoint != nil {
		if err := CheckEndpoint(*cfg.BaseEndpoint); err != nil {
			return aws.Config{}, err
		}
	}
	// With nothing configured, the SDK's chain ends at the EC2 instance
	// role: off EC2 its failure is the only sign that no credentials exist.
	if cfg.Credentials != nil && aws.IsCredentialsProvider(cfg.Credentials, (*ec2rolecreds.Provider)(nil)) {
		cfg.Credentials = lastResort{cfg.Credentials}
	}
	return cfg, nil
}

// lastResort is the instance-role provider, reached only when no other
// credentials are configured: its failure means there are none.
type lastResort struct{ aws.CredentialsProvider }

func (p lastResort) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.CredentialsProvider.Retrieve(ctx)
	if err != nil && ctx.Err() == nil {
		return c, &noCredentials{cause: err}
	}
	return c, err
}

// noCredentials reads as ErrNoCredentials alone, one line that says what to
// do; the instance role's own failure stays reachable through errors.As.
type noCredentials struct{ cause error }

func (e *noCredentials) Error() string   { return ErrNoCredentials.Error() }
func (e *noCredentials) Unwrap() []error { return []error{ErrNoCredentials, e.cause} }

// IsCredentialsProvider lets the SDK see the provider inside.
func (p lastResort) IsCredentialsProvider(target aws.CredentialsProvider) bool {
	return aws.IsCredentialsProvider(p.CredentialsProvider, target)
}

// CheckEndpoint refuses an endpoint that would send requests in the clear to
// another machine: remote endpoints must use https; plain http is allowed
// only on loopback addresses, for local test servers.
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return fmt.Errorf("endpoint %q is not a URL such as https://kms.eu-west-1.amazonaws.com", endpoint)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("endpoint %q uses plain http to another machine: use https (plain http is allowed only on loopback addresses)", endpoint)
	default:
		return fmt.Errorf("endpoint %q: scheme %q is not https", endpoint, u.Scheme)
	}
}

// Partition returns the AWS partition of a region, as ARNs name it:
// "aws-cn" for the China regions, "aws-us-gov" for GovCloud, else "aws".
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// IsLoopback reports whether host names this machine's loopback interface.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
