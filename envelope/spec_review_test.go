package envelope_test

// Tests from a review of envelope against the AWS Encryption SDK
// specification: messages built byte by byte from the specification, and
// the edge cases the review found, each fixed and kept here as a guard.

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
)

// handMessage describes a message of suite 0x0478 (committing, unsigned,
// version 2), or of 0x0178 (version 1), to be built byte by byte from the specification, without the
// encoder, so that a test can write what Encrypt never would.
type handMessage struct {
	context   map[string]string // stored in the header
	nonFramed bool
	frameLen  int
	plaintext []byte
	// declaredLen, when set, replaces the content length field of a
	// non-framed body, which then carries no content or tag.
	declaredLen uint64
	// v1 makes a version 1 message of suite 0x0178 (HKDF-SHA256, no key
	// commitment) instead.
	v1 bool
	// iv, when set, gives each frame's IV instead of the sequence number.
	iv func(seq uint32) []byte
}

func appendField16(b, f []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
	return append(b, f...)
}

// serializeContextByHand is structures.md#serialization.
func serializeContextByHand(c map[string]string) []byte {
	if len(c) == 0 {
		return nil
	}
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := binary.BigEndian.AppendUint16(nil, uint16(len(keys)))
	for _, k := range keys {
		b = appendField16(b, []byte(k))
		b = appendField16(b, []byte(c[k]))
	}
	return b
}

func bodyAAD(messageID []byte, content string, seq uint32, n uint64) []byte {
	b := append(slices.Clone(messageID), content...)
	b = binary.BigEndian.AppendUint32(b, seq)
	return binary.BigEndian.AppendUint64(b, n)
}

func seqIV(seq uint32) []byte {
	return binary.BigEndian.AppendUint32(make([]byte, 8), seq)
}

// build writes the message, wrapping its data key with kr.
func (hm handMessage) build(t *testing.T, kr envelope.Keyring) []byte {
	t.Helper()
	suite, version, idLen := envelope.SuiteID(0x0478), byte(2), 32
	if hm.v1 {
		suite, version, idLen = 0x0178, 1, 16
	}
	frameIV := hm.iv
	if frameIV == nil {
		frameIV = seqIV
	}
	messageID := randomBytes(idLen)
	em := &envelope.EncryptionMaterials{Suite: suite, Context: hm.context, DataKey: randomBytes(32)}
	if err := kr.OnEncrypt(ctx, em); err != nil {
		t.Fatal(err)
	}
	var key, commitKey []byte
	var err error
	if hm.v1 {
		key, err = hkdf.Key(sha256.New, em.DataKey, nil, "\x01\x78"+string(messageID), 32)
	} else {
		key, err = hkdf.Key(sha512.New, em.DataKey, messageID, "\x04\x78DERIVEKEY", 32)
		if err == nil {
			commitKey, err = hkdf.Key(sha512.New, em.DataKey, messageID, "COMMITKEY", 32)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)

	b := []byte{version}
	if hm.v1 {
		b = append(b, 0x80) // message type: customer authenticated encrypted data
	}
	b = binary.BigEndian.AppendUint16(b, uint16(suite))
	b = append(b, messageID...)
	b = appendField16(b, serializeContextByHand(hm.context))
	b = binary.BigEndian.AppendUint16(b, uint16(len(em.EncryptedDataKeys)))
	for _, k := range em.EncryptedDataKeys {
		b = appendField16(b, []byte(k.ProviderID))
		b = appendField16(b, k.ProviderInfo)
		b = appendField16(b, k.Ciphertext)
	}
	contentType, frameLen := byte(2), uint32(hm.frameLen)
	if hm.nonFramed {
		contentType, frameLen = 1, 0
	}
	b = append(b, contentType)
	if hm.v1 {
		b = binary.BigEndian.AppendUint32(b, 0) // reserved
		b = append(b, 12)                       // IV length
	}
	b = binary.BigEndian.AppendUint32(b, frameLen)
	if hm.v1 {
		// Version 1 stores the header tag's IV; any unique value will do.
		iv := randomBytes(12)
		b = aead.Seal(append(b, iv...), iv, nil, b)
	} else {
		b = append(b, commitKey...)
		b = aead.Seal(b, make([]byte, 12), nil, b) // header tag over the body
	}

	if hm.nonFramed {
		iv := seqIV(1)
		b = append(b, iv...)
		if hm.declaredLen != 0 {
			return binary.BigEndian.AppendUint64(b, hm.declaredLen)
		}
		b = binary.BigEndian.AppendUint64(b, uint64(len(hm.plaintext)))
		aad := bodyAAD(messageID, "AWSKMSEncryptionClient Single Block", 1, uint64(len(hm.plaintext)))
		return aead.Seal(b, iv, hm.plaintext, aad)
	}
	pt := hm.plaintext
	seq := uint32(1)
	for ; len(pt) > hm.frameLen; seq++ {
		b = binary.BigEndian.AppendUint32(b, seq)
		b = append(b, frameIV(seq)...)
		aad := bodyAAD(messageID, "AWSKMSEncryptionClient Frame", seq, uint64(hm.frameLen))
		b = aead.Seal(b, frameIV(seq), pt[:hm.frameLen], aad)
		pt = pt[hm.frameLen:]
	}
	b = append(b, 0xFF, 0xFF, 0xFF, 0xFF)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = append(b, frameIV(seq)...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(pt)))
	aad := bodyAAD(messageID, "AWSKMSEncryptionClient Final Frame", seq, uint64(len(pt)))
	return aead.Seal(b, frameIV(seq), pt, aad)
}

