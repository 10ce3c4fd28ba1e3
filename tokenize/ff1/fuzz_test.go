package ff1

import (
	"encoding/binary"
	"os"
	"testing"
)

// FuzzRoundTrip checks, for any radix, tweak and input, that Decrypt undoes
// Encrypt, that the output stays in range, and that the 64-bit fast path and
// the math/big path agree wherever both apply.
func FuzzRoundTrip(f *testing.F) {
	seeds, _ := os.ReadDir("testdata/fuzz/FuzzRoundTrip")
	if len(seeds) == 0 {
		f.Fatal("the seed corpus testdata/fuzz/FuzzRoundTrip is empty")
	}
	c16 := map[int]*Cipher{}
	f.Fuzz(func(t *testing.T, radixSel uint16, tweak []byte, data []byte) {
		radix := 2 + int(radixSel)%(MaxRadix-1)
		c := c16[radix]
		if c == nil {
			var err error
			if c, err = NewCipher([]byte("0123456789abcdef"), radix); err != nil {
				t.Fatal(err)
			}
			c16[radix] = c
		}
		if len(data) > 512 {
			data = data[:512]
		}
		src := make([]uint16, len(data)/2)
		for i := range src {
			src[i] = uint16(int(binary.BigEndian.Uint16(data[2*i:])) % radix)
		}
		ct := make([]uint16, len(src))
		err := c.Encrypt(ct, src, tweak)
		if len(src) < max(2, c.MinLen()) {
			if err == nil {
				t.Fatalf("radix %d: %d numerals accepted", radix, len(src))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ct {
			if int(x) >= radix {
				t.Fatalf("numeral %d out of radix %d", x, radix)
			}
		}
		back := make([]uint16, len(ct))
		if err := c.Decrypt(back, ct, tweak); err != nil {
			t.Fatal(err)
		}
		if !equal(back, src) {
			t.Fatalf("radix %d: round trip %v -> %v -> %v", radix, src, ct, back)
		}
		n := len(src)
		u, v := n/2, n-n/2
		if v < len(c.pow) {
			b := (bitLen(c, v) + 7) / 8
			d := 4*((b+3)/4) + 4
			s := new(scratch)
			rem := c.prefix(s, n, u, b, tweak)
			slow := make([]uint16, n)
			c.cryptBig(s, slow, src, u, v, b, d, rem, false)
			if !equal(slow, ct) {
				t.Fatalf("radix %d: fast path %v, big path %v", radix, ct, slow)
			}
		}
	})
}
