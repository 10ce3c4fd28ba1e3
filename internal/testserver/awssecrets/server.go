// Package awssecrets runs AWS Secrets Manager and SSM Parameter Store test
// servers on 127.0.0.1. They speak the services' real wire protocol (JSON
// 1.1 over HTTP POST, X-Amz-Target: secretsmanager.GetSecretValue,
// AmazonSSM.GetParameter, ...), so that tests drive the real SDK clients
// against them through the ordinary endpoint settings.
//
// Every request must carry a valid Signature Version 4 signature for the
// service, made with [AccessKeyID] and [SecretAccessKey]; the server
// recomputes it. The servers model what the services check: versions and
// staging labels, parameter versions and labels, SecureString decryption,
// missing secrets, access denied per resource and per action (as IAM
// denies a caller whose policy lacks the action), decryption failures, and
// throttling and latency injected by the test. They count calls per
// operation.
package awssecrets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The credentials that clients of the test servers must sign with, and
// the servers' region and account.
const (
	AccessKeyID     = "AKIAMLSEALTEST000001"
	SecretAccessKey = "mlseal/test/secret/access/key/0000000000"
	Region          = "eu-west-1"
	Account         = "123456789012"
	// Caller is the identity that access-denied messages name.
	Caller = "arn:aws:iam::" + Account + ":user/test"
)

// testEnv are the settings that point the AWS SDK's standard
// configuration chain at the test credentials and region, away from any
// real profile or endpoint.
var testEnv = []string{
	"AWS_ACCESS_KEY_ID=" + AccessKeyID,
	"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
	"AWS_REGION=" + Region,
	"AWS_CONFIG_FILE=/nonexistent/mlseal-test-config",
	"AWS_SHARED_CREDENTIALS_FILE=/nonexistent/mlseal-test-credentials",
	"AWS_EC2_METADATA_DISABLED=true",
}

// interfering are variables removed from a test's environment.
var interfering = []string{
	"AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_DEFAULT_REGION",
	"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_SSM",
	"AWS_USE_FIPS_ENDPOINT", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
}

// Environ returns base (os.Environ(), say) with the AWS settings that could
// reach a real account removed and the test credentials and region added,
// then extra: the environment for a child process under test.
func Environ(base []string, extra ...string) []string {
	var env []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(interfering, k) && !slices.ContainsFunc(testEnv, func(t string) bool { return strings.HasPrefix(t, k+"=") }) {
			env = append(env, kv)
		}
	}
	return append(append(env, testEnv...), extra...)
}

// Setenv configures the current process as Environ does; for TestMain
// (t.Setenv would forbid parallel tests).
func Setenv() {
	for _, k := range interfering {
		os.Unsetenv(k)
	}
	for _, kv := range testEnv {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
}

// server is the part common to both services: the HTTP server, the
// protocol checks, the call counters and the injected faults.
type server struct {
	URL     string
	service string // signing name and IAM prefix: secretsmanager or ssm
	prefix  string // X-Amz-Target prefix
	// messageKey is the member that carries an error's message: Secrets
	// Manager writes "Message", SSM "message".
	messageKey string

	srv *httptest.Server

	mu       sync.Mutex
	calls    map[string]int
	throttle int // requests still to throttle; <0: all
	latency  time.Duration
	hold     chan struct{}
	arrived  int
	denied   map[string]bool // operations IAM refuses
}

type apiError struct {
	Code    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

func start(t testing.TB, service, prefix, messageKey string, handle func(op string, body []byte) (any, *apiError)) *server {
	s := &server{service: service, prefix: prefix, messageKey: messageKey, calls: map[string]int{}, denied: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, handle)
	}))
	s.URL = s.srv.URL
	t.Cleanup(s.close)
	return s
}

func (s *server) close() {
	s.mu.Lock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
	s.mu.Unlock()
	s.srv.Close()
}