func reviewKeyring(t *testing.T) envelope.Keyring {
	t.Helper()
	kr, err := rawaes.New("mlseal-review", "k", randomBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestHandBuiltMessagesDecrypt shows that the hand-built messages the
// review tests use are well formed: mlseal opens them.
func TestHandBuiltMessagesDecrypt(t *testing.T) {
	kr := reviewKeyring(t)
	for _, hm := range []handMessage{
		{context: map[string]string{"a": "b"}, frameLen: 16, plaintext: randomBytes(50)},
		{frameLen: 16, plaintext: randomBytes(32)},
		{frameLen: 16},
		{context: map[string]string{"a": "b"}, nonFramed: true, plaintext: randomBytes(50)},
	} {
		got, err := envelope.DecryptBytes(ctx, hm.build(t, kr), envelope.DecryptOptions{Keyring: kr})
		if err != nil {
			t.Fatalf("hand-built message (non-framed %v, %d bytes): %v", hm.nonFramed, len(hm.plaintext), err)
		}
		if !bytes.Equal(got, hm.plaintext) {
			t.Fatal("hand-built message: plaintext differs")
		}
	}
}

// TestDuplicateRequiredContextKey: a key listed twice in
// RequiredContextKeys is required once, and the message opens with it. (It
// once authenticated the header with an empty value for the key while the
// keyring bound the data key to the real one.)
func TestDuplicateRequiredContextKey(t *testing.T) {
	kr := testKeyring(t, "k")
	ec := map[string]string{"tenant": "acme", "purpose": "training"}
	ct, err := envelope.EncryptBytes(ctx, []byte("rows"), envelope.EncryptOptions{
		Keyring: kr, Context: ec, RequiredContextKeys: []string{"tenant", "tenant"},
	})
	if err != nil {
		return // refusing the duplicate is a fix
	}
	got, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr, Context: map[string]string{"tenant": "acme"}})
	if err != nil || string(got) != "rows" {
		t.Fatalf("Encrypt accepted RequiredContextKeys [tenant tenant] and wrote a message that does not decrypt with the right context: %v", err)
	}
}

// TestUnsignedSuiteWithPublicKeyContext: default-cmm.md, Decrypt
// Materials: "If the algorithm suite does not contain a signing algorithm,
// but the encryption context includes the reserved aws-crypto-public-key
// key, the operation MUST fail without returning any decryption
// materials."
func TestUnsignedSuiteWithPublicKeyContext(t *testing.T) {
	kr := reviewKeyring(t)
	ct := handMessage{
		context:   map[string]string{"aws-crypto-public-key": "A5pf3xAAzq0HbSyDnCANbBzP8FDYtCoYyjRg6S/RXSNh3OG0W5hVPEIjslaF0ZXhRA=="},
		frameLen:  16,
		plaintext: []byte("looks signed, is not"),
	}.build(t, kr)
	got, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr})
	if err == nil {
		t.Fatalf("an unsigned message (suite 0x0478) with aws-crypto-public-key in its context decrypted to %q; the specification requires failure", got)
	}
}

// TestNegativeMaxNonFramedSize: a negative DecryptOptions.MaxNonFramedSize
// means the default, and the length a hostile non-framed body declares never
// reaches an allocation: message-body.md caps it at 2^36 - 32.
func TestNegativeMaxNonFramedSize(t *testing.T) {
	kr := reviewKeyring(t)
	for _, declared := range []uint64{1 << 62, 1<<64 - 1} {
		ct := handMessage{nonFramed: true, declaredLen: declared}.build(t, kr)
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("non-framed body declaring %d bytes, MaxNonFramedSize -1: Decrypt panicked: %v", declared, p)
				}
			}()
			_, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr, MaxNonFramedSize: -1})
			if err == nil {
				t.Errorf("non-framed body declaring %d bytes decrypted", declared)
			}
		}()
	}
}

