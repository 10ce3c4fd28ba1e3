package tokenize

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// tokenCache remembers recent deterministic tokens, since real tables
// repeat values (the customer of every order, the same email in every
// file) and a lookup costs less than AES-SIV and base64. It is bounded: 16
// shards of at most cacheShardSize entries, a shard cleared when full.
//
// On distinct values a cache is pure overhead (a lookup, and two strings
// stored per value), so the streaming functions measure its hit rate a
// batch at a time and turn it off while fewer than one lookup in four
// hits; while it is off, one value in 16 still goes through it, to notice
// when values start to repeat. Safe for concurrent use.
type tokenCache struct {
	seed   maphash.Seed
	shards [16]cacheShard

	// The lookups and hits reported since the last decision.
	lookups, hits atomic.Int64
	off           atomic.Bool
}

const (
	cacheShardSize = 2048
	// cacheWindow is the lookups between two decisions to use the cache
	// (while it is off, cacheWindow / cacheSample).
	cacheWindow = 4096
	// cacheSample is the share of values (one in cacheSample) that go
	// through a cache that is off.
	cacheSample = 16
)

type cacheShard struct {
	mu sync.Mutex
	m  map[string]string
}

func newTokenCache() *tokenCache { return &tokenCache{seed: maphash.MakeSeed()} }

func (c *tokenCache) shard(v []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, v)&15]
}

// cacheUse is one batch's use of a cache.
type cacheUse struct {
	values, lookups, hits int64
}

// use reports whether the next value should go through the cache.
func (c *tokenCache) use(u *cacheUse) bool {
	u.values++
	return !c.off.Load() || u.values%cacheSample == 0
}

// lookup returns the token of v, counting the lookup in u.
func (c *tokenCache) lookup(v []byte, u *cacheUse) (string, bool) {
	u.lookups++
	s := c.shard(v)
	s.mu.Lock()
	tok, ok := s.m[string(v)]
	s.mu.Unlock()
	if ok {
		u.hits++
	}
	return tok, ok
}

// report adds a batch's lookups and hits, and decides whether the cache
// pays once a window's worth of lookups is in.
func (c *tokenCache) report(u *cacheUse) {
	if u.lookups == 0 {
		return
	}
	l, h := c.lookups.Add(u.lookups), c.hits.Add(u.hits)
	window := int64(cacheWindow)
	if c.off.Load() {
		// Lookups are sampled: decide after as many values.
		window /= cacheSample
	}
	if l >= window {
		c.off.Store(4*h < l)
		c.lookups.Add(-l)
		c.hits.Add(-h)
	}
}

func (c *tokenCache) get(v string) (string, bool) {
	s := &c.shards[maphash.String(c.seed, v)&15]
	s.mu.Lock()
	tok, ok := s.m[v]
	s.mu.Unlock()
	return tok, ok
}

func (c *tokenCache) put(v, tok string) {
	s := &c.shards[maphash.String(c.seed, v)&15]
	s.mu.Lock()
	if s.m == nil || len(s.m) >= cacheShardSize {
		s.m = make(map[string]string, cacheShardSize)
	}
	s.m[v] = tok
	s.mu.Unlock()
}
