package envelope_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
)

func rewrap(t testing.TB, msg []byte, opts envelope.RewrapOptions) ([]byte, *envelope.Rewrapped) {
	t.Helper()
	var out bytes.Buffer
	rw, err := envelope.Rewrap(ctx, &out, bytes.NewReader(msg), opts)
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), rw
}

func TestRewrap(t *testing.T) {
	oldA, oldB, newC, newD := testKeyring(t, "a"), testKeyring(t, "b"), testKeyring(t, "c"), testKeyring(t, "d")
	const frame = 1024
	for _, size := range []int{0, 1, frame - 1, frame, frame + 1, 5*frame + 7} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			pt := randomBytes(size)
			msg := encryptChunked(t, envelope.EncryptOptions{Keyring: multiOf(t, oldA, oldB), FrameLength: frame, Context: map[string]string{"dataset": "train"}}, pt, 512)
			newKeys, err := multi.New(nil, newC, newD)
			if err != nil {
				t.Fatal(err)
			}
			out, rw := rewrap(t, msg, envelope.RewrapOptions{
				Decrypt: envelope.DecryptOptions{Keyring: oldB, Context: map[string]string{"dataset": "train"}},
				Keyring: newKeys,
			})

			// The body is the old one, byte for byte, after the new header.
			if !bytes.Equal(out[:len(rw.Header)], rw.Header) || !bytes.Equal(out[len(rw.Header):], msg[rw.OldHeaderLen:]) {
				t.Fatal("the output is not the new header followed by the old body")
			}
			if rw.BodyLen != int64(len(msg))-rw.OldHeaderLen {
				t.Errorf("BodyLen = %d, want %d", rw.BodyLen, int64(len(msg))-rw.OldHeaderLen)
			}
			if !bytes.Equal(rw.New.MessageID, rw.Old.MessageID) || rw.New.Suite != rw.Old.Suite || rw.New.FrameLength != frame || rw.New.Context["dataset"] != "train" {
				t.Errorf("new header %+v does not keep the old one's message id, suite, frame length and context", rw.New)
			}
			if len(rw.New.EncryptedDataKeys) != 2 {
				t.Errorf("new header has %d wrapped keys, want exactly the 2 new ones", len(rw.New.EncryptedDataKeys))
			}
			for _, kr := range []envelope.Keyring{newC, newD} {
				got, err := envelope.DecryptBytes(ctx, out, envelope.DecryptOptions{Keyring: kr, Context: map[string]string{"dataset": "train"}})
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("decrypting with a new key: %v", err)
				}
			}
			for _, kr := range []envelope.Keyring{oldA, oldB} {
				if _, err := envelope.DecryptBytes(ctx, out, envelope.DecryptOptions{Keyring: kr}); !errors.Is(err, envelope.ErrNoDataKey) {
					t.Fatalf("decrypting with an old key: %v, want ErrNoDataKey", err)
				}
			}
		})
	}
}

