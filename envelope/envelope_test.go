package envelope_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
)

var ctx = context.Background()

func testKeyring(t testing.TB, name string) envelope.Keyring {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := rawaes.New("mlseal-test", name, key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

var suites = []envelope.SuiteID{envelope.AES256GCMHKDFSHA512CommitKey, envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384}

// encryptChunked encrypts pt writing it in chunks of the given size.
func encryptChunked(t testing.TB, opts envelope.EncryptOptions, pt []byte, chunk int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := envelope.Encrypt(ctx, &buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	for p := pt; len(p) > 0; {
		n := min(chunk, len(p))
		if m, err := w.Write(p[:n]); err != nil || m != n {
			t.Fatalf("Write = %d, %v", m, err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTripSizes(t *testing.T) {
	kr := testKeyring(t, "k")
	for _, suite := range suites {
		for _, f := range []int{1, 512, 4096} {
			sizes := []int{0, 1, f - 1, f, f + 1, 2 * f, 2*f + 7, 5*f + 3}
			for _, size := range sizes {
				for _, chunk := range []int{1, 512, f - 1, f, f + 1} {
					if chunk < 1 || (chunk == 1 && size > 20000) {
						continue
					}
					for _, workers := range []int{1, 3} {
						pt := randomBytes(size)
						opts := envelope.EncryptOptions{Keyring: kr, Suite: suite, FrameLength: f, Workers: workers, Context: map[string]string{"dataset": "train"}}
						ct := encryptChunked(t, opts, pt, chunk)
						r, err := envelope.Decrypt(ctx, bytes.NewReader(ct), envelope.DecryptOptions{Keyring: kr, Workers: 4 - workers})
						if err != nil {
							t.Fatalf("suite %s f %d size %d chunk %d: %v", suite, f, size, chunk, err)
						}
						if err := iotest.TestReader(r, pt); err != nil {
							t.Fatalf("suite %s f %d size %d chunk %d workers %d: %v", suite, f, size, chunk, workers, err)
						}
					}
				}
			}
		}
	}
}

// TestRoundTripReadFrom streams plaintext through io.Copy, which uses the
// writer's ReadFrom, from readers that return short reads.
func TestRoundTripReadFrom(t *testing.T) {
	kr := testKeyring(t, "k")
	readers := map[string]func(io.Reader) io.Reader{
		"plain":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for _, suite := range suites {
		for _, f := range []int{1, 512, 4096} {
			for _, size := range []int{0, 1, f - 1, f, f + 1, 2 * f, 5*f + 3} {
				for name, wrap := range readers {
					for _, workers := range []int{1, 3} {
						pt := randomBytes(size)
						var buf bytes.Buffer
						w, err := envelope.Encrypt(ctx, &buf, envelope.EncryptOptions{Keyring: kr, Suite: suite, FrameLength: f, Workers: workers})
						if err != nil {
							t.Fatal(err)
						}
						if n, err := io.Copy(w, wrap(bytes.NewReader(pt))); err != nil || n != int64(size) {
							t.Fatalf("io.Copy = %d, %v", n, err)
						}
						if err := w.Close(); err != nil {
							t.Fatal(err)
						}
						got, err := envelope.DecryptBytes(ctx, buf.Bytes(), envelope.DecryptOptions{Keyring: kr})
						if err != nil || !bytes.Equal(got, pt) {
							t.Fatalf("suite %s f %d size %d reader %s workers %d: %v", suite, f, size, name, workers, err)
						}
					}
				}
			}
		}
	}
	// A failing reader fails the copy, and the message is never completed.
	w, err := envelope.Encrypt(ctx, io.Discard, envelope.EncryptOptions{Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if _, err := io.Copy(w, iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("io.Copy from a failing reader: %v", err)
	}
}

// TestRoundTripSection encrypts sections of a file, which the workers read
// with positional reads, from the section's current position to its end.
func TestRoundTripSection(t *testing.T) {
	kr := testKeyring(t, "k")
	const f = 4096
	pt := randomBytes(7*f + 3)
	path := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(path, pt, 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, workers := range []int{1, 2, 5} {
		for _, size := range []int{0, 1, f - 1, f, f + 1, 2 * f, 5*f + 3} {
			for _, pos := range []int{0, 1, f} {
				for _, hint := range []bool{false, true} {
					if pos > size {
						continue
					}
					sr := io.NewSectionReader(file, 2, int64(size))
					if _, err := sr.Seek(int64(pos), io.SeekStart); err != nil {
						t.Fatal(err)
					}
					opts := envelope.EncryptOptions{Keyring: kr, FrameLength: f, Workers: workers}
					if hint {
						opts.SizeHint = int64(size - pos)
					}
					var buf bytes.Buffer
					w, err := envelope.Encrypt(ctx, &buf, opts)
					if err != nil {
						t.Fatal(err)
					}
					if n, err := w.ReadFrom(sr); err != nil || n != int64(size-pos) {
						t.Fatalf("ReadFrom = %d, %v, want %d", n, err, size-pos)
					}
					if err := w.Close(); err != nil {
						t.Fatal(err)
					}
					got, err := envelope.DecryptBytes(ctx, buf.Bytes(), envelope.DecryptOptions{Keyring: kr})
					if want := pt[2+pos : 2+size]; err != nil || !bytes.Equal(got, want) {
						t.Fatalf("workers %d size %d pos %d: %v", workers, size, pos, err)
					}
					if n, _ := sr.Seek(0, io.SeekCurrent); n != int64(size) {
						t.Errorf("the section is at %d after ReadFrom, want its end %d", n, size)
					}
				}
			}
		}
	}
	// A section longer than the SizeHint is refused before anything is read.
	w, err := envelope.Encrypt(ctx, io.Discard, envelope.EncryptOptions{Keyring: kr, FrameLength: f, Workers: 2, SizeHint: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFrom(io.NewSectionReader(file, 0, 11)); err == nil || !strings.Contains(err.Error(), "SizeHint") {
		t.Fatalf("a section over the SizeHint: %v", err)
	}
}

// TestBufferedSource decrypts from a caller's bufio.Reader, which
// bufio.NewReaderSize inside Decrypt returns as is: the bytes it has read
// ahead must be read once, not twice.
func TestBufferedSource(t *testing.T) {
	kr := testKeyring(t, "k")
	pt := randomBytes(300 << 10)
	ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: kr, FrameLength: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{16, 4096, 64 << 10, 1 << 20} {
		r, err := envelope.Decrypt(ctx, bufio.NewReaderSize(bytes.NewReader(ct), size), envelope.DecryptOptions{Keyring: kr})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("bufio.Reader of %d bytes: %v", size, err)
		}
	}
}

func TestRoundTripLarge(t *testing.T) {
	kr := testKeyring(t, "k")
	pt := randomBytes(5<<20 + 12345)
	for _, suite := range suites {
		for _, f := range []int{0, 65536, 1 << 20} {
			for _, workers := range []int{1, 2, 8} {
				ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: kr, Suite: suite, FrameLength: f, Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				r, err := envelope.Decrypt(ctx, bytes.NewReader(ct), envelope.DecryptOptions{Keyring: kr, Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				if _, err := io.Copy(&out, r); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), pt) {
					t.Fatalf("suite %s f %d workers %d: plaintext differs", suite, f, workers)
				}
				if h := r.Header(); h.Suite != suite || !h.Framed || h.Version != 2 {
					t.Fatalf("header %+v", h)
				}
			}
		}
	}
}

func TestEncryptionContext(t *testing.T) {
	kr := testKeyring(t, "k")
	pt := []byte("rows of a training set")
	enc := map[string]string{"dataset": "train", "owner": "ml-team", "tenant": "acme"}
	ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: kr, Context: enc, RequiredContextKeys: []string{"tenant"}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := envelope.ParseHeader(bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	if _, stored := h.Context["tenant"]; stored || h.Context["dataset"] != "train" {
		t.Fatalf("stored context %v: want dataset stored and tenant not", h.Context)
	}
	cases := []struct {
		name    string
		ctx     map[string]string
		wantErr error
	}{
		{"required key given", map[string]string{"tenant": "acme"}, nil},
		{"all keys given", enc, nil},
		{"required key missing", nil, envelope.ErrAuthentication},
		{"required key wrong", map[string]string{"tenant": "evil"}, envelope.ErrAuthentication},
		{"stored key wrong", map[string]string{"tenant": "acme", "dataset": "test"}, envelope.ErrAuthentication},
		{"extra key", map[string]string{"tenant": "acme", "extra": "x"}, envelope.ErrAuthentication},
	}
	for _, c := range cases {
		got, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr, Context: c.ctx})
		if c.wantErr == nil {
			if err != nil || !bytes.Equal(got, pt) {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.wantErr) && !errors.Is(err, envelope.ErrNoDataKey) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.wantErr)
		}
	}
	for _, bad := range []envelope.EncryptOptions{
		{Keyring: kr, Context: map[string]string{"aws-crypto-public-key": "x"}},
		{Keyring: kr, Context: enc, RequiredContextKeys: []string{"absent"}},
		{Keyring: kr, Suite: envelope.AES256GCMIV12Tag16HKDFSHA256},
		{Keyring: kr, FrameLength: envelope.DefaultMaxFrameLength + 1},
		{},
	} {
		if _, err := envelope.EncryptBytes(ctx, pt, bad); err == nil {
			t.Errorf("EncryptBytes(%+v) succeeded, want an error", bad)
		}
	}
}

func TestWrongKey(t *testing.T) {
	ct, err := envelope.EncryptBytes(ctx, []byte("x"), envelope.EncryptOptions{Keyring: testKeyring(t, "a")})
	if err != nil {
		t.Fatal(err)
	}
	for _, kr := range []envelope.Keyring{testKeyring(t, "a"), testKeyring(t, "b")} {
		_, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr})
		if !errors.Is(err, envelope.ErrNoDataKey) || !envelope.IsIntegrityError(err) {
			t.Errorf("wrong key: %v, want ErrNoDataKey", err)
		}
	}
}

func TestUnsignedOnly(t *testing.T) {
	kr := testKeyring(t, "k")
	for _, suite := range suites {
		ct, err := envelope.EncryptBytes(ctx, []byte("x"), envelope.EncryptOptions{Keyring: kr, Suite: suite})
		if err != nil {
			t.Fatal(err)
		}
		_, err = envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr, UnsignedOnly: true})
		if suite.Signed() != errors.Is(err, envelope.ErrPolicy) {
			t.Errorf("suite %s with UnsignedOnly: %v", suite, err)
		}
	}
}

func TestLimits(t *testing.T) {
	kr := testKeyring(t, "k")
	krs := []envelope.Keyring{}
	for i := range 3 {
		krs = append(krs, testKeyring(t, fmt.Sprint(i)))
	}
	ct, err := envelope.EncryptBytes(ctx, randomBytes(100), envelope.EncryptOptions{Keyring: multiOf(t, krs...), FrameLength: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: krs[2], MaxEncryptedDataKeys: 2}); !errors.Is(err, envelope.ErrLimit) {
		t.Errorf("3 wrapped keys with a limit of 2: %v", err)
	}
	if _, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: krs[2], MaxFrameLength: 1 << 19}); !errors.Is(err, envelope.ErrLimit) {
		t.Errorf("frame length over the limit: %v", err)
	}
	if _, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: krs[2], MaxHeaderSize: 100}); !errors.Is(err, envelope.ErrLimit) {
		t.Errorf("header over the limit: %v", err)
	}
	if _, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: krs[1]}); err != nil {
		t.Errorf("second of three keys: %v", err)
	}
	_ = kr
}

