// Package rawrsa implements the AWS Encryption SDK's Raw RSA keyring
// (specification: framework/raw-rsa-keyring.md): it wraps each message's
// data key with a local RSA public key and unwraps it with the matching
// private key.
//
// The wrapped key it writes is the plain RSA ciphertext of the data key under
// the provider id namespace and the provider info name, so messages interoperate
// with the Raw RSA keyrings of the other AWS Encryption SDKs configured with
// the same namespace, name and padding.
//
// A keyring with only a public key can encrypt but not decrypt, which suits
// jobs that produce data they must not read back; one with only a private key
// can decrypt but not encrypt: the specification lets OnEncrypt use only a
// public key given to the keyring, so it is never derived from the private
// key. Give both to do both.
package rawrsa

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // OAEPSHA1 links its hash through crypto.Hash.New
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/mlseal/mlseal/envelope"
)

// MinKeyBits is the smallest RSA modulus New accepts.
const MinKeyBits = 2048

// Padding is the RSA encryption padding a keyring uses. It is not recorded in
// the message, so the decrypting keyring must be configured with the same
// padding as the encrypting one.
type Padding int

// The padding schemes of the specification. OAEP uses the named hash both
// for the label hash and for MGF1, with an empty label, as the other AWS
// Encryption SDKs do.
const (
	OAEPSHA1 Padding = iota + 1
	OAEPSHA256
	OAEPSHA384
	OAEPSHA512
	// PKCS1v15 only decrypts, to read data keys wrapped by other SDKs
	// configured with it. Encrypting with it fails: its padding is malleable
	// and open to padding-oracle attacks, Go deprecates it and current
	// Node.js refuses it.
	PKCS1v15
)

var paddingNames = [...]string{
	OAEPSHA1:   "oaep-sha1",
	OAEPSHA256: "oaep-sha256",
	OAEPSHA384: "oaep-sha384",
	OAEPSHA512: "oaep-sha512",
	PKCS1v15:   "pkcs1",
}

// String returns the name ParsePadding accepts, such as "oaep-sha256".
func (p Padding) String() string {
	if p.valid() {
		return paddingNames[p]
	}
	return fmt.Sprintf("Padding(%d)", int(p))
}

func (p Padding) valid() bool { return p >= OAEPSHA1 && p <= PKCS1v15 }

func (p Padding) hash() crypto.Hash {
	switch p {
	case OAEPSHA1:
		return crypto.SHA1
	case OAEPSHA256:
		return crypto.SHA256
	case OAEPSHA384:
		return crypto.SHA384
	case OAEPSHA512:
		return crypto.SHA512
	}
	return 0
}

// ParsePadding returns the padding named "oaep-sha1", "oaep-sha256",
// "oaep-sha384", "oaep-sha512" or "pkcs1" (case-insensitive).
func ParsePadding(s string) (Padding, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	for p, name := range paddingNames {
		if name != "" && name == n {
			return Padding(p), nil
		}
	}
	return 0, fmt.Errorf("rawrsa: unknown padding %q: use one of oaep-sha1, oaep-sha256, oaep-sha384, oaep-sha512, or pkcs1 (decrypt only)", s)
}

// A Keyring wraps and unwraps data keys with one RSA key pair. It implements
// envelope.Keyring and is safe for concurrent use.
type Keyring struct {
	namespace string
	name      string
	padding   Padding
	public    *rsa.PublicKey  // nil: cannot encrypt
	private   *rsa.PrivateKey // nil: cannot decrypt; a precomputed copy
}

var _ envelope.Keyring = (*Keyring)(nil)

