// Package awsconfig is the one place where mlseal loads AWS configuration,
// for the KMS keyring, the secrets providers and S3 streaming alike.
//
// It uses the SDK's standard chain (environment, shared config and
// credentials files, SSO, web identity, IMDS), so AWS_REGION, AWS_PROFILE,
// AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, a profile's endpoint_url and
// AWS_USE_FIPS_ENDPOINT all work as they do for the AWS CLI. Its HTTP client
// is the SDK's buildable client, so that AWS_CA_BUNDLE keeps working: the SDK
// cannot add a CA bundle to a plain *http.Client.
package awsconfig

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
)

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
	loaders := []func(*config.LoadOptions) error{
		config.WithHTTPClient(client),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = MaxAttempts })
		}),
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
	return cfg, nil
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

// IsLoopback reports whether host names this machine's loopback interface.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
