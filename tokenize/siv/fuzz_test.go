package siv

import (
	"bytes"
	"crypto/sha512"
	"testing"

	"github.com/tink-crypto/tink-go/v2/daead/subtle"
)

// FuzzTink checks Seal and Open against tink's AES-SIV on any plaintext and
// associated data, and that Open refuses any other ciphertext than Seal's
// for them.
func FuzzTink(f *testing.F) {
	f.Add([]byte("ada@example.com"), []byte("email"), []byte{})
	f.Add([]byte{}, []byte{}, []byte{0})
	f.Add(bytes.Repeat([]byte{7}, 33), []byte("domain\x00EMAIL_ADDRESS"), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, pt, ad, other []byte) {
		key := sha512.Sum512(append(append([]byte{}, pt...), ad...))
		ref, err := subtle.NewAESSIV(key[:])
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(key[:])
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.EncryptDeterministically(pt, ad)
		if err != nil {
			t.Fatal(err)
		}
		got := c.Seal(nil, pt, ad)
		if !bytes.Equal(got, want) {
			t.Fatalf("Seal = %x, tink %x", got, want)
		}
		if back, err := c.Open(nil, got, ad); err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("Open = %x, %v", back, err)
		}
		if !bytes.Equal(other, got) {
			if _, err := c.Open(nil, other, ad); err == nil {
				t.Fatalf("Open accepted %x, which Seal did not make", other)
			}
		}
	})
}
