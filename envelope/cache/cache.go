// Package cache reuses data keys across messages: the AWS Encryption SDK's
// caching cryptographic materials manager (framework/caching-cmm.md) over a
// local, in-memory, least-recently-used materials cache
// (framework/local-cryptographic-materials-cache.md).
//
// Encrypting many small files with a KMS keyring costs one GenerateDataKey
// per file; with a Manager, one data key serves many messages, within a
// required maximum age, a maximum number of messages and a maximum number
// of bytes. Each message still gets its own random message id, from which
// its encryption key and commitment key are derived, so no two messages
// share an AES-GCM key. On decrypt, the unwrapped data key of a set of
// wrapped keys is kept too, so decrypting many files that share a data key
// costs one KMS Decrypt per cache window.
//
// As the specification requires, nothing is cached for a message whose
// plaintext length is unknown (give envelope.EncryptOptions.SizeHint), nor
// for the legacy suites without key derivation, whose data key is the
// message key.
//
// Entries are keyed by partition id, algorithm suite and encryption context
// (and on decrypt by the wrapped keys too), with the specification's
// formulas; managers that share a Local cache share entries only when they
// have the same partition id.
//
// Concurrent misses for the same entry make one call underneath: the first
// caller asks the underlying manager while the others wait for its answer,
// so a batch that encrypts 16 files at once still costs one GenerateDataKey
// per cache window, and one Decrypt per distinct set of wrapped keys. If
// that call fails, the callers that waited get its error, unless it failed
// because the first caller's own context ended: then the next one asks.
package cache

import (
	"bytes"
	"container/list"
	"context"
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/internal/header"
)

// Defaults of the optional limits, as the specification sets them.
const (
	DefaultMaxMessages = 1 << 32
	DefaultMaxBytes    = math.MaxInt64
	// DefaultCapacity is the number of entries of the Local cache that New
	// creates when Options.Cache is nil.
	DefaultCapacity = 1000
)

// Options configure a Manager. MaxAge is required.
type Options struct {
	// MaxAge is how long a data key may be used after it was obtained.
	MaxAge time.Duration
	// MaxMessages is how many messages one data key may encrypt,
	// DefaultMaxMessages when zero.
	MaxMessages uint64
	// MaxBytes is how many plaintext bytes one data key may encrypt,
	// DefaultMaxBytes when zero.
	MaxBytes uint64
	// PartitionID separates the entries of managers that share a cache; a
	// random one, unique to the manager, when empty.
	PartitionID string
	// Cache holds the entries, a new Local of DefaultCapacity when nil.
	Cache *Local
	// Now is the clock, time.Now when nil.
	Now func() time.Time
}

// Manager is a caching materials manager. It is safe for concurrent use.
type Manager struct {
	mm        envelope.MaterialsManager
	c         *Local
	maxAge    time.Duration
	maxMsgs   uint64
	maxBytes  uint64
	partition [sha512.Size]byte // SHA-512 of the partition id
	now       func() time.Time

	mu       sync.Mutex
	inflight map[string]*flight // calls underneath in progress, by entry id
}

// A flight is one call to the underlying manager that other callers
// missing the same entry wait for.
type flight struct {
	done chan struct{}
	err  error // set before done is closed
	// retry is set when the call ended because its caller's context did:
	// the waiters then ask again instead of taking that error as theirs.
	retry   bool
	waiters int // callers that joined it, guarded by the Manager's mu
}

