package awsconfig

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/smithy-go/logging"
)

func TestCheckEndpoint(t *testing.T) {
	for endpoint, ok := range map[string]bool{
		"https://kms.eu-west-1.amazonaws.com":               true,
		"https://vpce-123.kms.eu-west-1.vpce.amazonaws.com": true,
		"http://127.0.0.1:4566":                             true,
		"http://localhost:9000":                             true,
		"http://[::1]:9000":                                 true,
		"http://10.0.0.5:4566":                              false,
		"http://kms.example.com":                            false,
		"ftp://127.0.0.1":                                   false,
		"not a url":                                         false,
	} {
		if err := CheckEndpoint(endpoint); (err == nil) != ok {
			t.Errorf("CheckEndpoint(%q) = %v, want ok=%v", endpoint, err, ok)
		}
	}
}

// TestLoadWithCABundle checks that the configuration loads when
// AWS_CA_BUNDLE is set, which fails with a plain *http.Client.
func TestLoadWithCABundle(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	cfg, err := Load(context.Background(), Options{Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" || cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://127.0.0.1:1" {
		t.Fatalf("region %q endpoint %v", cfg.Region, cfg.BaseEndpoint)
	}
	if _, err := Load(context.Background(), Options{Endpoint: "http://10.1.2.3"}); err == nil {
		t.Fatal("plain http to a remote endpoint was accepted")
	}
	t.Setenv("AWS_ENDPOINT_URL_KMS", "http://kms.example.com")
	if _, err := Load(context.Background(), Options{}); err == nil {
		t.Fatal("plain http in AWS_ENDPOINT_URL_KMS was accepted")
	}
}

// imds404 is an instance metadata endpoint on loopback that knows no token
// and no role, as a machine off EC2 with IMDS reachable would behave.
func imds404(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL)
}

func isolateNoCredentials(t *testing.T) {
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
}

// TestNoCredentials checks that with no credentials anywhere, retrieving
// them fails with ErrNoCredentials alone, one line that says what to do,
// and that the SDK's IMDSv1 warning reaches the log only with SetDebugLog.
func TestNoCredentials(t *testing.T) {
	isolateNoCredentials(t)
	imds404(t)
	for _, debug := range []bool{false, true} {
		var log bytes.Buffer
		if debug {
			SetDebugLog(&log)
			t.Cleanup(func() { SetDebugLog(nil) })
		}
		cfg, err := Load(context.Background(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, isNop := cfg.Logger.(logging.Nop); isNop == debug {
			t.Fatalf("debug %v: logger %T", debug, cfg.Logger)
		}
		_, err = cfg.Credentials.Retrieve(context.Background())
		if !errors.Is(err, ErrNoCredentials) || err.Error() != ErrNoCredentials.Error() || strings.Contains(err.Error(), "\n") {
			t.Fatalf("no credentials: %v", err)
		}
		if debug && !strings.Contains(log.String(), "falling back to IMDSv1") {
			t.Fatalf("--debug log does not have the SDK's warning: %q", log.String())
		}
	}
	// Credentials that exist but fail are reported as they are.
	t.Setenv("AWS_PROFILE", "missing")
	if _, err := Load(context.Background(), Options{}); err == nil || errors.Is(err, ErrNoCredentials) {
		t.Fatalf("a missing profile: %v", err)
	}
}

func TestRequireRegion(t *testing.T) {
	isolateNoCredentials(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	cfg, err := Load(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := RequireRegion(cfg); !errors.Is(err, ErrNoRegion) || !strings.Contains(err.Error(), "set AWS_REGION") {
		t.Fatalf("no region: %v", err)
	}
	cfg, _ = Load(context.Background(), Options{Region: "eu-west-1"})
	if err := RequireRegion(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestPartition(t *testing.T) {
	for region, want := range map[string]string{"us-east-1": "aws", "eu-west-1": "aws", "cn-north-1": "aws-cn", "cn-northwest-1": "aws-cn", "us-gov-west-1": "aws-us-gov"} {
		if got := Partition(region); got != want {
			t.Errorf("Partition(%q) = %q, want %q", region, got, want)
		}
	}
}
