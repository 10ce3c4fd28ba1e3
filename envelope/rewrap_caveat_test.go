package envelope_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/mlseal/mlseal/envelope"
)

// This file shows that the caveat in Rewrap's documentation is real: two
// versions of one message (before and after a rewrap, or two rewraps) carry
// two AES-GCM header tags under the same derived key and the all-zero IV,
// over different headers. Their XOR is GHASH_H(A1) + GHASH_H(A2), a
// polynomial in the GHASH key H with known coefficients ("the forbidden
// attack" on GCM). Solving it for H needs polynomial root finding in
// general; here a keyring is chosen whose two wrappings differ in one
// 16-byte block of the header, eight blocks from the end, so that
// T1 + T2 = D * H^8 and H is three square roots away. With H, a frame's
// ciphertext is changed and its tag recomputed without any key, and
// Decrypt accepts the forgery.

// gf is an element of GCM's field GF(2^128): the block's bytes as a
// big-endian 128-bit integer whose most significant bit is x^0.
type gf struct{ hi, lo uint64 }

func gfOf(b []byte) gf {
	var blk [16]byte
	copy(blk[:], b)
	return gf{binary.BigEndian.Uint64(blk[:8]), binary.BigEndian.Uint64(blk[8:])}
}

func (a gf) bytes() []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, a.hi), a.lo)
}

func (a gf) add(b gf) gf { return gf{a.hi ^ b.hi, a.lo ^ b.lo} }

// mul is the multiplication of NIST SP 800-38D, algorithm 1.
func (a gf) mul(b gf) gf {
	var z gf
	v := b
	for i := range 128 {
		var bit uint64
		if i < 64 {
			bit = a.hi >> (63 - i) & 1
		} else {
			bit = a.lo >> (127 - i) & 1
		}
		if bit == 1 {
			z = z.add(v)
		}
		lsb := v.lo & 1
		v.lo = v.lo>>1 | v.hi<<63
		v.hi >>= 1
		if lsb == 1 {
			v.hi ^= 0xe1 << 56
		}
	}
	return z
}

// pow2k returns a^(2^k).
func (a gf) pow2k(k int) gf {
	for range k {
		a = a.mul(a)
	}
	return a
}

// inv returns a^(2^128 - 2) = a^-1.
func (a gf) inv() gf {
	// 2^128 - 2 = 2 + 4 + ... + 2^127.
	r := gf{hi: 1 << 63} // one
	p := a.mul(a)
	for range 127 {
		r = r.mul(p)
		p = p.mul(p)
	}
	return r
}

// sqrt returns the square root, a^(2^127): squaring is a bijection.
func (a gf) sqrt() gf { return a.pow2k(127) }

// ghash is GHASH_H(aad, ct) of SP 800-38D.
func ghash(h gf, aad, ct []byte) gf {
	var x gf
	for _, data := range [][]byte{aad, ct} {
		for i := 0; i < len(data); i += 16 {
			x = x.add(gfOf(data[i:min(i+16, len(data))])).mul(h)
		}
	}
	l := gf{uint64(len(aad)) * 8, uint64(len(ct)) * 8}
	return x.add(l).mul(h)
}

// toyKeyring wraps a data key deterministically (XOR with a pad derived
// from its secret) under a provider info that is 16 fresh random bytes.
// Rewrapping twice with it yields two headers that differ in exactly those
// 16 bytes.
type toyKeyring struct{ secret []byte }

func (k toyKeyring) pad() []byte {
	p := sha256.Sum256(append(bytes.Clone(k.secret), "pad"...))
	return append(p[:], make([]byte, 16)...) // 48 bytes: see the alignment below
}

func (k toyKeyring) OnEncrypt(_ context.Context, m *envelope.EncryptionMaterials) error {
	if m.DataKey == nil {
		m.DataKey = make([]byte, m.Suite.DataKeyLen())
		rand.Read(m.DataKey)
	}
	info := make([]byte, 16)
	rand.Read(info)
	ct := k.pad()
	for i := range m.DataKey {
		ct[i] ^= m.DataKey[i]
	}
	m.EncryptedDataKeys = append(m.EncryptedDataKeys, envelope.EncryptedDataKey{ProviderID: "toy", ProviderInfo: info, Ciphertext: ct})
	return nil
}

