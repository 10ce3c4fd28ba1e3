package dataset

import (
	"context"
	"sync/atomic"

	"github.com/mlseal/mlseal/envelope"
)

// A KeyCounter is a keyring that counts the calls that reach the keyring
// it wraps: each OnEncrypt generates (or wraps) a data key and each
// OnDecrypt unwraps one, which for an AWS KMS keyring means a call to
// KMS. Put it under a caching materials manager (envelope/cache) to count
// what the cache did not save, and in Options.Keys to have Summary report
// it.
type KeyCounter struct {
	envelope.Keyring
	encrypts, decrypts atomic.Int64
}

// CountKeyCalls wraps kr in a KeyCounter.
func CountKeyCalls(kr envelope.Keyring) *KeyCounter { return &KeyCounter{Keyring: kr} }

func (k *KeyCounter) OnEncrypt(ctx context.Context, m *envelope.EncryptionMaterials) error {
	k.encrypts.Add(1)
	return k.Keyring.OnEncrypt(ctx, m)
}

func (k *KeyCounter) OnDecrypt(ctx context.Context, m *envelope.DecryptionMaterials, edks []envelope.EncryptedDataKey) error {
	k.decrypts.Add(1)
	return k.Keyring.OnDecrypt(ctx, m, edks)
}

// Calls returns how many data keys were generated (OnEncrypt) and
// unwrapped (OnDecrypt) so far.
func (k *KeyCounter) Calls() (generated, unwrapped int64) {
	return k.encrypts.Load(), k.decrypts.Load()
}
