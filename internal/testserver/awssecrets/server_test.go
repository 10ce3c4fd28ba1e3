package awssecrets

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

func smClient(url, key, secret string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region: Region, BaseEndpoint: aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(key, secret, ""),
		RetryMaxAttempts: 1,
	})
}

// TestSignatureChecked checks that the server recomputes SigV4: the right
// credentials pass; a wrong secret key, a wrong access key, and a request
// signed for another service are refused.
func TestSignatureChecked(t *testing.T) {
	sm := NewSecretsManager(t)
	sm.Put("db", "v")
	ctx := context.Background()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")}
	out, err := smClient(sm.URL, AccessKeyID, SecretAccessKey).GetSecretValue(ctx, in)
	if err != nil || aws.ToString(out.SecretString) != "v" {
		t.Fatalf("good signature: %v", err)
	}
	for name, c := range map[string]*secretsmanager.Client{
		"wrong secret key": smClient(sm.URL, AccessKeyID, "wrong"),
		"wrong access key": smClient(sm.URL, "AKIAWRONG", SecretAccessKey),
	} {
		if _, err := c.GetSecretValue(ctx, in); err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An SSM client signs for "ssm": the Secrets Manager server refuses it.
	s := ssm.New(ssm.Options{Region: Region, BaseEndpoint: aws.String(sm.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")})
	if _, err := s.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("x")}); err == nil {
		t.Error("an SSM request reached the Secrets Manager server")
	}
	if n := sm.TotalCalls(); n != 1 {
		t.Errorf("%d calls counted, want only the signed one", n)
	}
}

func TestSessionTokenSigned(t *testing.T) {
	sm := NewSecretsManager(t)
	sm.Put("db", "v")
	c := secretsmanager.New(secretsmanager.Options{Region: Region, BaseEndpoint: aws.String(sm.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "session-token")})
	if _, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")}); err != nil {
		t.Fatal(err)
	}
}