// New returns a Raw RSA keyring. The namespace becomes the provider id and
// the name the provider info of the encrypted data keys it writes, and it
// unwraps only those whose provider id and info match both exactly.
//
// At least one of public and private is required: public to encrypt, private
// to decrypt. When both are given they must be the two halves of one key
// pair; PKCS1v15 requires the private key, since it only decrypts. Keys
// smaller than MinKeyBits are refused, and so is the namespace "aws-kms",
// which belongs to AWS KMS keyrings.
//
// New does not modify private: it keeps a copy with its CRT values computed,
// so that each decryption does not have to.
func New(namespace, name string, public *rsa.PublicKey, private *rsa.PrivateKey, padding Padding) (*Keyring, error) {
	if err := checkLabel("namespace", namespace); err != nil {
		return nil, err
	}
	if namespace == "aws-kms" {
		return nil, errors.New(`rawrsa: namespace "aws-kms" is reserved for AWS KMS keyrings, and other SDKs would send these keys to KMS: choose another namespace`)
	}
	if err := checkLabel("name", name); err != nil {
		return nil, err
	}
	if !padding.valid() {
		return nil, fmt.Errorf("rawrsa: unknown padding %v: use one of the Padding constants or ParsePadding", padding)
	}
	if public == nil && private == nil {
		return nil, errors.New("rawrsa: no key given: pass a public key to encrypt, a private key to decrypt, or both")
	}
	if private == nil && padding == PKCS1v15 {
		return nil, errors.New("rawrsa: pkcs1 padding only decrypts, but no private key was given: pass the private key, or use an OAEP padding to encrypt")
	}
	k := &Keyring{namespace: namespace, name: name, padding: padding}
	if public != nil {
		if err := checkSize("public", public); err != nil {
			return nil, err
		}
		k.public = &rsa.PublicKey{N: public.N, E: public.E}
	}
	if private != nil {
		if err := checkSize("private", &private.PublicKey); err != nil {
			return nil, err
		}
		if public != nil && !public.Equal(&private.PublicKey) {
			return nil, errors.New("rawrsa: the public key does not belong to the private key: pass the two halves of one key pair")
		}
		// Copy before Precompute: the caller may share its key with other
		// goroutines, and Precompute writes to it.
		priv := *private
		priv.Precompute()
		if err := priv.Validate(); err != nil {
			return nil, fmt.Errorf("rawrsa: invalid private key: %w", err)
		}
		k.private = &priv
	}
	return k, nil
}

func checkLabel(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("rawrsa: empty key %s: give the key a %s", what, what)
	case !utf8.ValidString(s):
		return fmt.Errorf("rawrsa: key %s is not valid UTF-8", what)
	case len(s) > math.MaxUint16:
		// Provider ids and infos are stored with a two-byte length.
		return fmt.Errorf("rawrsa: key %s is %d bytes long, more than the message format's %d", what, len(s), math.MaxUint16)
	}
	return nil
}

func checkSize(which string, pub *rsa.PublicKey) error {
	if pub.N == nil {
		return fmt.Errorf("rawrsa: %s key has no modulus", which)
	}
	if bits := pub.N.BitLen(); bits < MinKeyBits {
		return fmt.Errorf("rawrsa: %s key is %d bits, fewer than the %d required: generate a larger key", which, bits, MinKeyBits)
	}
	return nil
}

// Namespace returns the key namespace, the provider id of the keyring's
// encrypted data keys.
func (k *Keyring) Namespace() string { return k.namespace }

// Name returns the key name, the provider info of the keyring's encrypted
// data keys.
func (k *Keyring) Name() string { return k.name }

// Padding returns the keyring's padding.
func (k *Keyring) Padding() Padding { return k.padding }

// CanEncrypt reports whether OnEncrypt can succeed: the keyring has a public
// key and a padding that encrypts.
func (k *Keyring) CanEncrypt() bool { return k.public != nil && k.padding != PKCS1v15 }

// CanDecrypt reports whether the keyring has a private key.
func (k *Keyring) CanDecrypt() bool { return k.private != nil }

// String describes the keyring without its key material, for example
// "rawrsa mlseal/backup oaep-sha256 encrypt+decrypt".
func (k *Keyring) String() string {
	var use string
	switch {
	case k.CanEncrypt() && k.CanDecrypt():
		use = "encrypt+decrypt"
	case k.CanEncrypt():
		use = "encrypt only"
	default:
		use = "decrypt only"
	}
	return fmt.Sprintf("rawrsa %s/%s %v %s", k.namespace, k.name, k.padding, use)
}

// Format prints String for every verb, so that no formatting of the keyring
// (%v, %+v, %#v, %x, ...) shows its private key.
func (k *Keyring) Format(s fmt.State, verb rune) {
	fmt.Fprint(s, k.String())
}

