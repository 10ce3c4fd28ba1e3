package s3io_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/internal/testserver/minio"
	"github.com/mlseal/mlseal/s3io"
)

var largeGiB = flag.Int("s3io.large", 0, "also stream an upload and download of this many GiB")

func TestParseURL(t *testing.T) {
	for in, want := range map[string][2]string{
		"s3://b/k":        {"b", "k"},
		"s3://b/dir/":     {"b", "dir/"},
		"s3://b":          {"b", ""},
		"s3://b/":         {"b", ""},
		"s3://b/a/b/c.gz": {"b", "a/b/c.gz"},
	} {
		b, k, err := s3io.ParseURL(in)
		if err != nil || b != want[0] || k != want[1] {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", in, b, k, err, want[0], want[1])
		}
	}
	for _, bad := range []string{"s3:///k", "b/k", "http://b/k", "s3://"} {
		if _, _, err := s3io.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) succeeded", bad)
		}
	}
}

func TestPathStyleFor(t *testing.T) {
	for ep, want := range map[string]bool{
		"http://127.0.0.1:9000":              true,
		"http://localhost:9000":              true,
		"https://[::1]:9000":                 true,
		"https://10.1.2.3":                   true,
		"https://minio.localhost":            true,
		"https://s3.eu-west-1.amazonaws.com": false,
		"https://minio.example.com":          false,
	} {
		if got := s3io.PathStyleFor(ep); got != want {
			t.Errorf("PathStyleFor(%q) = %v, want %v", ep, got, want)
		}
	}
}

