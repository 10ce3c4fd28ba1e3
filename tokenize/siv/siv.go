// Package siv implements AES-SIV (RFC 5297), the deterministic
// authenticated encryption that tink offers as its AES-SIV deterministic
// AEAD, on crypto/aes.
//
// A Cipher is keyed once: both AES key schedules and the CMAC subkeys are
// computed by New, where tink's implementation expands the CTR key again on
// every call. Associated data that is the same for many messages (a
// tokenization domain) can be prepared once with Prepare, which saves one
// CMAC per component per message. The output is RFC 5297's: the 16-byte
// synthetic IV, then the ciphertext, as long as the plaintext.
package siv

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Overhead is how much longer a ciphertext is than its plaintext.
const Overhead = aes.BlockSize

// MaxAD is the most associated-data components a message may have
// (RFC 5297 allows 127 components, the plaintext included).
const MaxAD = 126

// ErrOpen means a ciphertext is not authentic under the key and
// associated data.
var ErrOpen = errors.New("siv: message authentication failed")

// A Cipher is AES-SIV under one key. It is safe for concurrent use.
type Cipher struct {
	mac    cipher.Block // K1: S2V's AES-CMAC
	ctr    cipher.Block // K2: AES-CTR
	k1, k2 [16]byte     // CMAC subkeys
	d0     [16]byte     // AES-CMAC(K1, 0^128), where S2V starts
}

// New returns AES-SIV under key, which is 32, 48 or 64 bytes: the CMAC key
// then the CTR key, each half of it (AES-128, AES-192 or AES-256). Tink's
// AES-SIV keys are 64 bytes.
func New(key []byte) (*Cipher, error) {
	switch len(key) {
	case 32, 48, 64:
	default:
		return nil, fmt.Errorf("siv: key of %d bytes; want 32, 48 or 64", len(key))
	}
	half := len(key) / 2
	mac, err := aes.NewCipher(key[:half])
	if err != nil {
		return nil, err
	}
	ctr, err := aes.NewCipher(key[half:])
	if err != nil {
		return nil, err
	}
	c := &Cipher{mac: mac, ctr: ctr}
	var l [16]byte
	mac.Encrypt(l[:], l[:])
	c.k1 = l
	dbl(&c.k1)
	c.k2 = c.k1
	dbl(&c.k2)
	c.d0 = c.cmac(make([]byte, 16), nil)
	return c, nil
}

// dbl multiplies b by x in GF(2^128) (RFC 5297's "dbl").
func dbl(b *[16]byte) {
	carry := b[0] >> 7
	for i := range 15 {
		b[i] = b[i]<<1 | b[i+1]>>7
	}
	b[15] = b[15]<<1 ^ 0x87&-carry // without a branch on the secret bit
}

func xor16(dst, a *[16]byte) {
	for i := range dst {
		dst[i] ^= a[i]
	}
}

// cmac returns AES-CMAC(K1, msg), with end XORed into the last 16 bytes of
// msg when it is not nil (RFC 5297's "xorend"; msg then has at least 16).
func (c *Cipher) cmac(msg []byte, end *[16]byte) [16]byte {
	// Slices passed to cipher.Block's methods escape, so the blocks live
	// in pooled memory rather than on the stack.
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	x, blk := &s.x, &s.blk
	*x = [16]byte{}
	n := len(msg)
	from := n - 16 // where end applies
	blocks := max((n-1)/16, 0)
	load := func(off int) {
		m := copy(blk[:], msg[off:min(off+16, n)])
		clear(blk[m:])
		if end != nil {
			for j := max(from-off, 0); j < m; j++ {
				blk[j] ^= end[off+j-from]
			}
		}
	}
	for i := range blocks {
		load(16 * i)
		xor16(x, blk)
		c.mac.Encrypt(x[:], x[:])
	}
	off := 16 * blocks
	load(off)
	if n-off == 16 {
		xor16(blk, &c.k1)
	} else {
		blk[n-off] = 0x80
		xor16(blk, &c.k2)
	}
	xor16(x, blk)
	c.mac.Encrypt(x[:], x[:])
	return *x
}

