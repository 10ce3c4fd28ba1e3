package s3io_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
	"github.com/mlseal/mlseal/internal/testserver/minio"
	"github.com/mlseal/mlseal/s3io"
)

// testPartSize is S3's smallest part size, so that multipart uploads and
// parallel ranged reads happen with small objects.
const testPartSize = 5 << 20

// fixture is a MinIO server, a bucket in it and clients for it.
type fixture struct {
	srv    *minio.Server
	raw    *s3.Client // plain S3 client, for checks behind s3io's back
	c      *s3io.Client
	bucket string
	kr     envelope.Keyring
}

// shared is the MinIO server of the test binary, started by TestMain;
// tests that stop their server start one of their own.
var shared *minio.Server

func TestMain(m *testing.M) {
	code := func() int {
		if bin := minio.Binary(); bin != "" {
			dir, err := os.MkdirTemp("", "s3io-minio-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			if shared, err = minio.New(bin, dir); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer shared.Stop()
		}
		return m.Run()
	}()
	os.Exit(code)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	minio.Require(t)
	return fixtureOn(t, shared)
}

func fixtureOn(t *testing.T, srv *minio.Server) *fixture {
	t.Helper()
	raw := srv.Client()
	f := &fixture{
		srv:    srv,
		raw:    raw,
		c:      s3io.New(raw, s3io.Options{PartSize: testPartSize, Concurrency: 3}),
		bucket: srv.MakeBucket(t, "test"),
		kr:     testKeyring(t),
	}
	return f
}

func testKeyring(t testing.TB) envelope.Keyring {
	kr, err := rawaes.New("mlseal-test", "k1", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// exists reports whether bucket/key is visible.
func (f *fixture) exists(t *testing.T, key string) bool {
	t.Helper()
	_, err := f.c.Head(context.Background(), f.bucket, key)
	if errors.Is(err, s3io.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// pendingUploads counts the bucket's multipart uploads that were neither
// completed nor aborted.
func (f *fixture) pendingUploads(t *testing.T) int {
	t.Helper()
	out, err := f.raw.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(f.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

// getRaw returns the stored bytes of an object.
func (f *fixture) getRaw(t *testing.T, key string) []byte {
	t.Helper()
	out, err := f.raw.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stream is n bytes of deterministic pseudo-random data (an AES-CTR key
// stream), generated as it is read, and hashed.
type stream struct {
	ctr  cipher.Stream
	left int64
	h    hash.Hash
}

func newStream(seed uint64, n int64) *stream {
	var key [16]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b, _ := aes.NewCipher(key[:])
	return &stream{ctr: cipher.NewCTR(b, make([]byte, 16)), left: n, h: sha256.New()}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	clear(p)
	s.ctr.XORKeyStream(p, p)
	if s.h != nil {
		s.h.Write(p)
	}
	s.left -= int64(len(p))
	return len(p), nil
}

func (s *stream) sum() [32]byte { return [32]byte(s.h.Sum(nil)) }

// streamBytes returns the first n bytes of the stream with seed.
func streamBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	io.ReadFull(newStream(seed, int64(n)), b)
	return b
}

// hashWriter hashes what is written to it.
type hashWriter struct {
	h hash.Hash
	n int64
}

func newHashWriter() *hashWriter { return &hashWriter{h: sha256.New()} }

func (w *hashWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	w.n += int64(len(p))
	return len(p), nil
}

func (w *hashWriter) sum() [32]byte { return [32]byte(w.h.Sum(nil)) }

// failingReader returns n bytes of a stream and then an error.
type failingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= int64(n)
	return n, err
}