// OnEncrypt generates a random data key of m.Suite.DataKeyLen() bytes if
// m.DataKey is nil, then appends the data key encrypted with the public key to
// m.EncryptedDataKeys. On error m is left unchanged.
func (k *Keyring) OnEncrypt(_ context.Context, m *envelope.EncryptionMaterials) error {
	if k.public == nil {
		return fmt.Errorf("rawrsa: key %s/%s has no public key, so it cannot encrypt: load its public key", k.namespace, k.name)
	}
	if k.padding == PKCS1v15 {
		return fmt.Errorf("rawrsa: key %s/%s uses pkcs1 padding, which only decrypts: encrypt with an OAEP padding such as oaep-sha256", k.namespace, k.name)
	}
	n := m.Suite.DataKeyLen()
	if n == 0 {
		return fmt.Errorf("rawrsa: unknown algorithm suite %v", m.Suite)
	}
	dataKey := m.DataKey
	if dataKey == nil {
		dataKey = make([]byte, n)
		rand.Read(dataKey) // never returns an error; crashes the program if randomness is unavailable
	} else if len(dataKey) != n {
		return fmt.Errorf("rawrsa: data key is %d bytes, but suite %v needs %d", len(dataKey), m.Suite, n)
	}
	h := k.padding.hash()
	ct, err := rsa.EncryptOAEP(h.New(), rand.Reader, k.public, dataKey, nil)
	if err != nil {
		return fmt.Errorf("rawrsa: key %s/%s: encrypting the data key with %v: %w", k.namespace, k.name, k.padding, err)
	}
	m.DataKey = dataKey
	m.EncryptedDataKeys = append(m.EncryptedDataKeys, envelope.EncryptedDataKey{
		ProviderID:   k.namespace,
		ProviderInfo: []byte(k.name),
		Ciphertext:   ct,
	})
	return nil
}

// OnDecrypt does nothing when m.DataKey is already set. Otherwise it tries,
// in order, the encrypted data keys whose provider id and info equal the
// keyring's namespace and name, and sets m.DataKey from the first one that
// decrypts to a key of the suite's length. If none does, it leaves m unchanged
// and returns an error wrapping envelope.ErrNoDataKey.
//
// With PKCS1v15 padding it unwraps only the first encrypted data key
// addressed to it, and never reports why an unwrap failed: a bad padding, a
// payload of the wrong length or the wrong key all give m.DataKey a random
// key, so the message then fails authentication (envelope.ErrAuthentication)
// in every case, with the same error and after the same work. Telling those
// apart would be a Bleichenbacher padding oracle on the private key.
func (k *Keyring) OnDecrypt(_ context.Context, m *envelope.DecryptionMaterials, edks []envelope.EncryptedDataKey) error {
	if m.DataKey != nil {
		return nil
	}
	if k.private == nil {
		return fmt.Errorf("rawrsa: key %s/%s has no private key, so it cannot decrypt: load its private key: %w", k.namespace, k.name, envelope.ErrNoDataKey)
	}
	n := m.Suite.DataKeyLen()
	if n == 0 {
		return fmt.Errorf("rawrsa: unknown algorithm suite %v", m.Suite)
	}
	tried := 0
	for _, edk := range edks {
		if edk.ProviderID != k.namespace || string(edk.ProviderInfo) != k.name {
			continue
		}
		tried++
		if k.padding == PKCS1v15 {
			m.DataKey = k.decryptPKCS1(edk.Ciphertext, n)
			return nil
		}
		// Why a key failed to unwrap is not reported: in every case it is
		// either the wrong key or a corrupt message.
		pt, err := k.decryptOAEP(edk.Ciphertext)
		if err != nil {
			continue
		}
		if len(pt) != n {
			clear(pt)
			continue
		}
		m.DataKey = pt
		return nil
	}
	if tried == 0 {
		return fmt.Errorf("rawrsa: none of the message's %d encrypted data keys is for key %s/%s: %w", len(edks), k.namespace, k.name, envelope.ErrNoDataKey)
	}
	return fmt.Errorf("rawrsa: key %s/%s (%v) could not unwrap any of the %d encrypted data keys addressed to it: wrong private key or padding, or a corrupt message: %w", k.namespace, k.name, k.padding, tried, envelope.ErrNoDataKey)
}

func (k *Keyring) decryptOAEP(ct []byte) ([]byte, error) {
	return rsa.DecryptOAEP(k.padding.hash().New(), nil, k.private, ct, nil)
}

// decryptPKCS1 unwraps a data key of n bytes wrapped with PKCS #1 v1.5
// padding, or returns a random key if it cannot, without revealing which in
// its result or its timing: the session-key pattern of
// rsa.DecryptPKCS1v15SessionKey (as TLS uses for RSA key exchange). A wrong
// key is then caught by the message's key commitment or header tag, like
// any other tampering.
func (k *Keyring) decryptPKCS1(ct []byte, n int) []byte {
	key := make([]byte, n)
	rand.Read(key) // never returns an error; crashes the program if randomness is unavailable
	// Its only errors are for a ciphertext of the wrong length, which is
	// public, and a key too long for the modulus, which MinKeyBits rules
	// out: in both cases key keeps its random bytes, as it does on a bad
	// padding.
	//lint:ignore SA1019 decrypt-only support for data keys wrapped by other SDKs, in the oracle-free form.
	rsa.DecryptPKCS1v15SessionKey(nil, k.private, ct, key)
	return key
}