func TestRewrapHeaderReadsOnlyTheHeader(t *testing.T) {
	oldKey, newKey := testKeyring(t, "old"), testKeyring(t, "new")
	msg := encryptChunked(t, envelope.EncryptOptions{Keyring: oldKey, FrameLength: 100}, randomBytes(1000), 1000)
	src := bytes.NewReader(msg)
	rw, err := envelope.RewrapHeader(ctx, src, envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: oldKey}, Keyring: newKey})
	if err != nil {
		t.Fatal(err)
	}
	if read := int64(len(msg)) - int64(src.Len()); read != rw.OldHeaderLen {
		t.Errorf("RewrapHeader read %d bytes, the header is %d", read, rw.OldHeaderLen)
	}
	joined := append(bytes.Clone(rw.Header), msg[rw.OldHeaderLen:]...)
	if _, err := envelope.DecryptBytes(ctx, joined, envelope.DecryptOptions{Keyring: newKey}); err != nil {
		t.Fatalf("new header + old body: %v", err)
	}
	// One byte at a time and with errors in the source's reads.
	for _, r := range []io.Reader{iotest.OneByteReader(bytes.NewReader(msg)), iotest.DataErrReader(bytes.NewReader(msg))} {
		var out bytes.Buffer
		if _, err := envelope.Rewrap(ctx, &out, r, envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: oldKey}, Keyring: newKey}); err != nil {
			t.Fatal(err)
		}
		if _, err := envelope.DecryptBytes(ctx, out.Bytes(), envelope.DecryptOptions{Keyring: newKey}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRewrapRequiredContext(t *testing.T) {
	oldKey, newKey := testKeyring(t, "old"), testKeyring(t, "new")
	full := map[string]string{"dataset": "train", "tenant": "acme"}
	pt := randomBytes(3000)
	msg := encryptChunked(t, envelope.EncryptOptions{Keyring: oldKey, FrameLength: 1000, Context: full, RequiredContextKeys: []string{"tenant"}}, pt, 3000)
	opts := func(c map[string]string) envelope.RewrapOptions {
		return envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: oldKey, Context: c}, Keyring: newKey}
	}
	for _, c := range []map[string]string{nil, {"tenant": "other"}, {"dataset": "test", "tenant": "acme"}} {
		// The raw AES keyring binds its wrapped key to the whole context, so
		// it may refuse before the header tag is checked.
		if _, err := envelope.Rewrap(ctx, io.Discard, bytes.NewReader(msg), opts(c)); !envelope.IsIntegrityError(err) {
			t.Errorf("rewrap with context %v: %v, want an integrity error", c, err)
		}
	}
	out, rw := rewrap(t, msg, opts(map[string]string{"tenant": "acme"}))
	if _, stored := rw.New.Context["tenant"]; stored {
		t.Error("the required key is stored in the new header")
	}
	if _, err := envelope.DecryptBytes(ctx, out, envelope.DecryptOptions{Keyring: newKey}); !envelope.IsIntegrityError(err) {
		t.Errorf("decrypting the rewrapped message without the required context: %v, want an integrity error", err)
	}
	got, err := envelope.DecryptBytes(ctx, out, envelope.DecryptOptions{Keyring: newKey, Context: map[string]string{"tenant": "acme"}})
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("decrypting with the required context: %v", err)
	}
}

func TestRewrapTamper(t *testing.T) {
	oldKey, newKey := testKeyring(t, "old"), testKeyring(t, "new")
	msg := encryptChunked(t, envelope.EncryptOptions{Keyring: oldKey, FrameLength: 64}, randomBytes(640), 640)
	h, err := envelope.RewrapHeader(ctx, bytes.NewReader(msg), envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: oldKey}, Keyring: newKey})
	if err != nil {
		t.Fatal(err)
	}
	opts := envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: oldKey}, Keyring: newKey}
	// Every byte of the body: the rewrap copies it, the decrypt refuses it.
	for i := h.OldHeaderLen; i < int64(len(msg)); i += 7 {
		bad := bytes.Clone(msg)
		bad[i] ^= 0x10
		out, _ := rewrap(t, bad, opts)
		if _, err := envelope.DecryptBytes(ctx, out, envelope.DecryptOptions{Keyring: newKey}); !envelope.IsIntegrityError(err) {
			t.Fatalf("body byte %d flipped: decrypt after rewrap gave %v, want an integrity error", i, err)
		}
	}
	// Every byte of the header: the rewrap refuses it.
	for i := range h.OldHeaderLen {
		bad := bytes.Clone(msg)
		bad[i] ^= 0x01
		if _, err := envelope.Rewrap(ctx, io.Discard, bytes.NewReader(bad), opts); err == nil {
			t.Fatalf("header byte %d flipped: rewrap succeeded", i)
		}
	}
	// A message cut inside the body is copied as it is and found on decrypt.
	out, _ := rewrap(t, msg[:len(msg)-10], opts)
	if _, err := envelope.DecryptBytes(ctx, out, envelope.DecryptOptions{Keyring: newKey}); !errors.Is(err, envelope.ErrTruncated) {
		t.Fatalf("truncated message after rewrap: %v, want ErrTruncated", err)
	}
}

