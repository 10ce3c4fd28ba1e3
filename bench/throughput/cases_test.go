package throughput

import (
	"bytes"
	"io"
	"runtime"
	"slices"
	"testing"

	"filippo.io/age"
	"github.com/minio/sio"

	"github.com/mlseal/mlseal/envelope"
)

// The tests check that every benchmark measures what it says: each
// implementation's ciphertext opens to the plaintext, and the limits seal
// what they open. They run in well under a second; the benchmarks run only
// with -bench.

func TestStreamCaseNames(t *testing.T) {
	cases := streamCases()
	names := StreamCaseNames(runtime.GOMAXPROCS(0))
	for _, name := range names {
		if cases[name] == nil {
			t.Errorf("StreamCaseNames has %q, BenchmarkStream has no such case", name)
		}
	}
	for name := range cases {
		if !slices.Contains(names, name) {
			t.Errorf("BenchmarkStream has %q, StreamCaseNames does not", name)
		}
	}
}

func TestPatternReader(t *testing.T) {
	const n = 3*256*kib + 17
	got, err := io.ReadAll(io.LimitReader(newPatternReader(n), n))
	if err != nil || len(got) != n {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if !bytes.Equal(got, plaintext(n)) {
		t.Fatal("the pattern reader and plaintext disagree")
	}
	if !bytes.Equal(got[256*kib:2*256*kib], pattern) {
		t.Fatal("the pattern does not repeat")
	}
}

func TestLimits(t *testing.T) {
	aead := newGCM(t)
	const size = mib + 5
	pt := plaintext(size)
	for _, f := range []int{4 * kib, 256 * kib} {
		ct := sealAll(aead, pt, f)
		for _, w := range []int{1, 3} {
			if err := openFrames(aead, ct, size, f, frameBuffers(w, f)); err != nil {
				t.Fatalf("frame %d, %d workers: %v", f, w, err)
			}
			sealFrames(aead, pt, f, frameBuffers(w, f))
		}
	}
}

// roundTrip encrypts size bytes of the pattern, in several writes, and
// decrypts them with open.
func roundTrip(t *testing.T, name string, enc encrypter, open func(io.Reader) (io.Reader, error)) {
	t.Helper()
	pt := plaintext(300*kib + 3)
	var ct bytes.Buffer
	w, err := enc(&ct)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, err := io.CopyBuffer(w, newPatternReader(int64(len(pt))), make([]byte, 100*kib)); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	r, err := open(&ct)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("%s: decrypted %d bytes (%v), want the %d of the plaintext", name, len(got), err, len(pt))
	}
}

func TestRoundTrip(t *testing.T) {
	dec := mlsealDecrypt(t, 2)
	mlsealOpen := func(r io.Reader) (io.Reader, error) { return dec(r) }
	for _, suite := range []envelope.SuiteID{envelope.AES256GCMHKDFSHA512CommitKey, envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384} {
		for _, w := range []int{1, 2} {
			roundTrip(t, "mlseal "+suite.String(), mlsealEncrypter(t, suite, 64*kib, w), mlsealOpen)
		}
	}
	tinkEnc, tinkAEAD := tinkEncrypter(t)
	roundTrip(t, "tink", tinkEnc, func(r io.Reader) (io.Reader, error) { return tinkAEAD.NewDecryptingReader(r, nil) })
	ageEnc, ageID := ageEncrypter(t)
	roundTrip(t, "age", ageEnc, func(r io.Reader) (io.Reader, error) { return age.Decrypt(r, ageID) })
	roundTrip(t, "sio", sioEncrypter, func(r io.Reader) (io.Reader, error) { return sio.DecryptReader(r, sioConfig) })

	// The AWS Encryption SDK's messages open in mlseal under the same
	// key: both settings are what they claim.
	pt := plaintext(20*kib + 1)
	for _, c := range []struct {
		suite    envelope.SuiteID
		frameLen int
		want     envelope.SuiteID
		wantLen  int
	}{
		{0, 0, envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384, 4096},
		{envelope.AES256GCMHKDFSHA512CommitKey, defaultFrame, envelope.AES256GCMHKDFSHA512CommitKey, defaultFrame},
	} {
		ct, err := esdkEncrypter(t, c.suite, c.frameLen)(pt)
		if err != nil {
			t.Fatalf("ESDK %v: %v", c.suite, err)
		}
		r, err := dec(bytes.NewReader(ct))
		if err != nil {
			t.Fatalf("ESDK %v: %v", c.suite, err)
		}
		if h := r.Header(); h.Suite != c.want || h.FrameLength != c.wantLen {
			t.Errorf("ESDK %v: message of suite %v, frame length %d; want %v, %d", c.suite, h.Suite, h.FrameLength, c.want, c.wantLen)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("ESDK %v: decrypted %d bytes (%v)", c.suite, len(got), err)
		}
	}
}

func TestCachedKey(t *testing.T) {
	opts := envelope.EncryptOptions{Materials: newCachedKey(t, envelope.AES256GCMHKDFSHA512CommitKey), Workers: 1}
	pt := plaintext(smallSize)
	a, err := envelope.EncryptBytes(ctx, pt, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := envelope.EncryptBytes(ctx, pt, opts)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two messages under a cached key are identical: the message id must differ")
	}
	got, err := envelope.DecryptBytes(ctx, b, envelope.DecryptOptions{Materials: opts.Materials})
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("decrypted %d bytes (%v)", len(got), err)
	}
}

func TestPeakMemory(t *testing.T) {
	if procStatus("VmHWM") < 0 {
		t.Skip("no /proc/self/status here")
	}
	if rss := procStatus("VmRSS"); rss < 1<<20 || rss > procStatus("VmHWM") {
		t.Fatalf("VmRSS %d, VmHWM %d", rss, procStatus("VmHWM"))
	}
}
