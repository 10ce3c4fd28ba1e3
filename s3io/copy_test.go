package s3io_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
	"github.com/mlseal/mlseal/s3io"
)

var rewrapGiB = flag.Int("s3io.rewrap", 0, "measure rewrapping an object of this many GiB against decrypting and encrypting it anew")

func newKeyring(t testing.TB, name string) envelope.Keyring {
	t.Helper()
	kr, err := rawaes.New("mlseal-test", name, bytes.Repeat([]byte{byte(len(name))}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// upload encrypts n bytes of the stream with seed under f.kr into key.
func (f *fixture) upload(t *testing.T, key string, seed uint64, n int64) *s3io.PutResult {
	t.Helper()
	res, err := f.c.Upload(context.Background(), f.bucket, key, newStream(seed, n), envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{Metadata: map[string]string{"dataset": "train"}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// plaintextHash decrypts key with kr and hashes the plaintext.
func (f *fixture) plaintextHash(t *testing.T, key string, kr envelope.Keyring) ([32]byte, error) {
	t.Helper()
	r, err := f.c.Download(context.Background(), f.bucket, key, envelope.DecryptOptions{Keyring: kr}, s3io.GetOptions{})
	if err != nil {
		return [32]byte{}, err
	}
	defer r.Close()
	w := newHashWriter()
	if _, err := io.Copy(w, r); err != nil {
		return [32]byte{}, err
	}
	return w.sum(), nil
}

func TestRewrapObject(t *testing.T) {
	f := newFixture(t)
	newKR := newKeyring(t, "new")
	for i, n := range []int64{100 << 10, testPartSize - 300, testPartSize, 3*testPartSize + 12345, testPartSize + 1} {
		t.Run(strconv.FormatInt(n, 10), func(t *testing.T) {
			src := fmt.Sprintf("src-%d.enc", n)
			if i == 4 {
				// A copy source is URL-encoded.
				src = fmt.Sprintf("dir/a b+ü%%3F&=-%d.enc", n)
			}
			up := f.upload(t, src, uint64(n), n)
			want := streamSum(uint64(n), n)
			dst := src + ".rewrapped"
			res, err := f.c.Rewrap(context.Background(), f.bucket, src, f.bucket, dst,
				envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: f.kr}, Keyring: newKR},
				s3io.RewrapObjectOptions{CopyPartSize: testPartSize, NoOverwrite: true, Metadata: map[string]string{"rewrapped": "yes"}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.plaintextHash(t, dst, newKR)
			if err != nil || got != want {
				t.Fatalf("the rewrapped object does not decrypt to the plaintext with the new key: %v", err)
			}
			if _, err := f.plaintextHash(t, dst, f.kr); !errors.Is(err, envelope.ErrNoDataKey) {
				t.Fatalf("the rewrapped object with the old key: %v, want ErrNoDataKey", err)
			}
			stored := f.getRaw(t, dst)
			if int64(len(stored)) != res.Size || !bytes.Equal(stored[len(res.Rewrapped.Header):], f.getRaw(t, src)[res.Rewrapped.OldHeaderLen:]) {
				t.Fatal("the new object is not the new header followed by the old body")
			}
			info, err := f.c.Head(context.Background(), f.bucket, dst)
			if err != nil || info.Metadata["dataset"] != "train" || !info.Encrypted() || info.Metadata["rewrapped"] != "yes" {
				t.Errorf("metadata %v, %v: want the source's and the added pair", info, err)
			}
			// Only the header and the first part's worth pass through the client.
			t.Logf("%d-byte object: %d bytes read, %d sent, %d copied by S3", up.Size, res.BytesRead, res.BytesSent, res.BytesCopied)
			if up.Size <= s3io.MinPartSize && (res.BytesRead != up.Size || res.BytesCopied != 0) {
				t.Errorf("a small object: %d bytes read, %d copied; want it read once, whole", res.BytesRead, res.BytesCopied)
			}
			if res.Size > s3io.MinPartSize {
				if res.BytesSent != s3io.MinPartSize || res.BytesRead > s3io.MinPartSize+64<<10 || res.BytesCopied != res.Size-s3io.MinPartSize {
					t.Errorf("%d bytes read, %d sent, %d copied: want 5 MiB sent, the rest copied", res.BytesRead, res.BytesSent, res.BytesCopied)
				}
			}
			if n := f.pendingUploads(t); n != 0 {
				t.Errorf("%d multipart uploads left", n)
			}
		})
	}
}

// streamSum is the SHA-256 of n bytes of the stream with seed.
func streamSum(seed uint64, n int64) [32]byte {
	s := newStream(seed, n)
	io.Copy(io.Discard, s)
	return s.sum()
}

func TestRewrapObjectInPlace(t *testing.T) {
	f := newFixture(t)
	newKR := newKeyring(t, "new")
	n := int64(2*testPartSize + 1)
	f.upload(t, "data.enc", 1, n)
	_, err := f.c.Rewrap(context.Background(), f.bucket, "data.enc", f.bucket, "data.enc",
		envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: f.kr}, Keyring: newKR}, s3io.RewrapObjectOptions{InPlace: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.plaintextHash(t, "data.enc", newKR); err != nil || got != streamSum(1, n) {
		t.Fatalf("after an in-place rewrap: %v", err)
	}
	if _, err := f.c.Rewrap(context.Background(), f.bucket, "data.enc", f.bucket, "other.enc",
		envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: newKR}, Keyring: f.kr}, s3io.RewrapObjectOptions{InPlace: true}); err == nil {
		t.Error("an in-place rewrap to another object succeeded")
	}
}

// changingAPI replaces the source object just before the step named by at
// ("copy" or "complete"), as a concurrent writer would.
type changingAPI struct {
	s3io.API
	raw     *s3.Client
	bucket  string
	key     string
	at      string
	changed atomic.Bool
	failAt  int32 // fail UploadPartCopy of this part number
}

func (a *changingAPI) change(ctx context.Context, step string) error {
	if step != a.at || !a.changed.CompareAndSwap(false, true) {
		return nil
	}
	_, err := a.raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &a.bucket, Key: &a.key, Body: bytes.NewReader([]byte("a concurrent writer's version"))})
	return err
}

func (a *changingAPI) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, o ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	if err := a.change(ctx, "copy"); err != nil {
		return nil, err
	}
	if aws.ToInt32(in.PartNumber) == a.failAt {
		return nil, errors.New("injected copy failure")
	}
	return a.raw.UploadPartCopy(ctx, in, o...)
}

func (a *changingAPI) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, o ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	if err := a.change(ctx, "complete"); err != nil {
		return nil, err
	}
	return a.API.CompleteMultipartUpload(ctx, in, o...)
}