func TestRewrapRefuses(t *testing.T) {
	oldKey, newKey := testKeyring(t, "old"), testKeyring(t, "new")
	unsigned := encryptChunked(t, envelope.EncryptOptions{Keyring: oldKey}, randomBytes(10), 10)
	signed := encryptChunked(t, envelope.EncryptOptions{Keyring: oldKey, Suite: envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384}, randomBytes(10), 10)
	gen, err := multi.New(newKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		opts envelope.RewrapOptions
		is   error
		says string
	}{
		{"signed", signed, envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: oldKey}, Keyring: newKey}, envelope.ErrPolicy, "signed"},
		{"wrong old key", unsigned, envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: newKey}, Keyring: newKey}, envelope.ErrNoDataKey, ""},
		{"a generator", unsigned, envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: oldKey}, Keyring: gen}, nil, "generator"},
		{"no new keyring", unsigned, envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: oldKey}}, nil, "Keyring"},
		{"not a message", []byte("plain text, not a message"), envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: oldKey}, Keyring: newKey}, envelope.ErrMalformed, ""},
	} {
		var out bytes.Buffer
		_, err := envelope.Rewrap(ctx, &out, bytes.NewReader(tc.msg), tc.opts)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want an error wrapping %v that says %q", tc.name, err, tc.is, tc.says)
		}
		if out.Len() != 0 {
			t.Errorf("%s: %d bytes written before the error", tc.name, out.Len())
		}
	}
}

// Messages written by the AWS Encryption SDK for .NET: the key-committing
// one (with a required context) rewraps, the legacy ones are refused even
// under the legacy commitment policy.
func TestRewrapVectors(t *testing.T) {
	vs := loadVectors(t, "valid-Net-4.0.0.zip")
	newKey := testKeyring(t, "new")
	rewrapped := 0
	for _, name := range sortedNames(vs.tests) {
		tc := vs.tests[name]
		ct := vs.read(t, tc.Ciphertext)
		kr, _ := vs.keyring(t, tc.MasterKeys)
		h, err := envelope.ParseHeader(bytes.NewReader(ct))
		if err != nil {
			t.Fatal(err)
		}
		dopts := legacyOK(1)
		dopts.Keyring, dopts.Context = kr, tc.Context
		var out bytes.Buffer
		_, err = envelope.Rewrap(ctx, &out, bytes.NewReader(ct), envelope.RewrapOptions{Decrypt: dopts, Keyring: newKey})
		if !h.Suite.Committing() {
			if !errors.Is(err, envelope.ErrPolicy) || !strings.Contains(err.Error(), "does not commit") {
				t.Errorf("%s (%s): %v, want ErrPolicy saying the suite does not commit", name, h.Suite, err)
			}
			continue
		}
		if h.Suite.Signed() {
			if !errors.Is(err, envelope.ErrPolicy) {
				t.Errorf("%s (%s): %v, want ErrPolicy", name, h.Suite, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s (%s): %v", name, h.Suite, err)
		}
		got, err := envelope.DecryptBytes(ctx, out.Bytes(), envelope.DecryptOptions{Keyring: newKey, Context: tc.Context})
		if err != nil || !bytes.Equal(got, vs.read(t, tc.Result.Output.Plaintext)) {
			t.Fatalf("%s: decrypting the rewrapped message: %v", name, err)
		}
		rewrapped++
	}
	if rewrapped == 0 {
		t.Error("no vector was rewrapped")
	}
}

// FuzzRewrap rewraps arbitrary messages: it must never panic, a failure
// must be a documented error, and a rewrapped message must decrypt under the
// new key exactly as the original did under the old one.
func FuzzRewrap(f *testing.F) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecrypt")
	seeds, _ := os.ReadDir(dir)
	if len(seeds) == 0 {
		f.Fatal("the seed corpus testdata/fuzz/FuzzDecrypt is empty")
	}
	for _, s := range seeds {
		b, err := os.ReadFile(filepath.Join(dir, s.Name()))
		if err != nil {
			f.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 3)
		v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			f.Fatalf("%s: %v", s.Name(), err)
		}
		f.Add([]byte(v))
	}
	oldKey, newKey := fuzzKeyring(f), testKeyring(f, "new")
	limits := envelope.DecryptOptions{MaxFrameLength: 1 << 16, MaxNonFramedSize: 1 << 16, Workers: 1}
	f.Fuzz(func(t *testing.T, data []byte) {
		dopts := limits
		dopts.Keyring = oldKey
		var out bytes.Buffer
		_, err := envelope.Rewrap(ctx, &out, bytes.NewReader(data), envelope.RewrapOptions{Decrypt: dopts, Keyring: newKey})
		if err != nil {
			if !envelope.IsIntegrityError(err) && !errors.Is(err, envelope.ErrLimit) && !errors.Is(err, envelope.ErrPolicy) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			return
		}
		want, wantErr := envelope.DecryptBytes(ctx, data, dopts)
		dopts.Keyring = newKey
		got, gotErr := envelope.DecryptBytes(ctx, out.Bytes(), dopts)
		if (wantErr == nil) != (gotErr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("original decrypts to (%d bytes, %v), rewrapped to (%d bytes, %v)", len(want), wantErr, len(got), gotErr)
		}
	})
}