func (k toyKeyring) OnDecrypt(_ context.Context, m *envelope.DecryptionMaterials, edks []envelope.EncryptedDataKey) error {
	for _, e := range edks {
		if e.ProviderID == "toy" && len(e.Ciphertext) == 48 {
			dk := k.pad()[:m.Suite.DataKeyLen()]
			for i := range dk {
				dk[i] ^= e.Ciphertext[i]
			}
			m.DataKey = dk
			return nil
		}
	}
	return envelope.ErrNoDataKey
}

func TestRewrapCaveatBothVersionsAllowForgery(t *testing.T) {
	owner := testKeyring(t, "owner")
	toy := toyKeyring{secret: randomBytes(32)}
	pt := bytes.Repeat([]byte("amount=0000100;"), 100) // 1500 bytes
	const frameLen = 1024
	msg := encryptChunked(t, envelope.EncryptOptions{Keyring: owner, FrameLength: frameLen, Context: map[string]string{"dataset": "train"}}, pt, len(pt))
	rewrap := func() ([]byte, *envelope.Rewrapped) {
		return rewrap(t, msg, envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: owner, Context: map[string]string{"dataset": "train"}}, Keyring: toy})
	}
	// The attacker sees two versions of the message; it holds no key.
	v1, h1 := rewrap()
	v2, h2 := rewrap()

	// Header layout: version 1, suite 2, message id 32, context length 2,
	// context 18 ("dataset" = "train"), key count 2, provider id 2 + 3,
	// info length 2: the info starts at byte 64, a block boundary, and is
	// block 5 of the 167-byte body's 11 (16 info, 2 + 48 ciphertext, 1 + 4
	// + 32 follow). GHASH multiplies block i of n by H^(n+2-i): H^8.
	body1, body2 := h1.Header[:len(h1.Header)-16], h2.Header[:len(h2.Header)-16]
	if len(body1) != 167 || len(body2) != 167 || !bytes.Equal(body1[:64], body2[:64]) || !bytes.Equal(body1[80:], body2[80:]) {
		t.Fatalf("the headers are not laid out as planned (%d, %d bytes)", len(body1), len(body2))
	}
	d := gfOf(h1.Header[167:]).add(gfOf(h2.Header[167:]))
	delta := gfOf(body1[64:80]).add(gfOf(body2[64:80]))
	h := d.mul(delta.inv()).sqrt().sqrt().sqrt()
	if ghash(h, body1, nil).add(ghash(h, body2, nil)) != d {
		t.Fatal("H does not explain the two tags")
	}
	// E_K(J0) of the header is now known too; so is every frame's, from
	// its tag: E_K(J0_i) = T_i + GHASH_H(AAD_i, C_i).
	start := len(h1.Header)
	frame := v1[start : start+4+12+frameLen+16]
	seq, ct, tag := frame[:4], frame[16:16+frameLen], frame[16+frameLen:]
	aad := append(append(bytes.Clone(h1.New.MessageID), "AWSKMSEncryptionClient Frame"...), seq...)
	aad = binary.BigEndian.AppendUint64(aad, frameLen)
	ekj0 := gfOf(tag).add(ghash(h, aad, ct))

	// Change "amount=0000100" to "amount=9000100" in the first record.
	forged := bytes.Clone(v2)
	fct := forged[start+16 : start+16+frameLen]
	fct[7] ^= '0' ^ '9'
	copy(forged[start+16+frameLen:], ghash(h, aad, fct).add(ekj0).bytes())

	got, err := envelope.DecryptBytes(ctx, forged, envelope.DecryptOptions{Keyring: toy, Context: map[string]string{"dataset": "train"}})
	if err != nil {
		t.Fatalf("the forgery was refused (%v): the caveat in Rewrap's documentation would not hold", err)
	}
	if !bytes.HasPrefix(got, []byte("amount=9000100;")) || !bytes.Equal(got[15:], pt[15:]) {
		t.Fatalf("forged plaintext %q...", got[:20])
	}
	// Without H, the same change is refused.
	naive := bytes.Clone(v2)
	naive[start+16+7] ^= '0' ^ '9'
	if _, err := envelope.DecryptBytes(ctx, naive, envelope.DecryptOptions{Keyring: toy, Context: map[string]string{"dataset": "train"}}); !errors.Is(err, envelope.ErrAuthentication) {
		t.Fatalf("a changed frame with its old tag: %v, want ErrAuthentication", err)
	}
}
