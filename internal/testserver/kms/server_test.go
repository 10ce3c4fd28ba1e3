package kms

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

// client returns a real SDK client for region that talks to s, without
// retries so that every injected fault is seen.
func client(s *Server, region string) *awskms.Client {
	return awskms.New(awskms.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Retryer:      aws.NopRetryer{},
	})
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestRoundTripAndKeyIdentifiers(t *testing.T) {
	s := New()
	defer s.Close()
	ctx := context.Background()
	arn := s.CreateKey("eu-west-1")
	aliasARN := s.CreateAlias("alias/data", arn)
	id := arn[strings.LastIndex(arn, "/")+1:]
	c := client(s, "eu-west-1")
	ec := map[string]string{"purpose": "test", "a": "b"}

	for _, name := range []string{arn, id, "alias/data", aliasARN} {
		out, err := c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: &name, NumberOfBytes: aws.Int32(32), EncryptionContext: ec, GrantTokens: []string{"gt1"}})
		if err != nil {
			t.Fatalf("GenerateDataKey(%s): %v", name, err)
		}
		if *out.KeyId != arn || len(out.Plaintext) != 32 {
			t.Fatalf("GenerateDataKey(%s): KeyId %s, %d bytes; want the key ARN and 32 bytes", name, *out.KeyId, len(out.Plaintext))
		}
		// Without KeyId the blob names its key.
		dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec})
		if err != nil || *dec.KeyId != arn || !bytes.Equal(dec.Plaintext, out.Plaintext) {
			t.Fatalf("Decrypt: %v %v", err, dec)
		}
		dec, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob, KeyId: &name, EncryptionContext: ec})
		if err != nil || !bytes.Equal(dec.Plaintext, out.Plaintext) {
			t.Fatalf("Decrypt with KeyId %s: %v", name, err)
		}
	}
	enc, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("data key"), EncryptionContext: ec})
	if err != nil || *enc.KeyId != arn {
		t.Fatalf("Encrypt: %v", err)
	}
	dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: &arn, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "data key" {
		t.Fatalf("Decrypt: %v", err)
	}

	// The blob is bound to the context and to the key.
	for _, other := range []map[string]string{nil, {"purpose": "test"}, {"purpose": "other", "a": "b"}} {
		_, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: other})
		var ice *types.InvalidCiphertextException
		if !errors.As(err, &ice) {
			t.Fatalf("Decrypt with context %v: %v, want InvalidCiphertextException", other, err)
		}
	}
	other := s.CreateKey("eu-west-1")
	_, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: &other, EncryptionContext: ec})
	var ike *types.IncorrectKeyException
	if !errors.As(err, &ike) {
		t.Fatalf("Decrypt with another key: %v, want IncorrectKeyException", err)
	}
	tampered := bytes.Clone(enc.CiphertextBlob)
	tampered[len(tampered)-1] ^= 1
	if _, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: tampered, EncryptionContext: ec}); errCode(err) != "InvalidCiphertextException" {
		t.Fatalf("tampered blob: %v", err)
	}
	if _, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: []byte("junk"), EncryptionContext: ec}); errCode(err) != "InvalidCiphertextException" {
		t.Fatalf("junk blob: %v", err)
	}
	if got := s.Calls(OpGenerateDataKey); got != 4 {
		t.Fatalf("GenerateDataKey calls = %d, want 4", got)
	}
	r := s.Requests()[0]
	if r.Op != OpGenerateDataKey || r.Region != "eu-west-1" || r.KeyID != arn || r.Context["purpose"] != "test" || len(r.GrantTokens) != 1 || r.GrantTokens[0] != "gt1" {
		t.Fatalf("recorded request %+v", r)
	}
}

func TestRefusals(t *testing.T) {
	s := New()
	defer s.Close()
	ctx := context.Background()
	c := client(s, "us-east-1")
	arn := s.CreateKey("us-east-1")
	blob, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: &arn, Plaintext: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	west := s.CreateKey("us-west-2")
	unknown := strings.Replace(arn, arn[strings.LastIndex(arn, "/")+1:], "00000000-0000-0000-0000-000000000000", 1)

	check := func(name string, err error, want string) {
		t.Helper()
		if errCode(err) != want {
			t.Fatalf("%s: %v, want %s", name, err, want)
		}
	}
	_, err = c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: &unknown, NumberOfBytes: aws.Int32(32)})
	check("unknown key", err, "NotFoundException")
	_, err = c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String("alias/none"), NumberOfBytes: aws.Int32(32)})
	check("unknown alias", err, "NotFoundException")
	_, err = c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: &west, NumberOfBytes: aws.Int32(32)})
	check("key of another region", err, "NotFoundException")
	_, err = c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: &arn})
	check("no length", err, "ValidationException")

	s.SetKeyState(arn, StateDisabled)
	_, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: blob.CiphertextBlob})
	var de *types.DisabledException
	if !errors.As(err, &de) {
		t.Fatalf("disabled: %v", err)
	}
	d, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: &arn})
	if err != nil || d.KeyMetadata.Enabled || d.KeyMetadata.KeyState != types.KeyStateDisabled || *d.KeyMetadata.Arn != arn {
		t.Fatalf("DescribeKey of a disabled key: %v %+v", err, d)
	}
	s.SetKeyState(arn, StatePendingDeletion)
	_, err = c.Encrypt(ctx, &awskms.EncryptInput{KeyId: &arn, Plaintext: []byte("k")})
	check("pending deletion", err, "KMSInvalidStateException")
	s.SetKeyState(arn, StateEnabled)
	s.Deny(arn, OpDecrypt)
	_, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: blob.CiphertextBlob, KeyId: &arn})
	check("denied", err, "AccessDeniedException")
	if _, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: &arn, Plaintext: []byte("k")}); err != nil {
		t.Fatalf("Encrypt was not denied: %v", err)
	}
	// A blob decrypts only in its key's region.
	_, err = client(s, "us-west-2").Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: blob.CiphertextBlob})
	check("blob in another region", err, "InvalidCiphertextException")
}