// scratch is the blocks that cmac and xorCTR hand to the AES block cipher.
type scratch struct{ x, blk, ctr, ks [16]byte }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Prepared is a Cipher with its associated data processed, for sealing and
// opening many messages with the same associated data. It is a value; it
// is safe for concurrent use.
type Prepared struct {
	c *Cipher
	d [16]byte // S2V's state after the associated data
}

// Prepare processes the associated-data components ad, in order. It panics
// with more than MaxAD components.
func (c *Cipher) Prepare(ad ...[]byte) Prepared {
	if len(ad) > MaxAD {
		panic("siv: more than 126 associated-data components")
	}
	p := Prepared{c: c, d: c.d0}
	for _, a := range ad {
		dbl(&p.d)
		m := c.cmac(a, nil)
		xor16(&p.d, &m)
	}
	return p
}

// Seal appends the synthetic IV and the encryption of plaintext, with the
// associated-data components ad, to dst and returns the result. dst and
// plaintext must not overlap.
func (c *Cipher) Seal(dst, plaintext []byte, ad ...[]byte) []byte {
	return c.Prepare(ad...).Seal(dst, plaintext)
}

// Open authenticates and decrypts ciphertext, with the associated-data
// components ad, and appends the plaintext to dst. dst and ciphertext must
// not overlap.
func (c *Cipher) Open(dst, ciphertext []byte, ad ...[]byte) ([]byte, error) {
	return c.Prepare(ad...).Open(dst, ciphertext)
}

// s2v finishes S2V with the plaintext, the last component.
func (p *Prepared) s2v(msg []byte) [16]byte {
	d := p.d
	if len(msg) >= 16 {
		return p.c.cmac(msg, &d)
	}
	dbl(&d)
	var t [16]byte
	copy(t[:], msg)
	t[len(msg)] = 0x80
	xor16(&t, &d)
	return p.c.cmac(t[:], nil)
}

// Seal is Cipher.Seal with the prepared associated data.
func (p Prepared) Seal(dst, plaintext []byte) []byte {
	v := p.s2v(plaintext)
	ret, out := grow(dst, Overhead+len(plaintext))
	copy(out, v[:])
	p.c.xorCTR(out[Overhead:], plaintext, &v)
	return ret
}

// Open is Cipher.Open with the prepared associated data.
func (p Prepared) Open(dst, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < Overhead {
		return nil, ErrOpen
	}
	var v [16]byte
	copy(v[:], ciphertext)
	ret, out := grow(dst, len(ciphertext)-Overhead)
	p.c.xorCTR(out, ciphertext[Overhead:], &v)
	if t := p.s2v(out); subtle.ConstantTimeCompare(t[:], v[:]) != 1 {
		clear(out)
		return nil, ErrOpen
	}
	return ret, nil
}

// xorCTR XORs in with AES-CTR under K2 from the counter block v with the
// 31st and 63rd bits from the right cleared, as RFC 5297 says, into out.
func (c *Cipher) xorCTR(out, in []byte, v *[16]byte) {
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	ctr, ks := &s.ctr, &s.ks
	*ctr = *v
	ctr[8] &= 0x7f
	ctr[12] &= 0x7f
	// Block by block rather than with cipher.NewCTR, whose interface
	// would make every caller's dst escape to the heap: tokens are short.
	for len(in) > 0 {
		c.ctr.Encrypt(ks[:], ctr[:])
		n := subtle.XORBytes(out, in, ks[:])
		out, in = out[n:], in[n:]
		for i := 15; i >= 0; i-- {
			ctr[i]++
			if ctr[i] != 0 {
				break
			}
		}
	}
}

// grow extends in by n bytes and returns the whole and the new part.
func grow(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	return head, head[len(in):]
}

// Format prints the cipher without its key material, for every verb.
func (c *Cipher) Format(f fmt.State, verb rune) { io.WriteString(f, "siv.Cipher{[redacted]}") }
