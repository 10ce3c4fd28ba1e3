package envelope_test

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/mlseal/mlseal/envelope"
)

// editingCMM passes through to a materials manager and lets a test change
// the encryption request it passes on and the materials it returns.
type editingCMM struct {
	inner  envelope.MaterialsManager
	encReq func(*envelope.EncryptionMaterialsRequest)
	enc    func(*envelope.EncryptionMaterials)
	dec    func(*envelope.DecryptionMaterials)
}

func (c editingCMM) GetEncryptionMaterials(ctx context.Context, req envelope.EncryptionMaterialsRequest) (*envelope.EncryptionMaterials, error) {
	if c.encReq != nil {
		req.Context = maps.Clone(req.Context)
		req.RequiredContextKeys = slices.Clone(req.RequiredContextKeys)
		c.encReq(&req)
	}
	m, err := c.inner.GetEncryptionMaterials(ctx, req)
	if err == nil && c.enc != nil {
		c.enc(m)
	}
	return m, err
}

func (c editingCMM) DecryptMaterials(ctx context.Context, req envelope.DecryptionMaterialsRequest) (*envelope.DecryptionMaterials, error) {
	m, err := c.inner.DecryptMaterials(ctx, req)
	if err == nil && c.dec != nil {
		c.dec(m)
	}
	return m, err
}

// TestDecryptRefusesMaterialsOfAnotherSuite: the materials' suite must be
// the header's; both suites here take 32-byte data keys, so nothing else
// would notice.
func TestDecryptRefusesMaterialsOfAnotherSuite(t *testing.T) {
	kr := testKeyring(t, "k")
	ct, err := envelope.EncryptBytes(ctx, []byte("data"), envelope.EncryptOptions{Keyring: kr, Suite: envelope.AES256GCMHKDFSHA512CommitKey})
	if err != nil {
		t.Fatal(err)
	}
	cmm := editingCMM{inner: envelope.DefaultMaterials(kr), dec: func(m *envelope.DecryptionMaterials) {
		m.Suite = envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384
	}}
	_, err = envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Materials: cmm})
	if err == nil || !strings.Contains(err.Error(), "materials for suite") {
		t.Fatalf("materials of another suite: %v", err)
	}
}

// TestEncryptTakesRequiredContextFromMaterials: a materials manager may
// require a context key the caller did not (here it adds a pair to the
// context and requires it before its keyring wraps the data key); the
// message must then leave it out of the header and authenticate it, as the
// specification says.
func TestEncryptTakesRequiredContextFromMaterials(t *testing.T) {
	kr := testKeyring(t, "k")
	cmm := editingCMM{inner: envelope.DefaultMaterials(kr), encReq: func(req *envelope.EncryptionMaterialsRequest) {
		req.Context["tenant"] = "blue"
		req.RequiredContextKeys = append(req.RequiredContextKeys, "tenant")
	}}
	pt := []byte("tenant data")
	ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Materials: cmm, Context: map[string]string{"dataset": "train"}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := envelope.ParseHeader(bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	if _, stored := h.Context["tenant"]; stored || h.Context["dataset"] != "train" {
		t.Fatalf("stored context %v: the materials' required key must not be stored", h.Context)
	}
	if _, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr}); !envelope.IsIntegrityError(err) {
		t.Fatalf("decrypt without the required pair: %v", err)
	}
	got, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr, Context: map[string]string{"tenant": "blue"}})
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("decrypt with the required pair: %v", err)
	}

	dropping := editingCMM{inner: envelope.DefaultMaterials(kr), enc: func(m *envelope.EncryptionMaterials) {
		m.RequiredContextKeys = nil
	}}
	_, err = envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Materials: dropping, Context: map[string]string{"a": "b"}, RequiredContextKeys: []string{"a"}})
	if err == nil || !strings.Contains(err.Error(), "dropped the required") {
		t.Fatalf("materials that drop a required key: %v", err)
	}
	lacking := editingCMM{inner: envelope.DefaultMaterials(kr), enc: func(m *envelope.EncryptionMaterials) {
		m.RequiredContextKeys = append(m.RequiredContextKeys, "absent")
	}}
	if _, err = envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Materials: lacking}); err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Fatalf("materials that require a key they lack: %v", err)
	}
}

// recordingKeyring wraps a keyring and keeps the data key slices it sets.
type recordingKeyring struct {
	envelope.Keyring
	keys [][]byte
}

func (k *recordingKeyring) OnEncrypt(ctx context.Context, m *envelope.EncryptionMaterials) error {
	err := k.Keyring.OnEncrypt(ctx, m)
	k.keys = append(k.keys, m.DataKey)
	return err
}

func (k *recordingKeyring) OnDecrypt(ctx context.Context, m *envelope.DecryptionMaterials, edks []envelope.EncryptedDataKey) error {
	err := k.Keyring.OnDecrypt(ctx, m, edks)
	k.keys = append(k.keys, m.DataKey)
	return err
}

// TestDataKeyClearedOnceDerived: materials made for one message (a Keyring
// in the options) have their data key zeroed once the message key is
// derived, on encrypt and on decrypt; a caller's materials manager keeps
// its materials as they are, since it may share them.
func TestDataKeyClearedOnceDerived(t *testing.T) {
	kr := &recordingKeyring{Keyring: testKeyring(t, "k")}
	var ct bytes.Buffer
	w, err := envelope.Encrypt(ctx, &ct, envelope.EncryptOptions{Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("data"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := envelope.Decrypt(ctx, bytes.NewReader(ct.Bytes()), envelope.DecryptOptions{Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	var pt bytes.Buffer
	if _, err := pt.ReadFrom(r); err != nil || pt.String() != "data" {
		t.Fatalf("round trip: %q, %v", pt.String(), err)
	}
	if len(kr.keys) != 2 {
		t.Fatalf("%d data keys recorded, want 2", len(kr.keys))
	}
	for i, k := range kr.keys {
		if len(k) != 32 || !bytes.Equal(k, make([]byte, 32)) {
			t.Errorf("%s: the data key is still in memory after the message key was derived", []string{"encrypt", "decrypt"}[i])
		}
	}

	shared := &reusingCMM{inner: envelope.DefaultMaterials(testKeyring(t, "k2"))}
	for range 2 {
		if _, err := envelope.EncryptBytes(ctx, []byte("x"), envelope.EncryptOptions{Materials: shared}); err != nil {
			t.Fatalf("encrypting again with shared materials: %v", err)
		}
	}
	if bytes.Equal(shared.enc.DataKey, make([]byte, 32)) {
		t.Fatal("a caller's shared materials were cleared")
	}
}
