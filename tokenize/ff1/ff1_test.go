package ff1

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// toNumerals maps s onto numerals by alphabet.
func toNumerals(t testing.TB, alphabet, s string) []uint16 {
	t.Helper()
	out := make([]uint16, len(s))
	for i := range len(s) {
		k := strings.IndexByte(alphabet, s[i])
		if k < 0 {
			t.Fatalf("%q not in alphabet %q", s[i], alphabet)
		}
		out[i] = uint16(k)
	}
	return out
}

func fromNumerals(alphabet string, x []uint16) string {
	var b strings.Builder
	for _, d := range x {
		b.WriteByte(alphabet[d])
	}
	return b.String()
}

type vector struct {
	name             string
	key, tweak       []byte
	radix            int
	alphabet, pt, ct string
	encrypt          bool
}

func loadVectors(t *testing.T) []vector {
	var vs []vector
	var nist struct {
		Alphabet36 string
		Tests      []struct {
			Sample             int
			Key, Tweak, Pt, Ct string
			Radix              int
		}
	}
	data, err := os.ReadFile("testdata/nist-sp800-38g-samples.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &nist); err != nil {
		t.Fatal(err)
	}
	for _, s := range nist.Tests {
		vs = append(vs, vector{
			name: fmt.Sprintf("NIST sample %d", s.Sample), key: mustHex(t, s.Key), tweak: mustHex(t, s.Tweak),
			radix: s.Radix, alphabet: nist.Alphabet36[:s.Radix], pt: s.Pt, ct: s.Ct, encrypt: true,
		})
	}
	var acvp struct {
		TestGroups []struct {
			TgID      int
			Direction string
			KeyLen    int
			Alphabet  string
			Radix     int
			Tests     []struct {
				TcID               int
				Tweak, Pt, Key, Ct string
			}
		}
	}
	data, err = os.ReadFile("testdata/acvp-ff1-subset.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &acvp); err != nil {
		t.Fatal(err)
	}
	for _, g := range acvp.TestGroups {
		if len(g.Alphabet) != g.Radix {
			t.Fatalf("group %d: alphabet of %d characters for radix %d", g.TgID, len(g.Alphabet), g.Radix)
		}
		for _, tc := range g.Tests {
			key := mustHex(t, tc.Key)
			if len(key)*8 != g.KeyLen {
				t.Fatalf("tcId %d: key of %d bits in a %d-bit group", tc.TcID, len(key)*8, g.KeyLen)
			}
			vs = append(vs, vector{
				name: fmt.Sprintf("ACVP tcId %d (%s)", tc.TcID, g.Direction), key: key, tweak: mustHex(t, tc.Tweak),
				radix: g.Radix, alphabet: g.Alphabet, pt: tc.Pt, ct: tc.Ct, encrypt: g.Direction == "encrypt",
			})
		}
	}
	if len(vs) < 40 {
		t.Fatalf("only %d vectors loaded", len(vs))
	}
	return vs
}

// TestVectors checks the NIST samples and the ACVP subset in the direction
// they were generated for, and the other direction too.
func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			c, err := NewCipher(v.key, v.radix)
			if err != nil {
				t.Fatal(err)
			}
			pt := toNumerals(t, v.alphabet, v.pt)
			ct := toNumerals(t, v.alphabet, v.ct)
			got := make([]uint16, len(pt))
			if err := c.Encrypt(got, pt, v.tweak); err != nil {
				t.Fatal(err)
			}
			if s := fromNumerals(v.alphabet, got); s != v.ct {
				t.Errorf("Encrypt(%s) = %s, want %s", v.pt, s, v.ct)
			}
			if err := c.Decrypt(got, ct, v.tweak); err != nil {
				t.Fatal(err)
			}
			if s := fromNumerals(v.alphabet, got); s != v.pt {
				t.Errorf("Decrypt(%s) = %s, want %s", v.ct, s, v.pt)
			}
		})
	}
}

// TestFastMatchesBig runs the 64-bit fast path and the math/big path on the
// same inputs, for every length the fast path takes, odd and even, in
// several radixes.
func TestFastMatchesBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	key := make([]byte, 32)
	for _, radix := range []int{2, 10, 26, 36, 62, 64, 255, 1000, 65535, 65536} {
		c, err := NewCipher(key, radix)
		if err != nil {
			t.Fatal(err)
		}
		for n := c.MinLen(); (n+1)/2 < len(c.pow); n++ {
			tweak := make([]byte, rng.IntN(40))
			for i := range tweak {
				tweak[i] = byte(rng.Uint32())
			}
			src := make([]uint16, n)
			for i := range src {
				src[i] = uint16(rng.IntN(radix))
			}
			u, v := n/2, n-n/2
			b := (bitLen(c, v) + 7) / 8
			d := 4*((b+3)/4) + 4
			for _, decrypt := range []bool{false, true} {
				fast := make([]uint16, n)
				slow := make([]uint16, n)
				s := new(scratch)
				rem := c.prefix(s, n, u, b, tweak)
				c.cryptFast(s, fast, src, u, v, b, d, rem, decrypt)
				rem = c.prefix(s, n, u, b, tweak)
				c.cryptBig(s, slow, src, u, v, b, d, rem, decrypt)
				if !equal(fast, slow) {
					t.Fatalf("radix %d, n %d, decrypt %v: fast %v, big %v", radix, n, decrypt, fast, slow)
				}
			}
		}
	}
}

func bitLen(c *Cipher, v int) int {
	p := c.pow[v] - 1
	n := 0
	for p > 0 {
		n++
		p >>= 1
	}
	return n
}

