package tokenize

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/daead/aessiv"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/mlseal/mlseal/tokenize/siv"
)

// sivKeys are the enabled AES-SIV keys of a tink keyset, each keyed once,
// with the output prefix tink puts before its ciphertexts (five bytes that
// name the key, or none for a raw key). They make and read exactly tink's
// deterministic AEAD ciphertexts, without tink's per-call re-keying.
type sivKeys struct {
	primary *sivKey
	keys    []*sivKey // prefixed keys first, then raw ones, as tink tries them
}

type sivKey struct {
	prefix []byte
	c      *siv.Cipher
}

func newSIVKeys(h *keyset.Handle) (*sivKeys, error) {
	ks := &sivKeys{}
	var raw []*sivKey
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			return nil, err
		}
		if e.KeyStatus() != keyset.Enabled {
			continue
		}
		k, ok := e.Key().(*aessiv.Key)
		if !ok {
			return nil, fmt.Errorf("key %d is a %T, not an AES-SIV key", e.KeyID(), e.Key())
		}
		c, err := siv.New(k.KeyBytes().Data(insecuresecretdataaccess.Token{}))
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", e.KeyID(), err)
		}
		sk := &sivKey{prefix: k.OutputPrefix(), c: c}
		if e.IsPrimary() {
			ks.primary = sk
		}
		if len(sk.prefix) == 0 {
			raw = append(raw, sk)
		} else {
			ks.keys = append(ks.keys, sk)
		}
	}
	if ks.primary == nil {
		return nil, errors.New("no enabled primary AES-SIV key")
	}
	ks.keys = append(ks.keys, raw...)
	return ks, nil
}

// A sivDomain is the keys with one associated data prepared.
type sivDomain struct {
	primary  siv.Prepared
	prefix   []byte
	prepared []siv.Prepared // by sivKeys.keys
	keys     *sivKeys
}

func (ks *sivKeys) domain(ad []byte) *sivDomain {
	d := &sivDomain{primary: ks.primary.c.Prepare(ad), prefix: ks.primary.prefix, keys: ks}
	for _, k := range ks.keys {
		d.prepared = append(d.prepared, k.c.Prepare(ad))
	}
	return d
}

// seal appends the primary key's prefix and AES-SIV ciphertext of v.
func (d *sivDomain) seal(dst, v []byte) []byte {
	return d.primary.Seal(append(dst, d.prefix...), v)
}

// open returns the plaintext of ct, trying the keys whose prefix ct starts
// with, then the raw keys.
func (d *sivDomain) open(ct []byte) ([]byte, error) {
	for i, k := range d.keys.keys {
		if !bytes.HasPrefix(ct, k.prefix) {
			continue
		}
		if pt, err := d.prepared[i].Open(nil, ct[len(k.prefix):]); err == nil {
			return pt, nil
		}
	}
	return nil, siv.ErrOpen
}
