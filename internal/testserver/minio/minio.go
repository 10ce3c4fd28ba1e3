// Package minio starts a real MinIO server for tests: the pinned build that
// scripts/minio.sh makes, listening on 127.0.0.1 on a free port, with its
// data in a temporary directory.
//
// The binary is found through the MLSEAL_MINIO environment variable, or in
// the cache directory where scripts/minio.sh puts it. When it is missing,
// Start skips the test with a log line saying how to build it; with CI=true
// it fails the test instead, so that CI never passes without the MinIO suite.
package minio

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Version is the MinIO module version that scripts/minio.sh builds.
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// EnvBinary names the environment variable that gives the binary's path.
const EnvBinary = "MLSEAL_MINIO"

// Region is the region the server and its clients use.
const Region = "us-east-1"

// Binary returns the path of the MinIO binary, or "" when it is not built.
func Binary() string {
	if p := os.Getenv(EnvBinary); p != "" {
		if isExec(p) {
			return p
		}
		return ""
	}
	cache := os.Getenv("MLSEAL_CACHE_DIR")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return ""
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "mlseal")
	}
	p := filepath.Join(cache, "minio", Version, "bin", "minio")
	if isExec(p) {
		return p
	}
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Require returns the binary's path, skipping tb when it is missing, or
// failing it when the CI environment variable is "true".
func Require(tb testing.TB) string {
	tb.Helper()
	p := Binary()
	if p != "" {
		return p
	}
	msg := fmt.Sprintf("MinIO %s is not built: run 'bash scripts/minio.sh' (or set %s to a minio binary)", Version, EnvBinary)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s; CI=true requires the MinIO integration suite", msg)
	}
	tb.Skipf("skipping the MinIO integration test: %s", msg)
	return ""
}

// Server is a running MinIO server.
type Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:PORT.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// Dir holds the server's data.
	Dir string

	bin  string
	addr string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *lockedWriter
}

// Start starts a MinIO server for tb and stops it when tb ends. It skips
// or fails tb as Require does when the binary is missing.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := New(Require(tb), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// New starts the MinIO binary bin with its data in dir. The caller must
// Stop it.
func New(bin, dir string) (*Server, error) {
	secret := make([]byte, 12)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	s := &Server{
		AccessKey: "mlsealtest",
		SecretKey: "mlseal-" + hex.EncodeToString(secret),
		Dir:       dir,
		bin:       bin,
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s.addr = addr
	s.Endpoint = "http://" + s.addr
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs the server and waits until it answers its health check.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	consoleAddr, err := freeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.addr, "--console-address", consoleAddr, s.Dir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
		"MINIO_REGION="+Region,
	)
	logs := &lockedWriter{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting minio: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done, s.logs = cmd, done, logs

	// Ready: the liveness endpoint answers. The server starts in well under
	// a second; the loop ends on the first of readiness, exit, or a minute.
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-done:
			return fmt.Errorf("minio exited at start:\n%s", logs)
		default:
		}
		resp, err := client.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			// Ready for health checks is not yet ready for S3 calls
			// ("Server not initialized yet"): wait for one to work.
			if resp.StatusCode == http.StatusOK && s.answers() {
				return nil
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("minio not ready after a minute:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers reports whether the server answers an S3 call.
func (s *Server) answers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.Client(func(o *s3.Options) { o.RetryMaxAttempts = 1 }).ListBuckets(ctx, &s3.ListBucketsInput{})
	return err == nil
}

// Stop kills the server and waits for it to exit. Its data stays in Dir,
// so Restart brings back the same buckets, objects and multipart uploads.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the stopped server again on the same address and data.
func (s *Server) Restart() error {
	s.Stop()
	return s.start()
}

// Logs returns what the server printed.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs == nil {
		return ""
	}
	return s.logs.String()
}

// Config returns an AWS configuration for the server: its credentials,
// region and endpoint, with the SDK's default HTTP client and retries.
func (s *Server) Config() aws.Config {
	cfg := aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		BaseEndpoint: aws.String(s.Endpoint),
	}
	return cfg
}

// Client returns an S3 client for the server with path-style addressing.
func (s *Server) Client(optFns ...func(*s3.Options)) *s3.Client {
	return s3.NewFromConfig(s.Config(), append([]func(*s3.Options){func(o *s3.Options) { o.UsePathStyle = true }}, optFns...)...)
}

// Env returns the environment variables that point the AWS SDK's default
// chain (and so the mlseal command) at the server.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_REGION=" + Region,
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// MakeBucket creates a bucket with a unique name starting with prefix and
// returns its name.
func (s *Server) MakeBucket(tb testing.TB, prefix string) string {
	tb.Helper()
	r := make([]byte, 4)
	rand.Read(r)
	name := strings.ToLower(prefix) + "-" + hex.EncodeToString(r)
	_, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		tb.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// lockedWriter collects the server's output, up to 1 MiB.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 1<<20 {
		w.b.Write(p)
	}
	return len(p), nil
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
