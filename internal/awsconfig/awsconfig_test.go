package awsconfig

import (
	"context"
	"testing"
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