// TestRoundTrip uploads and downloads sizes around frame and part
// boundaries, including multipart uploads with parallel parts.
func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const frame = 4096
	sizes := []int{0, 1, frame - 1, frame, frame + 1, testPartSize - 1, testPartSize, 2*testPartSize + 12345}
	for i, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			key := fmt.Sprintf("rt/%d.enc", n)
			pt := streamBytes(uint64(i), n)
			res, err := f.c.Upload(ctx, f.bucket, key, bytes.NewReader(pt),
				envelope.EncryptOptions{Keyring: f.kr, FrameLength: frame, Context: map[string]string{"dataset": "rt"}},
				s3io.PutOptions{Metadata: map[string]string{"owner": "test"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.PlaintextSize != int64(n) || res.Header == nil || len(res.Header.MessageID) != 32 {
				t.Fatalf("result %+v", res)
			}
			info, err := f.c.Head(ctx, f.bucket, key)
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != res.Size {
				t.Errorf("object size %d, upload reported %d", info.Size, res.Size)
			}
			if !info.Encrypted() || info.Metadata[s3io.MetaSuite] != "0x0478" ||
				info.Metadata[s3io.MetaFrameLength] != "4096" || info.Metadata["owner"] != "test" {
				t.Errorf("metadata %v", info.Metadata)
			}
			r, err := f.c.Download(ctx, f.bucket, key, envelope.DecryptOptions{Keyring: f.kr, Context: map[string]string{"dataset": "rt"}}, s3io.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if !bytes.Equal(r.Header().MessageID, res.Header.MessageID) {
				t.Error("message id differs")
			}
			if err := iotest.TestReader(r, pt); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPlainRoundTrip checks Put and Get, the unencrypted path.
func TestPlainRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i, n := range []int{0, 1, testPartSize + 1, 3 * testPartSize} {
		data := streamBytes(uint64(100+i), n)
		key := fmt.Sprintf("plain/%d", n)
		res, err := f.c.Put(ctx, f.bucket, key, iotest.OneByteReader(bytes.NewReader(data)), s3io.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Size != int64(n) {
			t.Errorf("size %d", res.Size)
		}
		r, err := f.c.Get(ctx, f.bucket, key, s3io.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := iotest.TestReader(r, data); err != nil {
			t.Fatal(n, err)
		}
		r.Close()
	}
}

// heapPeak samples the live heap until stop is called and returns the
// largest value seen.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// TestLargeStreamFlatMemory streams 256 MiB (or -s3io.large GiB) up and
// down again, generated and hashed on the fly, and checks that the heap
// stays within the stated bound: PartSize x (Concurrency + 1) for the
// parts, a few frames for the envelope, doubled for the garbage
// collector's headroom.
func TestLargeStreamFlatMemory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	n := int64(256 << 20)
	if *largeGiB > 0 {
		n = int64(*largeGiB) << 30
	}
	opts := f.c.Options()
	bound := uint64(2*(opts.PartSize*int64(opts.Concurrency+1)) + 48<<20)

	runtime.GC()
	stop := heapPeak()
	src := newStream(42, n)
	res, err := f.c.Upload(ctx, f.bucket, "large.enc", src, envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{})
	upPeak := stop()
	if err != nil {
		t.Fatal(err)
	}
	if res.PlaintextSize != n {
		t.Fatalf("uploaded %d bytes of plaintext, want %d", res.PlaintextSize, n)
	}

	runtime.GC()
	stop = heapPeak()
	r, err := f.c.Download(ctx, f.bucket, "large.enc", envelope.DecryptOptions{Keyring: f.kr}, s3io.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := newHashWriter()
	_, err = io.Copy(w, r)
	r.Close()
	downPeak := stop()
	if err != nil {
		t.Fatal(err)
	}
	if w.n != n || w.sum() != src.sum() {
		t.Fatalf("downloaded %d bytes, hash differs: %v", w.n, w.sum() != src.sum())
	}
	t.Logf("%d MiB: heap peak %.1f MiB up, %.1f MiB down (bound %.1f MiB)", n>>20,
		float64(upPeak)/(1<<20), float64(downPeak)/(1<<20), float64(bound)/(1<<20))
	if upPeak > bound || downPeak > bound {
		t.Errorf("heap peaked at %d (upload) and %d (download) bytes, above the bound %d", upPeak, downPeak, bound)
	}
}

// TestUploadReaderFails makes the plaintext fail after two parts have been
// sent: the upload fails with the reader's error, is aborted, and no
// object appears.
func TestUploadReaderFails(t *testing.T) {
	f := newFixture(t)
	boom := errors.New("disk on fire")
	src := &failingReader{r: newStream(1, 1<<30), n: 3*testPartSize + 100, err: boom}
	_, err := f.c.Upload(context.Background(), f.bucket, "fail.enc", src, envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the reader's", err)
	}
	if f.exists(t, "fail.enc") {
		t.Error("a failed upload left an object")
	}
	if n := f.pendingUploads(t); n != 0 {
		t.Errorf("%d multipart uploads left behind", n)
	}
}

// TestUploadCancelled cancels the context mid-upload.
func TestUploadCancelled(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	src := &hookReader{r: newStream(2, 1<<30), at: 2 * testPartSize, hook: cancel}
	_, err := f.c.Upload(ctx, f.bucket, "cancel.enc", src, envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if f.exists(t, "cancel.enc") {
		t.Error("a cancelled upload left an object")
	}
	if n := f.pendingUploads(t); n != 0 {
		t.Errorf("%d multipart uploads left behind", n)
	}
}

// hookReader calls hook once, when at bytes have been read.
type hookReader struct {
	r    io.Reader
	at   int64
	hook func()
	once sync.Once
}

func (h *hookReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.at -= int64(n)
	if h.at <= 0 {
		h.once.Do(h.hook)
	}
	return n, err
}

// stoppingAPI stops the MinIO server when the second part is about to be
// uploaded, and starts it again when the first abort attempt has failed.
type stoppingAPI struct {
	s3io.API
	srv        *minio.Server
	parts      atomic.Int32
	stopOnce   sync.Once
	restart    sync.Once
	abortCalls atomic.Int32
	restartErr error
}

func (a *stoppingAPI) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if a.parts.Add(1) == 2 {
		a.stopOnce.Do(a.srv.Stop)
	}
	return a.API.UploadPart(ctx, in, o...)
}

func (a *stoppingAPI) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, o ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	a.abortCalls.Add(1)
	out, err := a.API.AbortMultipartUpload(ctx, in, o...)
	if err != nil {
		a.restart.Do(func() { a.restartErr = a.srv.Restart() })
	}
	return out, err
}

// TestUploadServerStopped stops MinIO in the middle of an upload: the
// upload fails with an error that says S3 cannot be reached, the multipart
// upload is aborted once the server is back, and no object is visible.
func TestUploadServerStopped(t *testing.T) {
	srv := minio.Start(t)
	f := fixtureOn(t, srv)
	api := &stoppingAPI{API: srv.Client(func(o *s3.Options) { o.RetryMaxAttempts = 1 }), srv: srv}
	c := s3io.New(api, s3io.Options{PartSize: testPartSize, Concurrency: 1})
	_, err := c.Upload(context.Background(), f.bucket, "stopped.enc", newStream(3, 64<<20), envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{})
	if err == nil {
		t.Fatal("upload succeeded with the server stopped")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "cannot reach S3") || !strings.Contains(err.Error(), "s3://"+f.bucket+"/stopped.enc") {
		t.Errorf("unclear error: %v", err)
	}
	if api.restartErr != nil {
		t.Fatal(api.restartErr)
	}
	if api.abortCalls.Load() < 2 {
		t.Errorf("abort tried %d times; want a retry after the failed one", api.abortCalls.Load())
	}
	if f.exists(t, "stopped.enc") {
		t.Error("an object is visible after the failed upload")
	}
	if n := f.pendingUploads(t); n != 0 {
		t.Errorf("%d multipart uploads left behind", n)
	}
}

func TestWrongCredentials(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cfg := f.srv.Config()
	cfg.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: f.srv.AccessKey, SecretAccessKey: "wrong-secret"}, nil
	}))
	api, err := s3io.NewS3Client(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	c := s3io.New(api, s3io.Options{PartSize: testPartSize})
	_, err = c.Upload(ctx, f.bucket, "creds.enc", strings.NewReader("x"), envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{})
	if !errors.Is(err, s3io.ErrAccess) || !strings.Contains(err.Error(), "secret access key") {
		t.Errorf("upload: %v", err)
	}
	_, err = c.Upload(ctx, f.bucket, "creds.enc", newStream(4, 2*testPartSize), envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{})
	if !errors.Is(err, s3io.ErrAccess) {
		t.Errorf("multipart upload: %v", err)
	}
	if _, err := f.c.Put(ctx, f.bucket, "there", strings.NewReader("x"), s3io.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Download(ctx, f.bucket, "there", envelope.DecryptOptions{Keyring: f.kr}, s3io.GetOptions{}); !errors.Is(err, s3io.ErrAccess) && !strings.Contains(err.Error(), "403") {
		t.Errorf("download: %v", err)
	}
}

func TestMissingBucket(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.c.Upload(ctx, "no-such-bucket-mlseal", "k", strings.NewReader("x"), envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{})
	if !errors.Is(err, s3io.ErrNotFound) || !strings.Contains(err.Error(), `bucket "no-such-bucket-mlseal" does not exist`) {
		t.Errorf("upload: %v", err)
	}
	_, err = f.c.Upload(ctx, "no-such-bucket-mlseal", "k", newStream(5, 2*testPartSize), envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{})
	if !errors.Is(err, s3io.ErrNotFound) {
		t.Errorf("multipart upload: %v", err)
	}
	_, err = f.c.Download(ctx, "no-such-bucket-mlseal", "k", envelope.DecryptOptions{Keyring: f.kr}, s3io.GetOptions{})
	if !errors.Is(err, s3io.ErrNotFound) {
		t.Errorf("download: %v", err)
	}
	_, err = f.c.Download(ctx, f.bucket, "no/such/key", envelope.DecryptOptions{Keyring: f.kr}, s3io.GetOptions{})
	if !errors.Is(err, s3io.ErrNotFound) {
		t.Errorf("download of a missing key: %v", err)
	}
}

// TestTampered flips one byte of a stored message at several places: the
// download fails with an integrity error before the tampered frame is
// released, and everything released before it is a prefix of the
// plaintext.
func TestTampered(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pt := streamBytes(6, 3*testPartSize)
	enc := envelope.EncryptOptions{Keyring: f.kr, FrameLength: 4096}
	if _, err := f.c.Upload(ctx, f.bucket, "orig.enc", bytes.NewReader(pt), enc, s3io.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	ct := f.getRaw(t, "orig.enc")
	for _, at := range []int{10, 400, len(ct) / 2, len(ct) - 5} {
		bad := bytes.Clone(ct)
		bad[at] ^= 1
		key := fmt.Sprintf("bad-%d.enc", at)
		if _, err := f.c.Put(ctx, f.bucket, key, bytes.NewReader(bad), s3io.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		r, err := f.c.Download(ctx, f.bucket, key, envelope.DecryptOptions{Keyring: f.kr}, s3io.GetOptions{})
		var got []byte
		if err == nil {
			got, err = io.ReadAll(r)
			r.Close()
		}
		if !envelope.IsIntegrityError(err) {
			t.Errorf("flip at %d: error %v, want an integrity error", at, err)
		}
		if !bytes.HasPrefix(pt, got) || len(got) > len(pt)-4096 && at < len(ct)-100 {
			t.Errorf("flip at %d: released %d bytes that are not an authenticated prefix", at, len(got))
		}
	}
	// Truncated at a part boundary.
	if _, err := f.c.Put(ctx, f.bucket, "short.enc", bytes.NewReader(ct[:testPartSize]), s3io.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := f.c.Download(ctx, f.bucket, "short.enc", envelope.DecryptOptions{Keyring: f.kr}, s3io.GetOptions{})
	if err == nil {
		_, err = io.Copy(io.Discard, r)
		r.Close()
	}
	if !errors.Is(err, envelope.ErrTruncated) {
		t.Errorf("truncated: %v", err)
	}
}

// TestNoOverwrite checks the conditional write, for single and multipart
// uploads.
func TestNoOverwrite(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, n := range []int64{10, 2*testPartSize + 1} {
		key := fmt.Sprintf("once-%d.enc", n)
		enc := envelope.EncryptOptions{Keyring: f.kr}
		if _, err := f.c.Upload(ctx, f.bucket, key, newStream(7, n), enc, s3io.PutOptions{NoOverwrite: true}); err != nil {
			t.Fatal(err)
		}
		before, _ := f.c.Head(ctx, f.bucket, key)
		_, err := f.c.Upload(ctx, f.bucket, key, newStream(8, n), enc, s3io.PutOptions{NoOverwrite: true})
		if !errors.Is(err, s3io.ErrExists) {
			t.Errorf("size %d: second upload: %v, want ErrExists", n, err)
		}
		after, _ := f.c.Head(ctx, f.bucket, key)
		if before.ETag != after.ETag {
			t.Errorf("size %d: object replaced", n)
		}
		if p := f.pendingUploads(t); p != 0 {
			t.Errorf("size %d: %d uploads left", n, p)
		}
		if _, err := f.c.Upload(ctx, f.bucket, key, newStream(8, n), enc, s3io.PutOptions{}); err != nil {
			t.Errorf("size %d: overwrite: %v", n, err)
		}
	}
}

// TestNewFromConfig finds MinIO through the standard environment
// variables, with path-style addressing chosen for the IP endpoint.
func TestNewFromConfig(t *testing.T) {
	f := newFixture(t)
	for _, kv := range f.srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	ctx := context.Background()
	c, err := s3io.NewFromConfig(ctx, s3io.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(ctx, f.bucket, "cfg.enc", strings.NewReader("hello"), envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Download(ctx, f.bucket, "cfg.enc", envelope.DecryptOptions{Keyring: f.kr}, s3io.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if b, err := io.ReadAll(r); err != nil || string(b) != "hello" {
		t.Fatalf("%q, %v", b, err)
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://10.9.9.9:9000")
	if _, err := s3io.NewFromConfig(ctx, s3io.Config{}); err == nil {
		t.Error("plain http to a remote endpoint was accepted")
	}
}

// TestParallelUploads runs several uploads at once through one Client.
func TestParallelUploads(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := newStream(uint64(200+i), int64(i)*testPartSize/2+7)
			key := fmt.Sprintf("par/%d.enc", i)
			if _, err := f.c.Upload(ctx, f.bucket, key, src, envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{}); err != nil {
				errs[i] = err
				return
			}
			r, err := f.c.Download(ctx, f.bucket, key, envelope.DecryptOptions{Keyring: f.kr}, s3io.GetOptions{})
			if err != nil {
				errs[i] = err
				return
			}
			defer r.Close()
			w := newHashWriter()
			if _, err := io.Copy(w, r); err != nil {
				errs[i] = err
			} else if w.sum() != src.sum() {
				errs[i] = fmt.Errorf("object %d differs", i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var keys []string
	if err := f.c.List(ctx, f.bucket, "par/", func(o s3io.ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(errs) {
		t.Errorf("listed %v", keys)
	}
}
