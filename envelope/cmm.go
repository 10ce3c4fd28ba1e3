package envelope

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// A MaterialsManager supplies the key material of each message: the
// specification's cryptographic materials manager (framework/cmm-interface.md).
// The default one, from DefaultMaterials, asks a keyring for a fresh data key
// per message; a caching one (package envelope/cache) reuses data keys
// across messages within limits, to cut calls to a key service.
//
// Materials returned by a MaterialsManager may be shared between messages:
// Encrypt and Decrypt never modify them. Implementations must be safe for
// concurrent use.
type MaterialsManager interface {
	GetEncryptionMaterials(ctx context.Context, req EncryptionMaterialsRequest) (*EncryptionMaterials, error)
	DecryptMaterials(ctx context.Context, req DecryptionMaterialsRequest) (*DecryptionMaterials, error)
}

// EncryptionMaterialsRequest describes the message about to be encrypted.
type EncryptionMaterialsRequest struct {
	Suite SuiteID
	// Context is the caller's encryption context; it has no reserved keys.
	Context map[string]string
	// RequiredContextKeys name Context keys authenticated but not stored.
	RequiredContextKeys []string
	// PlaintextLength is the plaintext's length, or -1 when it is unknown.
	PlaintextLength int64
}

// DecryptionMaterialsRequest describes the message being decrypted.
type DecryptionMaterialsRequest struct {
	Suite SuiteID
	// Context is the message's whole encryption context: the pairs stored
	// in its header and the required pairs the caller supplied.
	Context           map[string]string
	EncryptedDataKeys []EncryptedDataKey
}

// DefaultMaterials returns the specification's default materials manager
// over a keyring: a fresh data key for every message, and for signed suites
// a fresh signing key whose public half goes into the encryption context.
func DefaultMaterials(kr Keyring) MaterialsManager { return defaultCMM{kr} }

type defaultCMM struct{ kr Keyring }

func (c defaultCMM) GetEncryptionMaterials(ctx context.Context, req EncryptionMaterialsRequest) (*EncryptionMaterials, error) {
	m := &EncryptionMaterials{
		Suite:               req.Suite,
		Context:             maps.Clone(req.Context),
		RequiredContextKeys: slices.Clone(req.RequiredContextKeys),
	}
	if m.Context == nil {
		m.Context = map[string]string{}
	}
	info, ok := req.Suite.info()
	if !ok {
		return nil, fmt.Errorf("unknown algorithm suite %s", req.Suite)
	}
	if info.curve != nil {
		key, err := ecdsa.GenerateKey(info.curve, rand.Reader)
		if err != nil {
			return nil, err
		}
		m.SigningKey = key
		if m.Context[publicKeyContextKey], err = encodePublicKey(&key.PublicKey); err != nil {
			return nil, err
		}
	}
	if err := c.kr.OnEncrypt(ctx, m); err != nil {
		return nil, fmt.Errorf("wrapping the data key: %w", err)
	}
	return m, nil
}

func (c defaultCMM) DecryptMaterials(ctx context.Context, req DecryptionMaterialsRequest) (*DecryptionMaterials, error) {
	info, ok := req.Suite.info()
	if !ok {
		return nil, fmt.Errorf("unknown algorithm suite %s", req.Suite)
	}
	m := &DecryptionMaterials{Suite: req.Suite, Context: req.Context}
	pub, hasPub := req.Context[publicKeyContextKey]
	switch {
	case info.curve != nil && !hasPub:
		return nil, fmt.Errorf("%w: signed message without %s in its encryption context", ErrMalformed, publicKeyContextKey)
	case info.curve != nil:
		var err error
		if m.VerificationKey, err = decodePublicKey(info.curve, pub); err != nil {
			return nil, err
		}
	case hasPub:
		// As the specification's default CMM requires: a reader of the
		// header could take the message for a signed one.
		return nil, fmt.Errorf("%w: unsigned suite %s with %s in its encryption context", ErrMalformed, req.Suite, publicKeyContextKey)
	}
	// Keyrings wrap ErrNoDataKey when no key of theirs opens the message;
	// other errors, such as a key service that cannot be reached, pass
	// through as they are, so that they are not taken for tampering.
	if err := c.kr.OnDecrypt(ctx, m, req.EncryptedDataKeys); err != nil {
		return nil, err
	}
	return m, nil
}

// ownMaterials reports whether the materials cmm returns are made for one
// message and shared with nobody, so that Encrypt and Decrypt may clear
// their data key once the message key is derived. A caller's materials
// manager may share its materials (a cache does), so they are its to clear.
func ownMaterials(cmm MaterialsManager) bool {
	_, ok := cmm.(defaultCMM)
	return ok
}

// materialsManager picks the options' materials manager: Materials when set,
// otherwise the default one over Keyring.
func materialsManager(mm MaterialsManager, kr Keyring, op string) (MaterialsManager, error) {
	switch {
	case mm != nil && kr != nil:
		return nil, fmt.Errorf("envelope: %s options give both Materials and Keyring: give one", op)
	case mm != nil:
		return mm, nil
	case kr != nil:
		return DefaultMaterials(kr), nil
	}
	return nil, errors.New("envelope: " + op + " options need a Keyring (or a Materials manager)")
}