func (s *server) serve(w http.ResponseWriter, r *http.Request, handle func(string, []byte) (any, *apiError)) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, s.prefix+".")
	if r.Method != http.MethodPost || r.URL.Path != "/" || !ok {
		s.writeError(w, &apiError{Code: "UnknownOperationException", Message: "bad method, path or X-Amz-Target " + target, Status: 400})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		s.writeError(w, &apiError{Code: "SerializationException", Message: "Content-Type " + ct, Status: 400})
		return
	}
	if err := checkSigV4(r, body, s.service); err != nil {
		s.writeError(w, &apiError{Code: "InvalidSignatureException", Message: err.Error(), Status: 400})
		return
	}

	s.mu.Lock()
	s.calls[op]++
	s.arrived++
	hold, latency := s.hold, s.latency
	throttled := s.throttle != 0
	if s.throttle > 0 {
		s.throttle--
	}
	denied := s.denied[op]
	s.mu.Unlock()

	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if throttled {
		s.writeError(w, &apiError{Code: "ThrottlingException", Message: "Rate exceeded", Status: 400})
		return
	}
	if denied {
		// IAM refuses before the service looks at the request. An action
		// such as BatchGetSecretValue has no resource, so none is named.
		action := s.service + ":" + op
		s.writeError(w, errorf("AccessDeniedException", "User: %s is not authorized to perform: %s because no identity-based policy allows the %s action", Caller, action, action))
		return
	}
	out, aerr := handle(op, body)
	if aerr != nil {
		s.writeError(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "00000000-0000-4000-8000-000000000000")
	json.NewEncoder(w).Encode(out)
}

// writeError writes an error as the JSON 1.1 services do: status 400, the
// code in X-Amzn-ErrorType and __type, the message in the body.
func (s *server) writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.Header().Set("X-Amzn-Requestid", "00000000-0000-4000-8000-000000000000")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, s.messageKey: e.Message})
}

// DenyAction makes every request of the operation (BatchGetSecretValue,
// GetParameters, ...) fail with AccessDeniedException, as IAM refuses a
// caller whose policies do not allow the action, whatever the resources.
// The request is counted.
func (s *server) DenyAction(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[op] = true
}

// checkSigV4 recomputes the request's Signature Version 4 signature with
// the test credentials and compares it.
func checkSigV4(r *http.Request, body []byte, service string) error {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return fmt.Errorf("no AWS4-HMAC-SHA256 Authorization header")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] != AccessKeyID || scope[4] != "aws4_request" {
		return fmt.Errorf("credential scope %q is not for %s", fields["Credential"], AccessKeyID)
	}
	if scope[3] != service {
		return fmt.Errorf("signed for service %q, want %q", scope[3], service)
	}
	if scope[2] != Region {
		return fmt.Errorf("signed for region %q, want %q", scope[2], Region)
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("bad X-Amz-Date")
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != hash {
		return fmt.Errorf("X-Amz-Content-Sha256 does not match the body")
	}
	req, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Host = r.Host
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		switch h {
		case "host", "x-amz-date", "content-length":
		default:
			for _, v := range r.Header.Values(h) {
				req.Header.Add(h, v)
			}
		}
	}
	req.ContentLength = int64(len(body))
	creds := aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, service, Region, when); err != nil {
		return err
	}
	if got, want := auth, req.Header.Get("Authorization"); got != want {
		return fmt.Errorf("signature does not match")
	}
	return nil
}

// Calls returns how many requests of the operation (GetSecretValue,
// GetParameters, ...) reached the server, throttled ones included.
func (s *server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// TotalCalls returns how many requests reached the server in all.
func (s *server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// ResetCalls sets the call counters to zero.
func (s *server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
	s.arrived = 0
}

// Throttle makes the next n requests fail with ThrottlingException; n < 0
// throttles every request (a throttling storm) until Throttle(0).
func (s *server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// SetLatency delays every response by d (or until the client gives up).
func (s *server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Hold makes requests wait, after they are counted, until the returned
// function is called (or the client gives up). Arrived tells how many
// have come in.
func (s *server) Hold() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.hold == ch {
				s.hold = nil
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// Arrived returns how many requests have reached the server since the
// last ResetCalls.
func (s *server) Arrived() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.arrived
}

func decode(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		return errorf("SerializationException", "cannot parse the request body")
	}
	return nil
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