// benchRewrap runs one iteration per loop over a 64 MiB message encrypted
// under oldKey, reporting the message's bytes per second and per CPU-second.
func benchRewrap(b *testing.B, iter func(msg []byte, out *bytes.Buffer, oldKey, newKey envelope.Keyring) error) {
	oldKey, newKey := testKeyring(b, "old"), testKeyring(b, "new")
	msg := encryptChunked(b, envelope.EncryptOptions{Keyring: oldKey}, randomBytes(64<<20), 1<<20)
	var out bytes.Buffer
	out.Grow(len(msg) + 4096)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	cpu := cpuSeconds()
	for b.Loop() {
		out.Reset()
		if err := iter(msg, &out, oldKey, newKey); err != nil {
			b.Fatal(err)
		}
	}
	// MB per CPU-second of the process is steadier under load than MB/s.
	if used := cpuSeconds() - cpu; cpu >= 0 && used > 0 {
		b.ReportMetric(float64(len(msg))*float64(b.N)/1e6/used, "MB/cpu-s")
	}
}

// BenchmarkRewrap64MiB rewraps a 64 MiB message (header rewrite and body
// copy), against BenchmarkReencrypt64MiB, which decrypts and encrypts it
// anew.
func BenchmarkRewrap64MiB(b *testing.B) {
	benchRewrap(b, func(msg []byte, out *bytes.Buffer, oldKey, newKey envelope.Keyring) error {
		_, err := envelope.Rewrap(ctx, out, bytes.NewReader(msg), envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: oldKey}, Keyring: newKey})
		return err
	})
}

func BenchmarkReencrypt64MiB(b *testing.B) {
	benchRewrap(b, func(msg []byte, out *bytes.Buffer, oldKey, newKey envelope.Keyring) error {
		r, err := envelope.Decrypt(ctx, bytes.NewReader(msg), envelope.DecryptOptions{Keyring: oldKey})
		if err != nil {
			return err
		}
		w, err := envelope.Encrypt(ctx, out, envelope.EncryptOptions{Keyring: newKey})
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, r); err != nil {
			return err
		}
		return w.Close()
	})
}
