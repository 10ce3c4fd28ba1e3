package envelope_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/mlseal/mlseal/envelope"
)

// reusingCMM hands out the same encryption materials for every message, as
// a cache does, and counts what it is asked for.
type reusingCMM struct {
	inner    envelope.MaterialsManager
	enc      *envelope.EncryptionMaterials
	requests []envelope.EncryptionMaterialsRequest
}

func (c *reusingCMM) GetEncryptionMaterials(ctx context.Context, req envelope.EncryptionMaterialsRequest) (*envelope.EncryptionMaterials, error) {
	c.requests = append(c.requests, req)
	if c.enc == nil {
		m, err := c.inner.GetEncryptionMaterials(ctx, req)
		if err != nil {
			return nil, err
		}
		c.enc = m
	}
	return c.enc, nil
}

func (c *reusingCMM) DecryptMaterials(ctx context.Context, req envelope.DecryptionMaterialsRequest) (*envelope.DecryptionMaterials, error) {
	return c.inner.DecryptMaterials(ctx, req)
}

func TestMaterialsManagerReuse(t *testing.T) {
	kr := testKeyring(t, "k")
	cmm := &reusingCMM{inner: envelope.DefaultMaterials(kr)}
	pt := []byte("same data key, different messages")
	var ids [][]byte
	for _, suite := range []envelope.SuiteID{envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384, envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384} {
		ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Materials: cmm, Suite: suite, SizeHint: int64(len(pt)), Context: map[string]string{"a": "b"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Materials: envelope.DefaultMaterials(kr)})
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("decrypt: %v", err)
		}
		h, _ := envelope.ParseHeader(bytes.NewReader(ct))
		ids = append(ids, h.MessageID)
	}
	if bytes.Equal(ids[0], ids[1]) {
		t.Fatal("two messages share a message id")
	}
	if len(cmm.requests) != 2 || cmm.requests[0].PlaintextLength != int64(len(pt)) || cmm.requests[0].Context["a"] != "b" {
		t.Fatalf("requests %+v", cmm.requests)
	}
	if _, ok := cmm.enc.Context["aws-crypto-public-key"]; !ok || len(cmm.enc.EncryptedDataKeys) != 1 {
		t.Fatal("shared materials were changed or incomplete")
	}
}

func TestSizeHint(t *testing.T) {
	kr := testKeyring(t, "k")
	if _, err := envelope.EncryptBytes(ctx, make([]byte, 10), envelope.EncryptOptions{Keyring: kr, SizeHint: 9}); err == nil || !strings.Contains(err.Error(), "SizeHint") {
		t.Fatalf("10 bytes with a hint of 9: %v", err)
	}
	w, err := envelope.Encrypt(ctx, io.Discard, envelope.EncryptOptions{Keyring: kr, SizeHint: 9})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, bytes.NewReader(make([]byte, 10))); err == nil || !strings.Contains(err.Error(), "SizeHint") {
		t.Fatalf("io.Copy of 10 bytes with a hint of 9: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after an over-long copy succeeded")
	}
	if _, err := envelope.EncryptBytes(ctx, make([]byte, 9), envelope.EncryptOptions{Keyring: kr, SizeHint: 9}); err != nil {
		t.Fatalf("9 bytes with a hint of 9: %v", err)
	}
	if _, err := envelope.EncryptBytes(ctx, nil, envelope.EncryptOptions{Keyring: kr, Materials: envelope.DefaultMaterials(kr)}); err == nil {
		t.Fatal("both Keyring and Materials were accepted")
	}
}

// TestWriterHeader: the Writer reports the header it wrote.
func TestWriterHeader(t *testing.T) {
	var buf bytes.Buffer
	w, err := envelope.Encrypt(ctx, &buf, envelope.EncryptOptions{Keyring: testKeyring(t, "k"), Context: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	got := w.Header()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want, err := envelope.ParseHeader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.MessageID, want.MessageID) || got.Context["a"] != "b" || got.Suite != want.Suite || got.FrameLength != want.FrameLength || len(got.EncryptedDataKeys) != 1 {
		t.Fatalf("Writer.Header() = %+v, the message's header is %+v", got, want)
	}
	got.MessageID[0] ^= 1
	if bytes.Equal(w.Header().MessageID, got.MessageID) {
		t.Fatal("Header returns the Writer's own slices")
	}
}
