package envelope_test

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/mlseal/mlseal/envelope"
)

// countingReaderAt counts the bytes fetched, as a remote object store
// would charge for them.
type countingReaderAt struct {
	r       io.ReaderAt
	fetched atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.fetched.Add(int64(n))
	return n, err
}

func TestReaderAt(t *testing.T) {
	kr := testKeyring(t, "k")
	for _, f := range []int{1, 100, 4096} {
		for _, size := range []int{0, 1, f - 1, f, f + 1, 7*f + 3} {
			pt := randomBytes(size)
			ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: kr, FrameLength: f, Context: map[string]string{"a": "b"}})
			if err != nil {
				t.Fatal(err)
			}
			ra, err := envelope.NewReaderAt(ctx, bytes.NewReader(ct), int64(len(ct)), envelope.DecryptOptions{Keyring: kr})
			if err != nil {
				t.Fatalf("f %d size %d: %v", f, size, err)
			}
			if ra.Size() != int64(size) {
				t.Fatalf("Size = %d, want %d", ra.Size(), size)
			}
			if err := iotest.TestReader(io.NewSectionReader(ra, 0, ra.Size()), pt); err != nil {
				t.Fatalf("f %d size %d: %v", f, size, err)
			}
			// Reads past the end return io.EOF with what there is.
			buf := make([]byte, 10)
			n, err := ra.ReadAt(buf, int64(size)-3)
			if size >= 3 && (n != 3 || err != io.EOF || !bytes.Equal(buf[:3], pt[size-3:])) {
				t.Fatalf("ReadAt at the end = %d, %v", n, err)
			}
		}
	}
}

func TestReaderAtFetchesOnlyWhatItReads(t *testing.T) {
	kr := testKeyring(t, "k")
	const f = 64 << 10
	pt := randomBytes(64*f + 10) // a short final frame
	ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: kr, FrameLength: f})
	if err != nil {
		t.Fatal(err)
	}
	src := &countingReaderAt{r: bytes.NewReader(ct)}
	ra, err := envelope.NewReaderAt(ctx, src, int64(len(ct)), envelope.DecryptOptions{Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	opened := src.fetched.Load()
	if opened > 8<<10 {
		t.Fatalf("opening fetched %d bytes: more than the header and the final frame", opened)
	}
	buf := make([]byte, 100)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 100)
			if _, err := ra.ReadAt(b, int64(30*f+i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := ra.ReadAt(buf, 30*f+f-50); err != nil { // spans frames 31 and 32
		t.Fatal(err)
	}
	if !bytes.Equal(buf, pt[30*f+f-50:30*f+f+50]) {
		t.Fatal("plaintext differs")
	}
	// Frame 31 was fetched once or a few times by the racing readers, and
	// frame 32 once: a small fraction of the 4 MiB object.
	if got := src.fetched.Load() - opened; got > 10*(f+32) {
		t.Fatalf("fetched %d bytes for reads in two frames", got)
	}
}

func TestReaderAtRefuses(t *testing.T) {
	kr := testKeyring(t, "k")
	ct, err := envelope.EncryptBytes(ctx, randomBytes(5000), envelope.EncryptOptions{Keyring: kr, FrameLength: 1000})
	if err != nil {
		t.Fatal(err)
	}
	open := func(b []byte) (*envelope.ReaderAt, error) {
		return envelope.NewReaderAt(ctx, bytes.NewReader(b), int64(len(b)), envelope.DecryptOptions{Keyring: kr})
	}
	for _, cut := range []int{1, 16, 1032, 1500} {
		if _, err := open(ct[:len(ct)-cut]); !envelope.IsIntegrityError(err) {
			t.Errorf("cut by %d: %v, want an integrity error", cut, err)
		}
	}
	if _, err := open(append(bytes.Clone(ct), 0)); !envelope.IsIntegrityError(err) {
		t.Errorf("extended: %v", err)
	}
	tampered := bytes.Clone(ct)
	tampered[len(ct)-3000] ^= 1 // inside an early frame
	ra, err := open(tampered)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ra.ReadAt(make([]byte, 5000), 0); !errors.Is(err, envelope.ErrAuthentication) {
		t.Errorf("tampered frame: %v", err)
	}
	signed, err := envelope.EncryptBytes(ctx, []byte("x"), envelope.EncryptOptions{Keyring: kr, Suite: envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(signed); !errors.Is(err, envelope.ErrPolicy) {
		t.Errorf("signed message: %v, want ErrPolicy", err)
	}
}
