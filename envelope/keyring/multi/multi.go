// Package multi combines keyrings, as the specification's multi-keyring does
// (framework/multi-keyring.md): on encrypt a generator makes the data key and
// every keyring wraps it; on decrypt the first keyring that unwraps wins.
package multi

import (
	"context"
	"errors"
	"fmt"

	"github.com/mlseal/mlseal/envelope"
)

// Keyring is a generator keyring plus more keyrings.
type Keyring struct {
	generator envelope.Keyring
	children  []envelope.Keyring
}

// New returns a multi-keyring. The generator may be nil if the data key
// comes from elsewhere (such as a cache); at least one keyring is needed.
func New(generator envelope.Keyring, children ...envelope.Keyring) (*Keyring, error) {
	if generator == nil && len(children) == 0 {
		return nil, errors.New("multi: a multi-keyring needs a generator or at least one other keyring")
	}
	for _, c := range children {
		if c == nil {
			return nil, errors.New("multi: nil keyring")
		}
	}
	return &Keyring{generator: generator, children: children}, nil
}

// OnEncrypt has the generator make and wrap the data key, then has every
// other keyring wrap it too. Any failure fails the whole operation, so no
// message is written that a listed key cannot open.
func (k *Keyring) OnEncrypt(ctx context.Context, m *envelope.EncryptionMaterials) error {
	if k.generator != nil {
		// As the specification requires: a generator must generate.
		if m.DataKey != nil {
			return errors.New("multi: the materials already hold a data key, and this multi-keyring has a generator")
		}
		if err := k.generator.OnEncrypt(ctx, m); err != nil {
			return err
		}
		if m.DataKey == nil {
			return errors.New("multi: the generator keyring returned no data key")
		}
	} else if m.DataKey == nil {
		return errors.New("multi: no generator and no data key to wrap")
	}
	for _, c := range k.children {
		if err := c.OnEncrypt(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// OnDecrypt tries the generator, then the other keyrings in order, and stops
// at the first that unwraps a data key. If none does, the error lists why
// each failed.
func (k *Keyring) OnDecrypt(ctx context.Context, m *envelope.DecryptionMaterials, edks []envelope.EncryptedDataKey) error {
	if m.DataKey != nil {
		return nil
	}
	var errs []error
	for _, c := range k.all() {
		err := c.OnDecrypt(ctx, m, edks)
		if m.DataKey != nil {
			return nil
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("multi: %w", envelope.ErrNoDataKey)
	}
	// A keyring that could not ask (a key service that is down, throttled or
	// past the deadline) may hold the key: then this is not a message that
	// cannot be opened, and only those errors are kept for errors.Is.
	var failed, refused []error
	for _, err := range errs {
		if errors.Is(err, envelope.ErrNoDataKey) {
			refused = append(refused, err)
		} else {
			failed = append(failed, err)
		}
	}
	if len(failed) == 0 {
		return fmt.Errorf("multi: %w: %w", envelope.ErrNoDataKey, errors.Join(refused...))
	}
	if len(refused) == 0 {
		return fmt.Errorf("multi: no keyring unwrapped a data key: %w", errors.Join(failed...))
	}
	return fmt.Errorf("multi: no keyring unwrapped a data key: %w (and %v)", errors.Join(failed...), errors.Join(refused...))
}

func (k *Keyring) all() []envelope.Keyring {
	if k.generator == nil {
		return k.children
	}
	return append([]envelope.Keyring{k.generator}, k.children...)
}