// TestAbandonedReaderStopsWorkers: a Reader dropped before the end of its
// message, as a server drops one when its client goes away, does not keep
// its worker goroutines (and their frame buffers) alive.
func TestAbandonedReaderStopsWorkers(t *testing.T) {
	kr := testKeyring(t, "k")
	ct, err := envelope.EncryptBytes(ctx, randomBytes(64<<10), envelope.EncryptOptions{Keyring: kr, FrameLength: 4096})
	if err != nil {
		t.Fatal(err)
	}
	settle := func() int {
		for range 5 {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		return runtime.NumGoroutine()
	}
	before := settle()
	const readers, workers = 10, 4
	for range readers {
		r, err := envelope.Decrypt(ctx, bytes.NewReader(ct), envelope.DecryptOptions{Keyring: kr, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r, make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		// The consumer gives up here and drops r.
	}
	if leaked := settle() - before; leaked >= readers {
		t.Fatalf("%d goroutines still running after %d abandoned Readers with %d workers each", leaked, readers, workers)
	}
}

// failAfterFinal fails every write that follows the final frame: the footer
// of a signed message.
type failAfterFinal struct {
	buf       bytes.Buffer
	sawFinal  bool
	footerErr error
}

func (w *failAfterFinal) Write(p []byte) (int, error) {
	if w.sawFinal {
		return 0, w.footerErr
	}
	if bytes.HasPrefix(p, []byte{0xFF, 0xFF, 0xFF, 0xFF}) {
		w.sawFinal = true
	}
	return w.buf.Write(p)
}

// TestSignedCloseErrorIsSticky: when writing the signature fails, Close
// returns that error again on every later call, and so does Write.
func TestSignedCloseErrorIsSticky(t *testing.T) {
	dst := &failAfterFinal{footerErr: errors.New("disk full")}
	w, err := envelope.Encrypt(ctx, dst, envelope.EncryptOptions{Keyring: testKeyring(t, "k"), Suite: envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("some rows")); err != nil {
		t.Fatal(err)
	}
	first := w.Close()
	if !errors.Is(first, dst.footerErr) {
		t.Fatalf("first Close: %v, want the footer write error", first)
	}
	if second := w.Close(); second == nil {
		t.Fatal("second Close returned nil after the signature could not be written")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after a failed Close succeeded")
	}
}

// outageKeyring stands for a keyring whose key service cannot be reached.
type outageKeyring struct{ envelope.Keyring }

func (outageKeyring) OnDecrypt(ctx context.Context, _ *envelope.DecryptionMaterials, _ []envelope.EncryptedDataKey) error {
	<-ctx.Done()
	return fmt.Errorf("kms: Decrypt: %w", ctx.Err())
}

// TestKeyringOutageIsNotIntegrityError: a keyring that cannot reach its
// key service (a deadline, an outage) fails Decrypt without the error
// claiming the message is not authentic.
func TestKeyringOutageIsNotIntegrityError(t *testing.T) {
	kr := testKeyring(t, "k")
	ct, err := envelope.EncryptBytes(ctx, []byte("x"), envelope.EncryptOptions{Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	_, err = envelope.Decrypt(c, bytes.NewReader(ct), envelope.DecryptOptions{Keyring: outageKeyring{kr}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Decrypt: %v, want the keyring's deadline error", err)
	}
	if envelope.IsIntegrityError(err) {
		t.Fatalf("a keyring timeout is classified as an integrity failure: %v", err)
	}
}

// TestEncryptBytesNegativeFrameLength: a negative frame length is an error,
// not a panic in sizing the output buffer.
func TestEncryptBytesNegativeFrameLength(t *testing.T) {
	kr := testKeyring(t, "k")
	for _, frameLen := range []int{-1, -4096} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("EncryptBytes with FrameLength %d panicked: %v", frameLen, p)
				}
			}()
			if _, err := envelope.EncryptBytes(ctx, make([]byte, 1000), envelope.EncryptOptions{Keyring: kr, FrameLength: frameLen}); err == nil {
				t.Errorf("EncryptBytes with FrameLength %d succeeded", frameLen)
			}
		}()
	}
}

// TestV1FramesKeepTheirIV pins what FORMAT.md states: version 1 frames are
// read with whatever IV they carry (SDKs wrote random IVs before data key
// caching), under the legacy commitment policy, while a version 2 frame
// whose IV is not its sequence number is refused.
func TestV1FramesKeepTheirIV(t *testing.T) {
	kr := reviewKeyring(t)
	pt := randomBytes(100)
	randomIVs := map[uint32][]byte{}
	iv := func(seq uint32) []byte {
		if randomIVs[seq] == nil {
			randomIVs[seq] = randomBytes(12)
		}
		return randomIVs[seq]
	}
	legacy := envelope.DecryptOptions{Keyring: kr, CommitmentPolicy: envelope.RequireEncryptAllowDecrypt}
	for _, ivs := range []func(uint32) []byte{nil, iv} {
		v1 := handMessage{v1: true, frameLen: 32, plaintext: pt, iv: ivs}.build(t, kr)
		got, err := envelope.DecryptBytes(ctx, v1, legacy)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("version 1 message, random IVs %v: %v", ivs != nil, err)
		}
	}
	v2 := handMessage{frameLen: 32, plaintext: pt, iv: iv}.build(t, kr)
	if _, err := envelope.DecryptBytes(ctx, v2, legacy); !errors.Is(err, envelope.ErrAuthentication) {
		t.Fatalf("version 2 message with random frame IVs: %v", err)
	}
}
