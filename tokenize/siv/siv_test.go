package siv

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/tink-crypto/tink-go/v2/daead/subtle"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC5297 checks the examples of RFC 5297's appendix A, read from
// testdata/rfc5297.json.
func TestRFC5297(t *testing.T) {
	data, err := os.ReadFile("testdata/rfc5297.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Name, Key, Plaintext, Output string
			AD                           []string
		}
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) != 2 {
		t.Fatalf("%d vectors, want 2", len(file.Vectors))
	}
	for _, v := range file.Vectors {
		c, err := New(unhex(t, v.Key))
		if err != nil {
			t.Fatal(err)
		}
		var ad [][]byte
		for _, a := range v.AD {
			ad = append(ad, unhex(t, a))
		}
		pt, want := unhex(t, v.Plaintext), unhex(t, v.Output)
		if got := c.Seal([]byte("prefix"), pt, ad...); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("%s: Seal = %x, want %x", v.Name, got[6:], want)
		}
		if got, err := c.Open(nil, want, ad...); err != nil || !bytes.Equal(got, pt) {
			t.Errorf("%s: Open = %x, %v", v.Name, got, err)
		}
		bad := bytes.Clone(want)
		bad[len(bad)-1] ^= 1
		if _, err := c.Open(nil, bad, ad...); err != ErrOpen {
			t.Errorf("%s: Open of a changed ciphertext: %v", v.Name, err)
		}
	}
}

// TestTink checks that Seal gives what tink's AES-SIV gives, and Open reads
// it, for random 64-byte keys, plaintexts of 0 to 100 bytes and associated
// data of 0 to 40 bytes.
func TestTink(t *testing.T) {
	rng := rand.New(rand.NewPCG(5297, 1))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for i := range 3000 {
		key := random(64)
		ref, err := subtle.NewAESSIV(key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(key)
		if err != nil {
			t.Fatal(err)
		}
		pt, ad := random(i%101), random(rng.IntN(41))
		want, err := ref.EncryptDeterministically(pt, ad)
		if err != nil {
			t.Fatal(err)
		}
		got := c.Prepare(ad).Seal(nil, pt)
		if !bytes.Equal(got, want) {
			t.Fatalf("key %x pt %x ad %x: %x, tink %x", key, pt, ad, got, want)
		}
		back, err := c.Open(nil, want, ad)
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("Open of tink's %x: %x, %v", want, back, err)
		}
		if len(want) > 0 {
			want[rng.IntN(len(want))] ^= 1 << rng.IntN(8)
			if _, err := c.Open(nil, want, ad); err != ErrOpen {
				t.Fatalf("Open of a changed ciphertext: %v", err)
			}
		}
	}
}

func TestKeySizes(t *testing.T) {
	for n := range 80 {
		_, err := New(make([]byte, n))
		if ok := n == 32 || n == 48 || n == 64; (err == nil) != ok {
			t.Errorf("%d-byte key: %v", n, err)
		}
	}
	c, _ := New(make([]byte, 64))
	if _, err := c.Open(nil, make([]byte, 15)); err != ErrOpen {
		t.Errorf("Open of 15 bytes: %v", err)
	}
}

func TestSealAllocations(t *testing.T) {
	c, _ := New(make([]byte, 64))
	p := c.Prepare([]byte("email"))
	dst := make([]byte, 0, 64)
	pt := []byte("customer12345@example.com")
	if n := testing.AllocsPerRun(100, func() { p.Seal(dst, pt) }); n != 0 {
		t.Errorf("Seal allocates %v times into a large enough dst", n)
	}
}

func BenchmarkSeal(b *testing.B) {
	c, _ := New(make([]byte, 64))
	p := c.Prepare([]byte("email"))
	dst := make([]byte, 0, 64)
	pt := []byte("customer12345@example.com")
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		p.Seal(dst, pt)
	}
}

func BenchmarkTink(b *testing.B) {
	c, _ := subtle.NewAESSIV(make([]byte, 64))
	pt, ad := []byte("customer12345@example.com"), []byte("email")
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		c.EncryptDeterministically(pt, ad)
	}
}
