package envelope

import (
	"context"
	"crypto/ecdsa"
	"fmt"
)

// An EncryptedDataKey is a data key wrapped by one keyring, as stored in the
// message header. ProviderID names the kind of wrapping key (a raw key's
// namespace, or "aws-kms"); ProviderInfo names the key within it.
type EncryptedDataKey struct {
	ProviderID   string
	ProviderInfo []byte
	Ciphertext   []byte
}

// EncryptionMaterials are what a Keyring sees and completes on encrypt.
type EncryptionMaterials struct {
	// Suite is the algorithm suite of the message; DataKey has
	// Suite.DataKeyLen() bytes.
	Suite SuiteID
	// Context is the whole encryption context, including the keys that are
	// required (authenticated but not stored) and, for signed suites,
	// "aws-crypto-public-key". Keyrings bind wrapped keys to it.
	Context map[string]string
	// RequiredContextKeys are the context keys left out of the header.
	RequiredContextKeys []string
	// DataKey is nil until a generating keyring sets it.
	DataKey []byte
	// EncryptedDataKeys collects one entry per wrapping key.
	EncryptedDataKeys []EncryptedDataKey
	// SigningKey signs the message when the suite is signed.
	SigningKey *ecdsa.PrivateKey
}

// DecryptionMaterials are what a Keyring sees and completes on decrypt.
type DecryptionMaterials struct {
	Suite   SuiteID
	Context map[string]string
	// DataKey is nil until a keyring unwraps one of the encrypted data keys.
	DataKey []byte
	// VerificationKey checks the message signature when the suite is signed.
	VerificationKey *ecdsa.PublicKey
}

// A Keyring wraps data keys on encrypt and unwraps them on decrypt, as the
// specification's keyrings do (framework/keyring-interface.md).
//
// OnEncrypt generates a data key when m.DataKey is nil and the keyring can
// generate one, then appends its wrapping of the data key to
// m.EncryptedDataKeys. OnDecrypt leaves m alone when m.DataKey is already
// set; otherwise it tries the encrypted data keys it recognises and sets
// m.DataKey from the first one it unwraps, or returns an error that says why
// none could be unwrapped.
//
// Keyrings must be safe for concurrent use.
type Keyring interface {
	OnEncrypt(ctx context.Context, m *EncryptionMaterials) error
	OnDecrypt(ctx context.Context, m *DecryptionMaterials, edks []EncryptedDataKey) error
}

// Format prints the materials without their keys, for every verb: a data
// key or signing key must never reach a log line through %v.
func (m EncryptionMaterials) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "EncryptionMaterials{Suite: %v, Context: %d pairs, RequiredContextKeys: %q, DataKey: %s, EncryptedDataKeys: %d, SigningKey: %s}",
		m.Suite, len(m.Context), m.RequiredContextKeys, redactedKey(m.DataKey != nil), len(m.EncryptedDataKeys), redactedKey(m.SigningKey != nil))
}

// Format prints the materials without their data key, for every verb.
func (m DecryptionMaterials) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "DecryptionMaterials{Suite: %v, Context: %d pairs, DataKey: %s, VerificationKey: %t}",
		m.Suite, len(m.Context), redactedKey(m.DataKey != nil), m.VerificationKey != nil)
}

func redactedKey(set bool) string {
	if set {
		return "[redacted]"
	}
	return "none"
}
