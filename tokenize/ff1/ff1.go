// Package ff1 implements the FF1 format-preserving encryption mode of NIST
// SP 800-38G Rev. 1 on AES (crypto/aes).
//
// FF1 encrypts a string of numerals in radix r (for example ten decimal
// digits) into another string of numerals of the same length and radix, under
// an AES key and a public tweak. The numerals are given as []uint16 values in
// [0, r): mapping characters to numerals (an alphabet) is the caller's
// business, as it is in the standard. Package tokenize maps alphabets such as
// "0123456789" or "abcdefghijklmnopqrstuvwxyz" onto this package.
//
// A Cipher is safe for concurrent use by multiple goroutines: it holds the
// expanded AES key and nothing that changes. Inputs up to 2^64 values per
// half (for radix 10, up to 38 digits) take a fast path on 64-bit integers
// that allocates nothing; longer inputs use math/big.
//
// NIST requires radix^minlen >= 1,000,000 (Rev. 1, section 5.2): a smaller
// domain can be enumerated, and FF1 is not secure there. Encrypt and Decrypt
// refuse such inputs with ErrDomainTooSmall.
//
// FF1 is deterministic and unauthenticated: the same plaintext, key and tweak
// always give the same ciphertext, and any string of numerals of a valid
// length decrypts to something. Use it where a value must keep its format;
// use an authenticated, deterministic AEAD (AES-SIV) elsewhere.
package ff1

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"sync"
)

// Limits of this implementation.
const (
	// MinDomain is the smallest number of possible inputs (radix^length)
	// that Encrypt and Decrypt accept, as SP 800-38G Rev. 1 requires.
	MinDomain = 1_000_000
	// MaxRadix is the largest radix: numerals are uint16 values.
	MaxRadix = 1 << 16
	// MaxLen bounds the numerals of one input. The standard allows up to
	// 2^32-1; inputs that long would only be a way to spend CPU time.
	MaxLen = 1 << 16
	// MaxTweakLen bounds the tweak in bytes.
	MaxTweakLen = 1 << 16
)

// Errors returned by Encrypt and Decrypt; they are wrapped with details.
var (
	// ErrDomainTooSmall means radix^len(src) is below MinDomain.
	ErrDomainTooSmall = errors.New("ff1: input domain too small")
	// ErrLength means the input, the tweak or dst has an invalid length.
	ErrLength = errors.New("ff1: invalid length")
	// ErrNumeral means a numeral is not below the radix.
	ErrNumeral = errors.New("ff1: numeral out of range")
)

// A Cipher encrypts and decrypts strings of numerals in one radix with one
// AES key. It is safe for concurrent use.
type Cipher struct {
	block  cipher.Block
	radix  uint64
	minLen int
	// pow[k] = radix^k for every k with radix^k < 2^64.
	pow []uint64
}

// NewCipher returns an FF1 cipher for the given AES key (16, 24 or 32 bytes)
// and radix (2 to 65536). The key is expanded once; NewCipher keeps no
// reference to the key slice.
func NewCipher(key []byte, radix int) (*Cipher, error) {
	if radix < 2 || radix > MaxRadix {
		return nil, fmt.Errorf("ff1: radix %d is outside 2..%d", radix, MaxRadix)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("ff1: %w", err)
	}
	c := &Cipher{block: block, radix: uint64(radix), pow: []uint64{1}}
	for {
		hi, lo := bits.Mul64(c.pow[len(c.pow)-1], c.radix)
		if hi != 0 {
			break
		}
		c.pow = append(c.pow, lo)
	}
	for c.minLen = 1; ; c.minLen++ {
		if c.minLen < len(c.pow) && c.pow[c.minLen] < MinDomain {
			continue
		}
		break
	}
	return c, nil
}

// Radix returns the cipher's radix.
func (c *Cipher) Radix() int { return int(c.radix) }

// MinLen returns the fewest numerals an input may have: the smallest n with
// radix^n >= MinDomain (6 for radix 10, 5 for radix 26, 4 for radix 62).
func (c *Cipher) MinLen() int { return c.minLen }

// Encrypt encrypts the numerals src under tweak into dst[:len(src)]. dst
// must be at least as long as src; it may be src itself (in place) but must
// not otherwise overlap it. Each numeral must be below the radix.
func (c *Cipher) Encrypt(dst, src []uint16, tweak []byte) error {
	return c.crypt(dst, src, tweak, false)
}

// Decrypt reverses Encrypt with the same key, radix and tweak, under the
// same rules for dst and src.
func (c *Cipher) Decrypt(dst, src []uint16, tweak []byte) error {
	return c.crypt(dst, src, tweak, true)
}