func equal(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRoundTrip encrypts and decrypts random inputs of many lengths, on
// both paths, in place and not.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, radix := range []int{2, 10, 26, 62, 65536} {
		key := make([]byte, 16)
		key[0] = byte(radix)
		c, err := NewCipher(key, radix)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{c.MinLen(), c.MinLen() + 1, 19, 20, 37, 38, 39, 40, 64, 100, 257} {
			if n < c.MinLen() {
				continue
			}
			src := make([]uint16, n)
			for i := range src {
				src[i] = uint16(rng.IntN(radix))
			}
			tweak := []byte(fmt.Sprint("tweak", n))
			ct := make([]uint16, n)
			if err := c.Encrypt(ct, src, tweak); err != nil {
				t.Fatal(err)
			}
			if equal(ct, src) && n > 8 {
				t.Errorf("radix %d n %d: ciphertext equals plaintext", radix, n)
			}
			back := append([]uint16(nil), ct...)
			if err := c.Decrypt(back, back, tweak); err != nil { // in place
				t.Fatal(err)
			}
			if !equal(back, src) {
				t.Fatalf("radix %d n %d: round trip gave %v, want %v", radix, n, back, src)
			}
			other := make([]uint16, n)
			if err := c.Encrypt(other, src, append(tweak, 0)); err != nil {
				t.Fatal(err)
			}
			if equal(other, ct) {
				t.Errorf("radix %d n %d: another tweak gave the same ciphertext", radix, n)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	key := make([]byte, 16)
	if _, err := NewCipher(key, 1); err == nil {
		t.Error("radix 1 accepted")
	}
	if _, err := NewCipher(key, MaxRadix+1); err == nil {
		t.Error("radix 65537 accepted")
	}
	if _, err := NewCipher(key[:15], 10); err == nil {
		t.Error("15-byte key accepted")
	}
	c, err := NewCipher(key, 10)
	if err != nil {
		t.Fatal(err)
	}
	if c.MinLen() != 6 || c.Radix() != 10 {
		t.Errorf("MinLen %d Radix %d, want 6 and 10", c.MinLen(), c.Radix())
	}
	dst := make([]uint16, 10)
	if err := c.Encrypt(dst, make([]uint16, 5), nil); !errors.Is(err, ErrDomainTooSmall) {
		t.Errorf("5 digits: %v, want ErrDomainTooSmall", err)
	}
	if err := c.Encrypt(dst, make([]uint16, 6), nil); err != nil {
		t.Errorf("6 digits: %v", err)
	}
	if err := c.Encrypt(dst[:5], make([]uint16, 6), nil); !errors.Is(err, ErrLength) {
		t.Errorf("short dst: %v, want ErrLength", err)
	}
	if err := c.Encrypt(dst, []uint16{1, 2, 3, 4, 5, 10}, nil); !errors.Is(err, ErrNumeral) {
		t.Errorf("numeral 10: %v, want ErrNumeral", err)
	}
	c2, _ := NewCipher(key, MaxRadix)
	if c2.MinLen() != 2 {
		t.Errorf("radix 65536: MinLen %d, want 2", c2.MinLen())
	}
	if err := c2.Encrypt(dst, make([]uint16, 1), nil); !errors.Is(err, ErrDomainTooSmall) {
		t.Errorf("1 numeral: %v, want ErrDomainTooSmall", err)
	}
}

// TestConcurrent uses one Cipher from several goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	c, err := NewCipher(bytes.Repeat([]byte{7}, 32), 10)
	if err != nil {
		t.Fatal(err)
	}
	src := toNumerals(t, "0123456789", "0123456789012345678901234567890123456789")
	var want [2][]uint16
	for i, n := range []int{10, 40} {
		want[i] = make([]uint16, n)
		if err := c.Encrypt(want[i], src[:n], []byte("t")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			got := make([]uint16, 40)
			for range 200 {
				i := g % 2
				n := len(want[i])
				if err := c.Encrypt(got[:n], src[:n], []byte("t")); err != nil {
					t.Error(err)
					return
				}
				if !equal(got[:n], want[i]) {
					t.Errorf("goroutine %d: got %v, want %v", g, got[:n], want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestAllocs(t *testing.T) {
	c, err := NewCipher(make([]byte, 32), 10)
	if err != nil {
		t.Fatal(err)
	}
	src := toNumerals(t, "0123456789", "0123456789")
	dst := make([]uint16, 10)
	tweak := []byte("domain")
	c.Encrypt(dst, src, tweak)
	if n := testing.AllocsPerRun(100, func() { c.Encrypt(dst, src, tweak) }); n != 0 {
		t.Errorf("Encrypt of 10 digits allocates %v times, want 0", n)
	}
}

func BenchmarkEncrypt(b *testing.B) {
	c, err := NewCipher(make([]byte, 32), 10)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range []string{"0123456789", "0123456789012345", "01234567890123456789012345678901234567890123456789"} {
		b.Run(fmt.Sprintf("radix10-%ddigits", len(s)), func(b *testing.B) {
			src := toNumerals(b, "0123456789", s)
			dst := make([]uint16, len(src))
			tweak := []byte("customers.ssn")
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if err := c.Encrypt(dst, src, tweak); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncryptParallel10Digits(b *testing.B) {
	c, err := NewCipher(make([]byte, 32), 10)
	if err != nil {
		b.Fatal(err)
	}
	src := toNumerals(b, "0123456789", "0123456789")
	tweak := []byte("customers.ssn")
	b.ReportAllocs()
	b.SetBytes(10)
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]uint16, 10)
		for pb.Next() {
			c.Encrypt(dst, src, tweak)
		}
	})
}