// join returns the flight of entry id and whether the caller leads it:
// a leader makes the call and lands the flight; the others wait.
func (m *Manager) join(id string) (*flight, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.inflight[id]; ok {
		f.waiters++
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	m.inflight[id] = f
	return f, true
}

// land ends the flight of entry id, after the answer (if any) was cached.
func (m *Manager) land(ctx context.Context, id string, f *flight, err error) {
	m.mu.Lock()
	delete(m.inflight, id)
	m.mu.Unlock()
	f.err, f.retry = err, err != nil && ctx.Err() != nil
	close(f.done)
}

// wait waits for a flight led by another caller. It returns nil when the
// entry should be looked up again, or the error to return.
func (f *flight) wait(ctx context.Context) error {
	select {
	case <-f.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if f.err != nil && !f.retry {
		return f.err
	}
	return nil
}

// New returns a caching materials manager over mm, such as
// envelope.DefaultMaterials(keyring).
func New(mm envelope.MaterialsManager, opts Options) (*Manager, error) {
	if mm == nil {
		return nil, errors.New("cache: no underlying materials manager")
	}
	if opts.MaxAge <= 0 {
		return nil, errors.New("cache: a maximum age (Options.MaxAge) is required")
	}
	m := &Manager{mm: mm, c: opts.Cache, maxAge: opts.MaxAge, maxMsgs: opts.MaxMessages, maxBytes: opts.MaxBytes, now: opts.Now,
		inflight: map[string]*flight{}}
	if m.c == nil {
		m.c = NewLocal(DefaultCapacity)
	}
	if m.maxMsgs == 0 {
		m.maxMsgs = DefaultMaxMessages
	}
	if m.maxBytes == 0 || m.maxBytes > DefaultMaxBytes {
		m.maxBytes = DefaultMaxBytes
	}
	if m.now == nil {
		m.now = time.Now
	}
	pid := opts.PartitionID
	if pid == "" {
		var b [16]byte
		rand.Read(b[:])
		pid = hex.EncodeToString(b[:])
	}
	m.partition = sha512.Sum512([]byte(pid))
	return m, nil
}

// noKDF reports whether the suite uses its data key as the message key.
func noKDF(s envelope.SuiteID) bool {
	switch s {
	case envelope.AES128GCMIV12Tag16NoKDF, envelope.AES192GCMIV12Tag16NoKDF, envelope.AES256GCMIV12Tag16NoKDF:
		return true
	}
	return false
}

// GetEncryptionMaterials returns cached materials for the request's suite
// and context while they are within their limits, and otherwise asks the
// underlying manager and caches what it returns.
func (m *Manager) GetEncryptionMaterials(ctx context.Context, req envelope.EncryptionMaterialsRequest) (*envelope.EncryptionMaterials, error) {
	if noKDF(req.Suite) || req.PlaintextLength < 0 || uint64(req.PlaintextLength) > m.maxBytes {
		return m.mm.GetEncryptionMaterials(ctx, req)
	}
	id, err := m.encryptionID(req)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	n := uint64(req.PlaintextLength)
	for {
		now := m.now()
		if mat := m.c.useEncryption(id, now, n, m.maxMsgs, m.maxBytes); mat != nil {
			return mat, nil
		}
		f, leader := m.join(id)
		if !leader {
			if err := f.wait(ctx); err != nil {
				return nil, err
			}
			continue // the new entry counts this message too, if it can
		}
		under := req
		under.PlaintextLength = int64(m.maxBytes)
		mat, err := m.mm.GetEncryptionMaterials(ctx, under)
		if err == nil {
			m.c.put(&entry{id: id, expiry: now.Add(m.maxAge), enc: mat, messages: 1, bytes: n}, now)
		}
		m.land(ctx, id, f, err)
		return mat, err
	}
}

// DecryptMaterials returns the cached materials of the same suite, wrapped
// keys and context, or asks the underlying manager and caches its answer.
func (m *Manager) DecryptMaterials(ctx context.Context, req envelope.DecryptionMaterialsRequest) (*envelope.DecryptionMaterials, error) {
	if noKDF(req.Suite) {
		return m.mm.DecryptMaterials(ctx, req)
	}
	id, err := m.decryptionID(req)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	for {
		now := m.now()
		if mat := m.c.getDecryption(id, now); mat != nil {
			return mat, nil
		}
		f, leader := m.join(id)
		if !leader {
			if err := f.wait(ctx); err != nil {
				return nil, err
			}
			continue
		}
		mat, err := m.mm.DecryptMaterials(ctx, req)
		if err == nil {
			m.c.put(&entry{id: id, expiry: now.Add(m.maxAge), dec: mat}, now)
		}
		m.land(ctx, id, f, err)
		return mat, err
	}
}

// encryptionID is the specification's entry identifier of encryption
// materials with an algorithm suite:
// SHA512(SHA512(partition) || 0x01 || suite || SHA512(context)), with the
// names of required context keys, if any, hashed in after it.
func (m *Manager) encryptionID(req envelope.EncryptionMaterialsRequest) (string, error) {
	ec, err := header.SerializeContext(req.Context)
	if err != nil {
		return "", err
	}
	ech := sha512.Sum512(ec)
	h := sha512.New()
	h.Write(m.partition[:])
	h.Write([]byte{0x01})
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(req.Suite)))
	h.Write(ech[:])
	if len(req.RequiredContextKeys) > 0 {
		keys := slices.Sorted(slices.Values(req.RequiredContextKeys))
		h.Write([]byte{0x02})
		for _, k := range keys {
			h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(k))))
			h.Write([]byte(k))
		}
	}
	return string(h.Sum(nil)), nil
}

