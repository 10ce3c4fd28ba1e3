package tokenize

import (
	"hash/maphash"
	"sync"
)

// tokenCache remembers recent deterministic tokens, since tink's AES-SIV
// expands its CTR key on every call (1.5 to 3.5 microseconds a value here)
// and real tables repeat values: the customer of every order, the same
// email in every file. It is bounded: 16 shards of at most cacheShardSize entries,
// a shard cleared when full. Safe for concurrent use.
type tokenCache struct {
	seed   maphash.Seed
	shards [16]cacheShard
}

const cacheShardSize = 2048

type cacheShard struct {
	mu sync.Mutex
	m  map[string]string
}

func newTokenCache() *tokenCache { return &tokenCache{seed: maphash.MakeSeed()} }

func (c *tokenCache) shard(v string) *cacheShard {
	return &c.shards[maphash.String(c.seed, v)&15]
}

func (c *tokenCache) get(v string) (string, bool) {
	s := c.shard(v)
	s.mu.Lock()
	tok, ok := s.m[v]
	s.mu.Unlock()
	return tok, ok
}

func (c *tokenCache) put(v, tok string) {
	s := c.shard(v)
	s.mu.Lock()
	if s.m == nil || len(s.m) >= cacheShardSize {
		s.m = make(map[string]string, cacheShardSize)
	}
	s.m[v] = tok
	s.mu.Unlock()
}
