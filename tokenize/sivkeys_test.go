package tokenize

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/daead/aessiv"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// TestSIVKeysMatchTink checks that the keyset's own AES-SIV makes exactly
// the ciphertexts of tink's deterministic AEAD from the same tink keyset,
// with each output-prefix variant as the primary (tink, crunchy, none),
// and opens the ciphertexts of every enabled key, but not of a disabled one.
func TestSIVKeysMatchTink(t *testing.T) {
	m := keyset.NewManager()
	var ids []uint32
	for _, v := range []aessiv.Variant{aessiv.VariantTink, aessiv.VariantCrunchy, aessiv.VariantNoPrefix, aessiv.VariantTink} {
		params, err := aessiv.NewParameters(64, v)
		if err != nil {
			t.Fatal(err)
		}
		id, err := m.AddNewKeyFromParameters(params)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// both returns tink's deterministic AEAD and the keyset's own AES-SIV
	// from the manager's keyset.
	both := func() (tink.DeterministicAEAD, *sivKeys) {
		h, err := m.Handle()
		if err != nil {
			t.Fatal(err)
		}
		ref, err := daead.New(h)
		if err != nil {
			t.Fatal(err)
		}
		own, err := newSIVKeys(h)
		if err != nil {
			t.Fatal(err)
		}
		return ref, own
	}
	// Tokens of every key, as tink makes them.
	var made [][]byte
	ad := []byte("email")
	for _, id := range ids {
		if err := m.SetPrimary(id); err != nil {
			t.Fatal(err)
		}
		ref, own := both()
		d := own.domain(ad)
		for n := range 70 {
			pt := bytes.Repeat([]byte{byte(n)}, n)
			want, err := ref.EncryptDeterministically(pt, ad)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.seal([]byte("x"), pt); !bytes.Equal(got[1:], want) {
				t.Fatalf("key %d, %d bytes: %x, tink %x", id, n, got[1:], want)
			}
		}
		made = append(made, tinkToken(t, ref, fmt.Sprint("key ", id)))
	}
	if err := m.Disable(ids[1]); err != nil {
		t.Fatal(err)
	}
	_, own := both()
	d := own.domain(ad)
	for i, ct := range made {
		pt, err := d.open(ct)
		if i == 1 {
			if err == nil {
				t.Errorf("the disabled key's token opened")
			}
			continue
		}
		if err != nil || string(pt) != "ada@example.com" {
			t.Errorf("token of key %d: %q, %v", ids[i], pt, err)
		}
	}
	if _, err := own.domain([]byte("name")).open(made[0]); err == nil {
		t.Errorf("a token opened under another domain")
	}
}

// tinkToken returns the ciphertext that ref makes of an email.
func tinkToken(t *testing.T, ref tink.DeterministicAEAD, name string) []byte {
	t.Helper()
	ct, err := ref.EncryptDeterministically([]byte("ada@example.com"), []byte("email"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ct
}
