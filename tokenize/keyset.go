package tokenize

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"

	"github.com/mlseal/mlseal/envelope"
)

// KeysetFormat is the value of the "format" member of a keyset file.
const KeysetFormat = "mlseal-token-keyset"

// Associated data binding each encrypted tink keyset to its role, so that
// the two cannot be swapped in a file.
const (
	adDeterministic = "mlseal token-keyset v1 deterministic"
	adPRF           = "mlseal token-keyset v1 prf"
)

// A Keyset holds the tokenization keys: a tink keyset of AES-SIV keys for
// deterministic tokens and a tink keyset of HMAC-SHA256 PRF keys from which
// the FF1, hash and date-shift keys are derived, per domain. Each keyset has
// a primary key that makes new tokens; the others are kept so that old
// tokens still detokenize after Rotate.
//
// A Keyset is safe for concurrent use. Its keys never leave it in plaintext:
// Write encrypts them with an envelope keyring.
type Keyset struct {
	dHandle *keyset.Handle
	pHandle *keyset.Handle
	siv     *sivKeys
	prfs    *prf.Set
}

// KeyInfo describes one key of a Keyset, without its material.
type KeyInfo struct {
	ID      uint32 `json:"id"`
	Primary bool   `json:"primary"`
	Enabled bool   `json:"enabled"`
}

// KeysetInfo lists a Keyset's keys.
type KeysetInfo struct {
	// Deterministic are the AES-SIV keys; a deterministic token names the
	// key that made it.
	Deterministic []KeyInfo `json:"deterministic"`
	// PRF are the HMAC-SHA256 PRF keys that FF1, hash and date-shift keys
	// are derived from. Their tokens carry no key id: a policy pins the key
	// with prf_key_id.
	PRF []KeyInfo `json:"prf"`
}

// NewKeyset generates a keyset with one new AES-SIV key and one new
// HMAC-SHA256 PRF key, both primary.
func NewKeyset() (*Keyset, error) {
	d, err := keyset.NewHandle(daead.AESSIVKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("tokenize: new AES-SIV key: %w", err)
	}
	p, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("tokenize: new PRF key: %w", err)
	}
	return fromHandles(d, p)
}

func fromHandles(d, p *keyset.Handle) (*Keyset, error) {
	a, err := newSIVKeys(d)
	if err != nil {
		return nil, fmt.Errorf("tokenize: deterministic keyset: %w", err)
	}
	s, err := prf.NewPRFSet(p)
	if err != nil {
		return nil, fmt.Errorf("tokenize: PRF keyset: %w", err)
	}
	return &Keyset{dHandle: d, pHandle: p, siv: a, prfs: s}, nil
}

// Rotate returns a copy of k with a new AES-SIV key and a new PRF key as
// primaries. The old keys stay, so that tokens they made still detokenize;
// k itself is unchanged.
func (k *Keyset) Rotate() (*Keyset, error) {
	rot := func(h *keyset.Handle, add func(*keyset.Manager) (uint32, error)) (*keyset.Handle, error) {
		m := keyset.NewManagerFromHandle(h)
		id, err := add(m)
		if err != nil {
			return nil, err
		}
		if err := m.SetPrimary(id); err != nil {
			return nil, err
		}
		return m.Handle()
	}
	d, err := rot(k.dHandle, func(m *keyset.Manager) (uint32, error) { return m.Add(daead.AESSIVKeyTemplate()) })
	if err != nil {
		return nil, fmt.Errorf("tokenize: rotate AES-SIV key: %w", err)
	}
	p, err := rot(k.pHandle, func(m *keyset.Manager) (uint32, error) { return m.Add(prf.HMACSHA256PRFKeyTemplate()) })
	if err != nil {
		return nil, fmt.Errorf("tokenize: rotate PRF key: %w", err)
	}
	return fromHandles(d, p)
}

// Info lists the keys of k.
func (k *Keyset) Info() KeysetInfo {
	list := func(h *keyset.Handle) []KeyInfo {
		var out []KeyInfo
		for _, ki := range h.KeysetInfo().GetKeyInfo() {
			out = append(out, KeyInfo{
				ID:      ki.GetKeyId(),
				Primary: ki.GetKeyId() == h.KeysetInfo().GetPrimaryKeyId(),
				Enabled: ki.GetStatus().String() == "ENABLED",
			})
		}
		return out
	}
	return KeysetInfo{Deterministic: list(k.dHandle), PRF: list(k.pHandle)}
}

// PrimaryPRFKeyID returns the id of the PRF key that new FF1, hash and
// date-shift tokens use when a policy does not pin one.
func (k *Keyset) PrimaryPRFKeyID() uint32 { return k.prfs.PrimaryID }

// hasPRFKey reports whether k holds the PRF key id.
func (k *Keyset) hasPRFKey(id uint32) bool {
	_, ok := k.prfs.PRFs[id]
	return ok
}

