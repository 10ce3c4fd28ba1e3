package envelope_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/mlseal/mlseal/envelope"
)

// layout of a test message: where its header, frames and footer are.
type layout struct {
	ct         []byte
	pt         []byte
	headerLen  int
	frameLen   int
	frameStart []int // offset of each frame, the final one last
	footer     int   // offset of the signature, len(ct) when unsigned
}

const tamperFrameLen = 64

func tamperMessage(t *testing.T, kr envelope.Keyring, suite envelope.SuiteID) layout {
	t.Helper()
	pt := randomBytes(3*tamperFrameLen + 10)
	ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: kr, Suite: suite, FrameLength: tamperFrameLen, Context: map[string]string{"purpose": "tamper"}})
	if err != nil {
		t.Fatal(err)
	}
	l := layout{ct: ct, pt: pt, frameLen: tamperFrameLen}
	regular := 4 + 12 + tamperFrameLen + 16
	final := 4 + 4 + 12 + 4 + 10 + 16
	body := 3*regular + final
	l.footer = len(ct)
	if suite.Signed() {
		// The footer is a two-byte length and the DER signature.
		for sigLen := 100; sigLen < 110; sigLen++ {
			if int(ct[len(ct)-sigLen-2])<<8|int(ct[len(ct)-sigLen-1]) == sigLen {
				l.footer = len(ct) - sigLen - 2
			}
		}
	}
	l.headerLen = l.footer - body
	for i := range 4 {
		l.frameStart = append(l.frameStart, l.headerLen+i*regular)
	}
	return l
}

// releasable is how much plaintext may be released before a fault at
// offset off is found: the frames wholly before it, and never the final
// frame of a message whose signature or end is not yet checked.
func (l layout) releasable(off int) int {
	n := 0
	for i := 0; i+1 < len(l.frameStart); i++ {
		if l.frameStart[i+1] <= off {
			n = (i + 1) * l.frameLen
		}
	}
	return n
}

// decryptAll decrypts ct and returns what was released before the error.
func decryptAll(ct []byte, opts envelope.DecryptOptions) ([]byte, error) {
	r, err := envelope.Decrypt(ctx, bytes.NewReader(ct), opts)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

// decryptInPlace decrypts ct through WriteTo from a *bytes.Reader, which
// opens frames where they lie in ct, and returns what was released before
// the error. It then overwrites ct: under the race detector, a worker
// still reading it after WriteTo returned is reported.
func decryptInPlace(ct []byte, opts envelope.DecryptOptions) ([]byte, error) {
	ct = bytes.Clone(ct)
	defer clear(ct)
	r, err := envelope.Decrypt(ctx, bytes.NewReader(ct), opts)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, err = r.WriteTo(&out)
	return out.Bytes(), err
}

func checkRejected(t *testing.T, what string, l layout, ct []byte, limit int, opts envelope.DecryptOptions) {
	t.Helper()
	for _, decrypt := range []func([]byte, envelope.DecryptOptions) ([]byte, error){decryptAll, decryptInPlace} {
		got, err := decrypt(ct, opts)
		if err == nil {
			t.Fatalf("%s: decrypted without error", what)
		}
		if !envelope.IsIntegrityError(err) && !errors.Is(err, envelope.ErrPolicy) && !errors.Is(err, envelope.ErrLimit) {
			t.Fatalf("%s: error %v is not an integrity, policy or limit error", what, err)
		}
		if len(got) > limit || !bytes.Equal(got, l.pt[:len(got)]) {
			t.Fatalf("%s: released %d bytes (at most %d authenticated ones allowed)", what, len(got), limit)
		}
	}
}

func TestTamperMatrix(t *testing.T) {
	kr := testKeyring(t, "k")
	for _, suite := range suites {
		for _, workers := range []int{1, 3} {
			l := tamperMessage(t, kr, suite)
			opts := envelope.DecryptOptions{Keyring: kr, Workers: workers}
			if got, err := decryptAll(l.ct, opts); err != nil || !bytes.Equal(got, l.pt) {
				t.Fatalf("untampered message: %v", err)
			}
			for i := range l.ct {
				for _, bit := range []byte{0x01, 0x80} {
					ct := bytes.Clone(l.ct)
					ct[i] ^= bit
					checkRejected(t, "flip", l, ct, l.releasable(i), opts)
				}
			}
			for i := range len(l.ct) {
				checkRejected(t, "truncate", l, l.ct[:i], l.releasable(i), opts)
			}
			checkRejected(t, "trailing byte", l, append(bytes.Clone(l.ct), 0), 3*l.frameLen, opts)
			f := l.frameStart
			frame := func(i int) []byte { return l.ct[f[i]:f[i+1]] }
			splice := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
			head, tail := l.ct[:f[0]], l.ct[f[3]:]
			checkRejected(t, "frames swapped", l, splice(head, frame(1), frame(0), frame(2), tail), 0, opts)
			checkRejected(t, "frame duplicated", l, splice(head, frame(0), frame(0), frame(1), frame(2), tail), l.frameLen, opts)
			checkRejected(t, "frame dropped", l, splice(head, frame(0), frame(2), tail), l.frameLen, opts)
			checkRejected(t, "final frame dropped", l, splice(head, frame(0), frame(1), frame(2)), 3*l.frameLen, opts)

			other := tamperMessage(t, kr, suite)
			checkRejected(t, "header swapped", l, splice(other.ct[:other.frameStart[0]], l.ct[f[0]:]), 0, opts)
			checkRejected(t, "wrong key", l, l.ct, 0, envelope.DecryptOptions{Keyring: testKeyring(t, "k"), Workers: workers})
			checkRejected(t, "wrong context", l, l.ct, 0, envelope.DecryptOptions{Keyring: kr, Workers: workers, Context: map[string]string{"purpose": "other"}})
			checkRejected(t, "extra context", l, l.ct, 0, envelope.DecryptOptions{Keyring: kr, Workers: workers, Context: map[string]string{"more": "x"}})
		}
	}
}