func (a *changingAPI) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if aws.ToString(in.Key) == a.key {
		if err := a.change(ctx, "complete"); err != nil {
			return nil, err
		}
	}
	return a.API.PutObject(ctx, in, o...)
}

// An in-place rewrap never replaces a version of the object it did not
// read: a writer that gets in first, at any step, wins and the rewrap fails
// with ErrChanged, leaving no parts behind.
func TestRewrapObjectInPlaceRace(t *testing.T) {
	f := newFixture(t)
	newKR := newKeyring(t, "new")
	for _, tc := range []struct {
		at string
		n  int64
	}{{"copy", 2 * testPartSize}, {"complete", 2 * testPartSize}, {"complete", 1000}} {
		t.Run(fmt.Sprintf("%s-%d", tc.at, tc.n), func(t *testing.T) {
			key := fmt.Sprintf("race-%s-%d.enc", tc.at, tc.n)
			f.upload(t, key, 2, tc.n)
			api := &changingAPI{API: f.raw, raw: f.raw, bucket: f.bucket, key: key, at: tc.at}
			c := s3io.New(api, s3io.Options{Concurrency: 2})
			_, err := c.Rewrap(context.Background(), f.bucket, key, f.bucket, key,
				envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: f.kr}, Keyring: newKR},
				s3io.RewrapObjectOptions{InPlace: true, CopyPartSize: testPartSize})
			if !api.changed.Load() {
				t.Fatal("the object was not changed during the rewrap")
			}
			if !errors.Is(err, s3io.ErrChanged) || errors.Is(err, s3io.ErrExists) {
				t.Fatalf("rewrap of an object changed at %s: %v, want ErrChanged", tc.at, err)
			}
			if got := f.getRaw(t, key); string(got) != "a concurrent writer's version" {
				t.Fatalf("the concurrent writer's version was replaced (%d bytes now)", len(got))
			}
			if n := f.pendingUploads(t); n != 0 {
				t.Errorf("%d multipart uploads left", n)
			}
		})
	}
}

