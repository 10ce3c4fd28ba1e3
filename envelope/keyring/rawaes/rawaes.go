// Package rawaes implements the AWS Encryption SDK's raw AES keyring
// (framework/raw-aes-keyring.md): data keys wrapped with AES-GCM under a
// local wrapping key, bound to the encryption context. A message wrapped by
// this keyring opens in any ESDK given the same key, namespace and name.
package rawaes

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/internal/header"
)

const (
	tagLen = 16
	ivLen  = 12
)

// Keyring wraps and unwraps data keys with one AES wrapping key.
type Keyring struct {
	namespace string
	name      string
	aead      cipher.AEAD
}

// New returns a keyring for a 16-, 24- or 32-byte wrapping key, identified
// in messages by namespace (the provider id) and name. The namespace
// "aws-kms" is reserved for AWS KMS keyrings.
func New(namespace, name string, key []byte) (*Keyring, error) {
	if namespace == "aws-kms" {
		return nil, errors.New("rawaes: the namespace aws-kms is reserved for AWS KMS keyrings: choose another")
	}
	if namespace == "" || name == "" {
		return nil, errors.New("rawaes: a raw AES keyring needs a namespace and a key name")
	}
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("rawaes: wrapping key is %d bytes; want 16, 24 or 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{namespace: namespace, name: name, aead: aead}, nil
}

// String names the key without revealing it.
func (k *Keyring) String() string { return fmt.Sprintf("raw AES key %s/%s", k.namespace, k.name) }

// OnEncrypt generates a data key if there is none yet and wraps it.
func (k *Keyring) OnEncrypt(_ context.Context, m *envelope.EncryptionMaterials) error {
	aad, err := header.SerializeContext(m.Context)
	if err != nil {
		return fmt.Errorf("rawaes: %w", err)
	}
	if m.DataKey == nil {
		m.DataKey = make([]byte, m.Suite.DataKeyLen())
		if _, err := rand.Read(m.DataKey); err != nil {
			return err
		}
	}
	info := make([]byte, 0, len(k.name)+8+ivLen)
	info = append(info, k.name...)
	info = binary.BigEndian.AppendUint32(info, tagLen*8)
	info = binary.BigEndian.AppendUint32(info, ivLen)
	iv := info[len(info) : len(info)+ivLen]
	if _, err := rand.Read(iv); err != nil {
		return err
	}
	info = info[:len(info)+ivLen]
	m.EncryptedDataKeys = append(m.EncryptedDataKeys, envelope.EncryptedDataKey{
		ProviderID:   k.namespace,
		ProviderInfo: info,
		Ciphertext:   k.aead.Seal(nil, iv, m.DataKey, aad),
	})
	return nil
}

// OnDecrypt unwraps the first encrypted data key that this key wrapped.
func (k *Keyring) OnDecrypt(_ context.Context, m *envelope.DecryptionMaterials, edks []envelope.EncryptedDataKey) error {
	if m.DataKey != nil {
		return nil
	}
	aad, err := header.SerializeContext(m.Context)
	if err != nil {
		return fmt.Errorf("rawaes: %w", err)
	}
	tried := 0
	for _, edk := range edks {
		iv, ok := k.match(edk)
		if !ok {
			continue
		}
		tried++
		key, err := k.aead.Open(nil, iv, edk.Ciphertext, aad)
		if err == nil && len(key) == m.Suite.DataKeyLen() {
			m.DataKey = key
			return nil
		}
	}
	if tried == 0 {
		return fmt.Errorf("rawaes: %w: the message has no data key wrapped by %s", envelope.ErrNoDataKey, k)
	}
	keys := "data keys"
	if tried == 1 {
		keys = "data key"
	}
	return fmt.Errorf("rawaes: %w: %d %s named %s did not unwrap: the key material or the encryption context differs", envelope.ErrNoDataKey, tried, keys, k)
}

// match reports whether edk names this key, and returns its IV.
func (k *Keyring) match(edk envelope.EncryptedDataKey) ([]byte, bool) {
	info := edk.ProviderInfo
	if edk.ProviderID != k.namespace || len(info) != len(k.name)+8+ivLen || !bytes.HasPrefix(info, []byte(k.name)) {
		return nil, false
	}
	rest := info[len(k.name):]
	if binary.BigEndian.Uint32(rest) != tagLen*8 || binary.BigEndian.Uint32(rest[4:]) != ivLen {
		return nil, false
	}
	return rest[8:], true
}