// failingWriter fails every Write after the first ok ones.
type failingWriter struct {
	ok  int
	err error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.ok == 0 {
		return 0, w.err
	}
	w.ok--
	return len(p), nil
}

// TestInMemoryWriteToGivesBackItsSource: a message in a *bytes.Reader is
// opened where it lies (one in a *bytes.Buffer is copied out). When the destination fails half
// way, WriteTo returns its error only once no worker reads the message any
// more: the caller may then reuse it (the race detector checks).
func TestInMemoryWriteToGivesBackItsSource(t *testing.T) {
	kr := testKeyring(t, "k")
	pt := randomBytes(64*4096 + 5)
	ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: kr, FrameLength: 4096})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	for _, workers := range []int{1, 4} {
		for _, src := range []func([]byte) io.Reader{
			func(b []byte) io.Reader { return bytes.NewReader(b) },
			func(b []byte) io.Reader { return bytes.NewBuffer(b) },
		} {
			msg := bytes.Clone(ct)
			r, err := envelope.Decrypt(ctx, src(msg), envelope.DecryptOptions{Keyring: kr, Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.WriteTo(&failingWriter{ok: 2, err: boom}); !errors.Is(err, boom) {
				t.Fatalf("workers %d: WriteTo to a failing writer: %v", workers, err)
			}
			clear(msg)

			r, err = envelope.Decrypt(ctx, src(bytes.Clone(ct)), envelope.DecryptOptions{Keyring: kr, Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if n, err := r.WriteTo(&out); err != nil || n != int64(len(pt)) || !bytes.Equal(out.Bytes(), pt) {
				t.Fatalf("workers %d: WriteTo = %d, %v", workers, n, err)
			}
			if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("Read after WriteTo = %d, %v, want io.EOF", n, err)
			}
		}
	}
}

// pieces is a BufferedSource holding a message in pieces of a fixed size,
// as s3io's object reader holds the parts it fetched.
type pieces struct {
	b      []byte
	piece  int
	off    int
	lent   int
	inUse  atomic.Int32
	misuse atomic.Bool // a piece given back twice
}

func (p *pieces) Read(b []byte) (int, error) {
	if p.off == len(p.b) {
		return 0, io.EOF
	}
	end := min(len(p.b), (p.off/p.piece+1)*p.piece)
	n := copy(b, p.b[p.off:end])
	p.off += n
	return n, nil
}

func (p *pieces) Lend(n int) ([]byte, func(), bool) {
	end := min(len(p.b), (p.off/p.piece+1)*p.piece)
	if end-p.off < n {
		return nil, nil, false
	}
	b := p.b[p.off : p.off+n : p.off+n]
	p.off += n
	p.lent++
	p.inUse.Add(1)
	var once atomic.Bool
	return b, func() {
		if once.Swap(true) {
			p.misuse.Store(true)
		}
		p.inUse.Add(-1)
	}, true
}

// TestBufferedSourceLends: frames that lie in one piece of a BufferedSource are
// opened where they are and given back once each; frames across pieces are
// copied out; a signed message's frames are always copied, since its
// signature hash and its decryption must read the same bytes.
func TestBufferedSourceLends(t *testing.T) {
	kr := testKeyring(t, "k")
	pt := randomBytes(300<<10 + 9)
	for _, suite := range suites {
		ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: kr, Suite: suite, FrameLength: 4096})
		if err != nil {
			t.Fatal(err)
		}
		signed := suite == envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384
		for _, workers := range []int{1, 3} {
			src := &pieces{b: ct, piece: 50000}
			r, err := envelope.Decrypt(ctx, src, envelope.DecryptOptions{Keyring: kr, Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if _, err := r.WriteTo(&out); err != nil || !bytes.Equal(out.Bytes(), pt) {
				t.Fatalf("%s, workers %d: %v", suite, workers, err)
			}
			if signed && src.lent > 0 || !signed && src.lent < 60 {
				t.Errorf("%s, workers %d: %d frames of 76 lent", suite, workers, src.lent)
			}
			if n := src.inUse.Load(); n != 0 || src.misuse.Load() {
				t.Errorf("%s, workers %d: %d lent frames not given back, or given back twice", suite, workers, n)
			}
		}
	}
}

// TestDecryptIntoItsOwnBuffer: decrypting a *bytes.Buffer into itself is a
// mistake, but it must not report success and leave nothing.
func TestDecryptIntoItsOwnBuffer(t *testing.T) {
	kr := testKeyring(t, "k")
	pt := randomBytes(20 << 10)
	ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: kr, FrameLength: 4096})
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.NewBuffer(ct)
	// One worker: with more, reading ahead and writing into one buffer
	// would race.
	r, err := envelope.Decrypt(ctx, buf, envelope.DecryptOptions{Keyring: kr, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(buf, r); err == nil && !bytes.Equal(buf.Bytes(), pt) {
		t.Fatalf("io.Copy into the source reported success and left %d bytes", buf.Len())
	}
}
