package awssecrets

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
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

// TestDenyAction checks the wire shape of an action denied by IAM: the
// SDK sees AccessDeniedException with the service's message, and other
// actions still work.
func TestDenyAction(t *testing.T) {
	ctx := context.Background()
	sm := NewSecretsManager(t)
	sm.Put("db", "v")
	sm.DenyAction("BatchGetSecretValue")
	c := smClient(sm.URL, AccessKeyID, SecretAccessKey)
	_, err := c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"db"}})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" ||
		api.ErrorMessage() != "User: "+Caller+" is not authorized to perform: secretsmanager:BatchGetSecretValue because no identity-based policy allows the secretsmanager:BatchGetSecretValue action" {
		t.Fatalf("denied batch: %v", err)
	}
	if out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")}); err != nil || aws.ToString(out.SecretString) != "v" {
		t.Fatalf("GetSecretValue after denying the batch action: %v", err)
	}

	p := NewSSM(t)
	p.Put("/a", "String", "x")
	p.DenyAction("GetParameters")
	s := ssm.New(ssm.Options{Region: Region, BaseEndpoint: aws.String(p.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")})
	_, err = s.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/a"}})
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" || !strings.Contains(api.ErrorMessage(), "perform: ssm:GetParameters because") {
		t.Fatalf("denied GetParameters: %v", err)
	}
	if _, err := s.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/a")}); err != nil {
		t.Fatal(err)
	}
	if p.Calls("GetParameters") != 1 || sm.Calls("BatchGetSecretValue") != 1 {
		t.Error("denied requests are not counted")
	}
}