func TestMultiRegionKeys(t *testing.T) {
	s := New()
	defer s.Close()
	ctx := context.Background()
	arns := s.CreateMultiRegionKey("us-east-1", "eu-west-1")
	if !strings.Contains(arns[0], ":us-east-1:") || !strings.Contains(arns[1], ":eu-west-1:") || !strings.Contains(arns[0], ":key/mrk-") {
		t.Fatalf("ARNs %v", arns)
	}
	ec := map[string]string{"k": "v"}
	out, err := client(s, "us-east-1").GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: &arns[0], NumberOfBytes: aws.Int32(32), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	eu := client(s, "eu-west-1")
	dec, err := eu.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob, KeyId: &arns[1], EncryptionContext: ec})
	if err != nil || *dec.KeyId != arns[1] || !bytes.Equal(dec.Plaintext, out.Plaintext) {
		t.Fatalf("replica Decrypt: %v", err)
	}
	// The primary's ARN is of another region at the replica's endpoint.
	_, err = eu.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob, KeyId: &arns[0], EncryptionContext: ec})
	if errCode(err) != "NotFoundException" {
		t.Fatalf("primary ARN at the replica's region: %v", err)
	}
	d, err := eu.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: &arns[1]})
	if err != nil || !*d.KeyMetadata.MultiRegion || d.KeyMetadata.MultiRegionConfiguration.MultiRegionKeyType != types.MultiRegionKeyTypeReplica ||
		*d.KeyMetadata.MultiRegionConfiguration.PrimaryKey.Arn != arns[0] {
		t.Fatalf("DescribeKey: %v %+v", err, d)
	}
}

func TestFaults(t *testing.T) {
	s := New()
	defer s.Close()
	ctx := context.Background()
	c := client(s, "us-east-1")
	arn := s.CreateKey("us-east-1")
	s.Throttle(OpGenerateDataKey, 2)
	for range 2 {
		_, err := c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: &arn, NumberOfBytes: aws.Int32(32)})
		if errCode(err) != "ThrottlingException" {
			t.Fatalf("throttled call: %v", err)
		}
	}
	if _, err := c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: &arn, NumberOfBytes: aws.Int32(32)}); err != nil {
		t.Fatalf("third call: %v", err)
	}
	if got := s.Calls(OpGenerateDataKey); got != 3 {
		t.Fatalf("calls %d, want 3", got)
	}
	s.Fail("", 1, "KMSInternalException", http.StatusInternalServerError)
	if _, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: &arn, Plaintext: []byte("k")}); errCode(err) != "KMSInternalException" {
		t.Fatalf("injected fault: %v", err)
	}

	// The SDK's standard retryer rides out a short throttling storm.
	retrying := awskms.New(awskms.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	}, func(o *awskms.Options) {
		o.Retryer = retryerWithoutDelay{}
	})
	s.ResetCalls()
	s.Throttle(OpEncrypt, 2)
	if _, err := retrying.Encrypt(ctx, &awskms.EncryptInput{KeyId: &arn, Plaintext: []byte("k")}); err != nil {
		t.Fatalf("retried call: %v", err)
	}
	if got := s.Calls(OpEncrypt); got != 3 {
		t.Fatalf("calls %d, want 3 (two throttled)", got)
	}

	s.SetHang(true)
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := c.Encrypt(dctx, &awskms.EncryptInput{KeyId: &arn, Plaintext: []byte("k")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hanging server: %v, want a deadline error", err)
	}
	s.ClearFaults()
	if _, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: &arn, Plaintext: []byte("k")}); err != nil {
		t.Fatal(err)
	}
}

// retryerWithoutDelay retries up to 5 times at once.
type retryerWithoutDelay struct{}

func (retryerWithoutDelay) IsErrorRetryable(err error) bool {
	return errCode(err) == "ThrottlingException"
}
func (retryerWithoutDelay) MaxAttempts() int { return 5 }
func (retryerWithoutDelay) RetryDelay(int, error) (time.Duration, error) {
	return 0, nil
}
func (retryerWithoutDelay) GetRetryToken(context.Context, error) (func(error) error, error) {
	return func(error) error { return nil }, nil
}
func (retryerWithoutDelay) GetInitialToken() func(error) error {
	return func(error) error { return nil }
}

func TestAuthentication(t *testing.T) {
	s := New()
	defer s.Close()
	for _, tc := range []struct{ auth, want string }{
		{"", "MissingAuthenticationTokenException"},
		{"Basic dXNlcjpwYXNz", "IncompleteSignatureException"},
		{"AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("0", 64), "InvalidSignatureException"},
	} {
		req, _ := http.NewRequest(http.MethodPost, s.URL, strings.NewReader(`{"KeyId":"alias/x"}`))
		req.Header.Set("X-Amz-Target", "TrentService.DescribeKey")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != tc.want {
			t.Fatalf("Authorization %q: %d %s, want 400 %s", tc.auth, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), tc.want)
		}
	}
	if s.Calls("") != 0 {
		t.Fatal("unauthenticated requests were counted as calls")
	}
}