// deriveKey derives a 32-byte key for one purpose ("ff1", "hash",
// "date-shift") and domain from the PRF key id:
//
//	HMAC-SHA256(prfKey, "mlseal/tokenize/v1" || 0x00 || purpose || 0x00 || domain)
func (k *Keyset) deriveKey(id uint32, purpose, domain string) ([]byte, error) {
	p, ok := k.prfs.PRFs[id]
	if !ok {
		return nil, fmt.Errorf("tokenize: the keyset has no PRF key %d", id)
	}
	in := make([]byte, 0, 32+len(purpose)+len(domain))
	in = append(in, "mlseal/tokenize/v1\x00"...)
	in = append(in, purpose...)
	in = append(in, 0)
	in = append(in, domain...)
	return p.ComputePRF(in, 32)
}

// keysetFile is the JSON form of a keyset file.
type keysetFile struct {
	Format        string `json:"format"`
	Version       int    `json:"version"`
	Deterministic []byte `json:"deterministic"`
	PRF           []byte `json:"prf"`
}

// Write writes k to w as a keyset file, its keys encrypted with kr: each of
// the two tink keysets is serialized by tink as an EncryptedKeyset whose key
// material is an envelope message (AWS Encryption SDK format) made with kr.
// See FORMAT.md.
func (k *Keyset) Write(ctx context.Context, w io.Writer, kr envelope.Keyring) error {
	if kr == nil {
		return errors.New("tokenize: Keyset.Write needs a keyring")
	}
	aead := &envelopeAEAD{kr: kr}
	enc := func(h *keyset.Handle, ad string) ([]byte, error) {
		var buf bytes.Buffer
		if err := h.WriteWithContext(ctx, keyset.NewBinaryWriter(&buf), aead, []byte(ad)); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	d, err := enc(k.dHandle, adDeterministic)
	if err != nil {
		return fmt.Errorf("tokenize: encrypt keyset: %w", err)
	}
	p, err := enc(k.pHandle, adPRF)
	if err != nil {
		return fmt.Errorf("tokenize: encrypt keyset: %w", err)
	}
	out, err := json.MarshalIndent(keysetFile{Format: KeysetFormat, Version: 1, Deterministic: d, PRF: p}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

// ErrKeyset means a keyset file is malformed, or cannot be decrypted with
// the keyring given.
var ErrKeyset = errors.New("tokenize: bad keyset")

// ReadKeyset reads a keyset file written by Keyset.Write, decrypting its
// keys with kr. The file is at most 1 MiB.
func ReadKeyset(ctx context.Context, r io.Reader, kr envelope.Keyring) (*Keyset, error) {
	if kr == nil {
		return nil, errors.New("tokenize: ReadKeyset needs a keyring")
	}
	data, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	if err != nil {
		return nil, err
	}
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("%w: more than 1 MiB", ErrKeyset)
	}
	var f keysetFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: not a keyset file: %v", ErrKeyset, err)
	}
	if f.Format != KeysetFormat || f.Version != 1 {
		return nil, fmt.Errorf("%w: format %q version %d, want %q version 1", ErrKeyset, f.Format, f.Version, KeysetFormat)
	}
	aead := &envelopeAEAD{kr: kr}
	dec1 := func(b []byte, ad string) (*keyset.Handle, error) {
		return keyset.ReadWithContext(ctx, keyset.NewBinaryReader(bytes.NewReader(b)), aead, []byte(ad))
	}
	d, err := dec1(f.Deterministic, adDeterministic)
	if err != nil {
		return nil, fmt.Errorf("%w: deterministic keys: %w", ErrKeyset, err)
	}
	p, err := dec1(f.PRF, adPRF)
	if err != nil {
		return nil, fmt.Errorf("%w: PRF keys: %w", ErrKeyset, err)
	}
	ks, err := fromHandles(d, p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyset, err)
	}
	return ks, nil
}

// envelopeAEAD is a tink.AEADWithContext that encrypts with an envelope
// keyring: each Encrypt is one envelope message, with tink's associated data
// in its encryption context (which the message authenticates).
type envelopeAEAD struct{ kr envelope.Keyring }

const contextKeyAD = "mlseal-tink-associated-data"

func adContext(ad []byte) map[string]string {
	return map[string]string{
		"mlseal-purpose": "token-keyset",
		contextKeyAD:     base64.RawURLEncoding.EncodeToString(ad),
	}
}

func (e *envelopeAEAD) EncryptWithContext(ctx context.Context, plaintext, ad []byte) ([]byte, error) {
	return envelope.EncryptBytes(ctx, plaintext, envelope.EncryptOptions{Keyring: e.kr, Context: adContext(ad)})
}

func (e *envelopeAEAD) DecryptWithContext(ctx context.Context, ciphertext, ad []byte) ([]byte, error) {
	return envelope.DecryptBytes(ctx, ciphertext, envelope.DecryptOptions{Keyring: e.kr, Context: adContext(ad)})
}

// keyIDs returns the ids in info, sorted.
func keyIDs(info []KeyInfo) []uint32 {
	var ids []uint32
	for _, k := range info {
		ids = append(ids, k.ID)
	}
	slices.Sort(ids)
	return ids
}