// scratch is the per-call state of the fast path, pooled so that a call
// allocates nothing (slices of it escape through the cipher.Block interface).
type scratch struct {
	state [16]byte // CBC-MAC state after P and the whole blocks of T
	tail  [32]byte // the last one or two blocks of Q
	r     [16]byte
	blk   [16]byte // P, then each whole block of T
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func (c *Cipher) check(dst, src []uint16, tweak []byte) error {
	n := len(src)
	switch {
	case n > MaxLen:
		return fmt.Errorf("%w: %d numerals, more than %d", ErrLength, n, MaxLen)
	case n < 2 || n < c.minLen:
		return fmt.Errorf("%w: %d numerals in radix %d give fewer than %d values; at least %d are needed",
			ErrDomainTooSmall, n, c.radix, MinDomain, max(2, c.minLen))
	case len(dst) < n:
		return fmt.Errorf("%w: dst has %d numerals, src %d", ErrLength, len(dst), n)
	case len(tweak) > MaxTweakLen:
		return fmt.Errorf("%w: tweak of %d bytes, more than %d", ErrLength, len(tweak), MaxTweakLen)
	}
	for i, x := range src {
		if uint64(x) >= c.radix {
			return fmt.Errorf("%w: numeral %d at position %d is not below the radix %d", ErrNumeral, x, i, c.radix)
		}
	}
	return nil
}

func (c *Cipher) crypt(dst, src []uint16, tweak []byte, decrypt bool) error {
	if err := c.check(dst, src, tweak); err != nil {
		return err
	}
	n := len(src)
	u := n / 2
	v := n - u
	// b = ceil(ceil(v*log2(radix))/8): the bytes of NUM_radix of a v-numeral
	// string; ceil(v*log2(radix)) is the bit length of radix^v - 1.
	var b int
	fast := v < len(c.pow)
	if fast {
		b = (bits.Len64(c.pow[v]-1) + 7) / 8
	} else {
		p := new(big.Int).Exp(big.NewInt(int64(c.radix)), big.NewInt(int64(v)), nil)
		b = (p.Sub(p, big.NewInt(1)).BitLen() + 7) / 8
	}
	d := 4*((b+3)/4) + 4

	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	rem := c.prefix(s, n, u, b, tweak)
	if fast {
		c.cryptFast(s, dst[:n], src, u, v, b, d, rem, decrypt)
		return nil
	}
	c.cryptBig(s, dst[:n], src, u, v, b, d, rem, decrypt)
	return nil
}

// prefix runs the CBC-MAC over P and over the whole blocks of
// Q = T || [0]^pad || [i] || [NUM(B)]^b that do not depend on the round,
// leaving the state in s.state and the remaining fixed bytes of Q at the
// start of s.tail. It returns how many fixed bytes remain.
func (c *Cipher) prefix(s *scratch, n, u, b int, tweak []byte) int {
	t := len(tweak)
	p := &s.blk
	p[0], p[1], p[2] = 1, 2, 1
	p[3], p[4], p[5] = byte(c.radix>>16), byte(c.radix>>8), byte(c.radix)
	p[6] = 10
	p[7] = byte(u)
	binary.BigEndian.PutUint32(p[8:], uint32(n))
	binary.BigEndian.PutUint32(p[12:], uint32(t))
	c.block.Encrypt(s.state[:], p[:])

	pad := ((-t-b-1)%16 + 16) % 16
	fixed := t + pad // bytes of T || [0]^pad
	full := fixed / 16 * 16
	blk := &s.blk
	for off := 0; off < full; off += 16 {
		clear(blk[:])
		if off < t {
			copy(blk[:], tweak[off:min(t, off+16)])
		}
		subtle16(blk, &s.state)
		c.block.Encrypt(s.state[:], blk[:])
	}
	rem := fixed - full
	clear(s.tail[:])
	if full < t {
		copy(s.tail[:rem], tweak[full:])
	}
	return rem
}

// subtle16 sets a ^= b.
func subtle16(a, b *[16]byte) {
	x := binary.NativeEndian.Uint64(a[:8]) ^ binary.NativeEndian.Uint64(b[:8])
	y := binary.NativeEndian.Uint64(a[8:]) ^ binary.NativeEndian.Uint64(b[8:])
	binary.NativeEndian.PutUint64(a[:8], x)
	binary.NativeEndian.PutUint64(a[8:], y)
}

// roundPRF computes R = PRF(P || Q) for the tail already filled in
// s.tail[:tailLen], leaving R in s.r.
func (c *Cipher) roundPRF(s *scratch, tailLen int) {
	s.r = s.state
	for off := 0; off < tailLen; off += 16 {
		blk := (*[16]byte)(s.tail[off : off+16])
		subtle16(&s.r, blk)
		c.block.Encrypt(s.r[:], s.r[:])
	}
}

func (c *Cipher) cryptFast(s *scratch, dst, src []uint16, u, v, b, d, rem int, decrypt bool) {
	radix := c.radix
	var a, bb uint64
	for _, x := range src[:u] {
		a = a*radix + uint64(x)
	}
	for _, x := range src[u:] {
		bb = bb*radix + uint64(x)
	}
	tailLen := rem + 1 + b // a multiple of 16: 16 or 32
	round := func(i int, x uint64) uint64 {
		s.tail[rem] = byte(i)
		for k := tailLen - 1; k > rem; k-- {
			s.tail[k] = byte(x)
			x >>= 8
		}
		c.roundPRF(s, tailLen)
		// y = NUM(S[:d]) with d = 8 or 12 <= 16, so S is R's first d bytes.
		var hi uint64
		if d == 12 {
			hi = uint64(binary.BigEndian.Uint32(s.r[:4]))
		}
		lo := binary.BigEndian.Uint64(s.r[d-8 : d])
		m := u
		if i%2 == 1 {
			m = v
		}
		return bits.Rem64(hi, lo, c.pow[m])
	}
	if !decrypt {
		for i := range 10 {
			y := round(i, bb)
			m := c.pow[u]
			if i%2 == 1 {
				m = c.pow[v]
			}
			sum, carry := bits.Add64(a, y, 0)
			if carry != 0 || sum >= m {
				sum -= m // wraps back into [0, m) when the add carried
			}
			a, bb = bb, sum
		}
	} else {
		for i := 9; i >= 0; i-- {
			y := round(i, a)
			m := c.pow[u]
			if i%2 == 1 {
				m = c.pow[v]
			}
			diff := bb - y
			if bb < y {
				diff += m // wraps back into [0, m)
			}
			bb, a = a, diff
		}
	}
	for k := u - 1; k >= 0; k-- {
		dst[k] = uint16(a % radix)
		a /= radix
	}
	for k := len(dst) - 1; k >= u; k-- {
		dst[k] = uint16(bb % radix)
		bb /= radix
	}
}

func (c *Cipher) cryptBig(s *scratch, dst, src []uint16, u, v, b, d, rem int, decrypt bool) {
	radix := big.NewInt(int64(c.radix))
	a := c.num(src[:u])
	bb := c.num(src[u:])
	mu := new(big.Int).Exp(radix, big.NewInt(int64(u)), nil)
	mv := new(big.Int).Exp(radix, big.NewInt(int64(v)), nil)
	tail := make([]byte, rem+1+b)
	copy(tail, s.tail[:rem])
	sBuf := make([]byte, (d+15)/16*16)
	y := new(big.Int)
	round := func(i int, x *big.Int) *big.Int {
		tail[rem] = byte(i)
		x.FillBytes(tail[rem+1:])
		r := s.state
		for off := 0; off < len(tail); off += 16 {
			subtle16(&r, (*[16]byte)(tail[off:off+16]))
			c.block.Encrypt(r[:], r[:])
		}
		copy(sBuf, r[:])
		for j := 1; j*16 < d; j++ {
			blk := r
			var ctr [16]byte
			binary.BigEndian.PutUint64(ctr[8:], uint64(j))
			subtle16(&blk, &ctr)
			c.block.Encrypt(sBuf[j*16:], blk[:])
		}
		y.SetBytes(sBuf[:d])
		if i%2 == 0 {
			return y.Mod(y, mu)
		}
		return y.Mod(y, mv)
	}
	if !decrypt {
		for i := range 10 {
			y := round(i, bb)
			m := mu
			if i%2 == 1 {
				m = mv
			}
			cc := new(big.Int).Add(a, y)
			cc.Mod(cc, m)
			a, bb = bb, cc
		}
	} else {
		for i := 9; i >= 0; i-- {
			y := round(i, a)
			m := mu
			if i%2 == 1 {
				m = mv
			}
			cc := new(big.Int).Sub(bb, y)
			cc.Mod(cc, m) // Euclidean: never negative
			bb, a = a, cc
		}
	}
	c.str(dst[:u], a)
	c.str(dst[u:], bb)
}

// num returns NUM_radix(x), working in chunks of numerals that fit a uint64.
func (c *Cipher) num(x []uint16) *big.Int {
	k := len(c.pow) - 1 // numerals per chunk
	z := new(big.Int)
	chunk := new(big.Int)
	for len(x) > 0 {
		step := min(k, len(x))
		var w uint64
		for _, d := range x[:step] {
			w = w*c.radix + uint64(d)
		}
		z.Mul(z, chunk.SetUint64(c.pow[step]))
		z.Add(z, chunk.SetUint64(w))
		x = x[step:]
	}
	return z
}

// str writes STR_radix^len(dst)(x) into dst; x < radix^len(dst). x is
// consumed.
func (c *Cipher) str(dst []uint16, x *big.Int) {
	k := len(c.pow) - 1
	div := new(big.Int).SetUint64(c.pow[k])
	r := new(big.Int)
	for end := len(dst); end > 0; {
		step := min(k, end)
		x.QuoRem(x, div, r)
		w := r.Uint64()
		for j := end - 1; j >= end-step; j-- {
			dst[j] = uint16(w % c.radix)
			w /= c.radix
		}
		end -= step
	}
}