// decryptionID is the specification's entry identifier of decryption
// materials: SHA512(SHA512(partition) || suite || sorted SHA512 of each
// serialized wrapped key || 64 zero bytes || SHA512(context)).
func (m *Manager) decryptionID(req envelope.DecryptionMaterialsRequest) (string, error) {
	ec, err := header.SerializeContext(req.Context)
	if err != nil {
		return "", err
	}
	hashes := make([][sha512.Size]byte, len(req.EncryptedDataKeys))
	for i, k := range req.EncryptedDataKeys {
		var b []byte
		for _, f := range [][]byte{[]byte(k.ProviderID), k.ProviderInfo, k.Ciphertext} {
			b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
			b = append(b, f...)
		}
		hashes[i] = sha512.Sum512(b)
	}
	slices.SortFunc(hashes, func(a, b [sha512.Size]byte) int { return bytes.Compare(a[:], b[:]) })
	ech := sha512.Sum512(ec)
	h := sha512.New()
	h.Write(m.partition[:])
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(req.Suite)))
	for _, x := range hashes {
		h.Write(x[:])
	}
	h.Write(make([]byte, sha512.Size))
	h.Write(ech[:])
	return string(h.Sum(nil)), nil
}

// Local is an in-memory materials cache of bounded capacity that evicts
// the least recently used entries, and never returns an expired one. One
// Local may serve several Managers. It is safe for concurrent use.
type Local struct {
	mu       sync.Mutex
	capacity int
	lru      *list.List // of *entry, most recently used first
	byID     map[string]*list.Element
}

// pruneTail is how many least recently used entries each access checks
// for expiry.
const pruneTail = 8

type entry struct {
	id              string
	expiry          time.Time
	enc             *envelope.EncryptionMaterials
	dec             *envelope.DecryptionMaterials
	messages, bytes uint64
}

// NewLocal returns a cache of at most capacity entries (0 caches nothing).
func NewLocal(capacity int) *Local {
	return &Local{capacity: max(capacity, 0), lru: list.New(), byID: map[string]*list.Element{}}
}

// Len returns the number of entries, expired ones included until pruned.
func (c *Local) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (e *entry) expired(now time.Time) bool { return !now.Before(e.expiry) }

// useEncryption returns the encryption materials of entry id and counts one
// more message of n bytes against them, if they are fresh and that keeps
// them within maxMsgs and maxBytes; an entry that would exceed them is
// removed.
func (c *Local) useEncryption(id string, now time.Time, n, maxMsgs, maxBytes uint64) *envelope.EncryptionMaterials {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	el, ok := c.byID[id]
	if !ok {
		return nil
	}
	e := el.Value.(*entry)
	if e.enc == nil || e.expired(now) || e.messages >= maxMsgs || e.bytes+n > maxBytes || e.bytes+n < e.bytes {
		c.remove(el)
		return nil
	}
	e.messages++
	e.bytes += n
	c.lru.MoveToFront(el)
	return e.enc
}

func (c *Local) getDecryption(id string, now time.Time) *envelope.DecryptionMaterials {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	el, ok := c.byID[id]
	if !ok {
		return nil
	}
	e := el.Value.(*entry)
	if e.dec == nil || e.expired(now) {
		c.remove(el)
		return nil
	}
	c.lru.MoveToFront(el)
	return e.dec
}

func (c *Local) put(e *entry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	if old, ok := c.byID[e.id]; ok {
		c.remove(old)
	}
	c.byID[e.id] = c.lru.PushFront(e)
	for c.lru.Len() > c.capacity {
		c.remove(c.lru.Back())
	}
}

// prune removes the expired entries among the least recently used.
func (c *Local) prune(now time.Time) {
	el := c.lru.Back()
	for i := 0; i < pruneTail && el != nil; i++ {
		prev := el.Prev()
		if el.Value.(*entry).expired(now) {
			c.remove(el)
		}
		el = prev
	}
}

func (c *Local) remove(el *list.Element) {
	delete(c.byID, el.Value.(*entry).id)
	c.lru.Remove(el)
}