func TestRewrapObjectFailures(t *testing.T) {
	f := newFixture(t)
	newKR := newKeyring(t, "new")
	opts := envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: f.kr}, Keyring: newKR}
	f.upload(t, "src.enc", 3, 4*testPartSize)

	// A failed copy aborts the upload and leaves the destination alone.
	api := &changingAPI{API: f.raw, raw: f.raw, failAt: 3}
	c := s3io.New(api, s3io.Options{Concurrency: 1})
	if _, err := c.Rewrap(context.Background(), f.bucket, "src.enc", f.bucket, "dst.enc", opts, s3io.RewrapObjectOptions{CopyPartSize: testPartSize}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("injected")) {
		t.Fatalf("rewrap with a failing copy: %v", err)
	}
	if f.exists(t, "dst.enc") || f.pendingUploads(t) != 0 {
		t.Fatal("a failed rewrap left an object or parts behind")
	}

	// NoOverwrite keeps an existing destination.
	f.upload(t, "dst.enc", 4, 10)
	if _, err := f.c.Rewrap(context.Background(), f.bucket, "src.enc", f.bucket, "dst.enc", opts, s3io.RewrapObjectOptions{NoOverwrite: true}); !errors.Is(err, s3io.ErrExists) {
		t.Fatalf("rewrap onto an existing object with NoOverwrite: %v, want ErrExists", err)
	}
	if got, err := f.plaintextHash(t, "dst.enc", f.kr); err != nil || got != streamSum(4, 10) {
		t.Fatalf("the existing destination changed: %v", err)
	}

	// The wrong old key: nothing written.
	if _, err := f.c.Rewrap(context.Background(), f.bucket, "src.enc", f.bucket, "dst2.enc", envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: newKR}, Keyring: newKR}, s3io.RewrapObjectOptions{}); !errors.Is(err, envelope.ErrNoDataKey) {
		t.Fatalf("rewrap with the wrong key: %v, want ErrNoDataKey", err)
	}
	if f.exists(t, "dst2.enc") {
		t.Fatal("a refused rewrap wrote an object")
	}

	// A tampered body is copied as it is, and fails to decrypt.
	raw := f.getRaw(t, "src.enc")
	raw[len(raw)-100] ^= 1
	if _, err := f.raw.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &f.bucket, Key: aws.String("bad.enc"), Body: bytes.NewReader(raw)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Rewrap(context.Background(), f.bucket, "bad.enc", f.bucket, "bad2.enc", opts, s3io.RewrapObjectOptions{CopyPartSize: testPartSize}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.plaintextHash(t, "bad2.enc", newKR); !errors.Is(err, envelope.ErrAuthentication) {
		t.Fatalf("a tampered object after rewrap: %v, want ErrAuthentication", err)
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// TestRewrapMeasure compares rewrapping a large object with decrypting and
// encrypting it anew (-s3io.rewrap=GiB): bytes through the client, wall
// time and the client's CPU time.
func TestRewrapMeasure(t *testing.T) {
	if *rewrapGiB <= 0 {
		t.Skip("set -s3io.rewrap=1 to measure a 1 GiB object")
	}
	f := newFixture(t)
	c := s3io.New(f.raw, s3io.Options{})
	n := int64(*rewrapGiB) << 30
	ctx := context.Background()
	if _, err := c.Upload(ctx, f.bucket, "big.enc", newStream(9, n), envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{Size: n}); err != nil {
		t.Fatal(err)
	}
	newKR := newKeyring(t, "new")

	start, cpu := time.Now(), cpuSeconds()
	res, err := c.Rewrap(ctx, f.bucket, "big.enc", f.bucket, "big.rewrapped", envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: f.kr}, Keyring: newKR}, s3io.RewrapObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rewrap of a %d-byte object: %v wall, %.2f client CPU-s; through the client %d bytes read + %d sent; %d copied by S3",
		res.Size, time.Since(start).Round(time.Millisecond), cpuSeconds()-cpu, res.BytesRead, res.BytesSent, res.BytesCopied)

	start, cpu = time.Now(), cpuSeconds()
	var read atomic.Int64
	r, err := c.Download(ctx, f.bucket, "big.enc", envelope.DecryptOptions{Keyring: f.kr}, s3io.GetOptions{Progress: func(k int64) { read.Add(k) }})
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.Upload(ctx, f.bucket, "big.reencrypted", r, envelope.EncryptOptions{Keyring: newKR}, s3io.PutOptions{Size: n})
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("decrypt + re-encrypt of the same object: %v wall, %.2f client CPU-s; through the client %d bytes read + %d sent",
		time.Since(start).Round(time.Millisecond), cpuSeconds()-cpu, read.Load(), up.Size)

	if got, err := f.plaintextHash(t, "big.rewrapped", newKR); err != nil || got != streamSum(9, n) {
		t.Fatalf("the rewrapped object: %v", err)
	}
}

// An API without UploadPartCopy (a wrapper that does not pass it on) still
// rewraps, streaming the body through the client.
func TestRewrapObjectWithoutServerSideCopy(t *testing.T) {
	f := newFixture(t)
	newKR := newKeyring(t, "new")
	n := int64(2*testPartSize + 7)
	f.upload(t, "src.enc", 5, n)
	c := s3io.New(struct{ s3io.API }{f.raw}, s3io.Options{Concurrency: 2})
	res, err := c.Rewrap(context.Background(), f.bucket, "src.enc", f.bucket, "dst.enc",
		envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: f.kr}, Keyring: newKR}, s3io.RewrapObjectOptions{CopyPartSize: testPartSize})
	if err != nil {
		t.Fatal(err)
	}
	if res.BytesCopied != 0 || res.BytesSent != res.Size {
		t.Errorf("%d bytes sent, %d copied: want all %d sent", res.BytesSent, res.BytesCopied, res.Size)
	}
	if got, err := f.plaintextHash(t, "dst.enc", newKR); err != nil || got != streamSum(5, n) {
		t.Fatalf("rewrapped without server-side copy: %v", err)
	}
}
