package secrets

import (
	"context"
	"testing"
)

func benchCache(b *testing.B, ref string) (*Cache, Ref) {
	env := Providers{SchemeEnv: Env{LookupEnv: func(string) (string, bool) { return `{"password":"pw"}`, true }}}
	c := NewCache(env, CacheOptions{})
	b.Cleanup(func() { c.Close() })
	r := MustParseRef(ref)
	if _, err := c.Get(context.Background(), r); err != nil {
		b.Fatal(err)
	}
	return c, r
}

// BenchmarkCacheGetHit is a cached Get of a whole secret: the issue's
// budget is 100 ns and no allocation.
func BenchmarkCacheGetHit(b *testing.B) {
	c, r := benchCache(b, "env://DB")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.Get(ctx, r)
	}
}

// BenchmarkCacheGetHitKey is a cached Get of one JSON key of a secret.
func BenchmarkCacheGetHitKey(b *testing.B) {
	c, r := benchCache(b, "env://DB#password")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.Get(ctx, r)
	}
}

func BenchmarkCacheGetHitParallel(b *testing.B) {
	c, r := benchCache(b, "env://DB#password")
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Get(ctx, r)
		}
	})
}

// BenchmarkCacheMissSecretsManager is a Get that misses and fetches from
// the Secrets Manager test server on loopback, through the real SDK
// client (signing, JSON 1.1, HTTP): the cost next to a hit.
func BenchmarkCacheMissSecretsManager(b *testing.B) {
	f := newFixture(b)
	f.sm.Put("db", `{"password":"pw"}`)
	c := NewCache(f.p, CacheOptions{})
	defer c.Close()
	r := MustParseRef("secretsmanager://db#password")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.Invalidate(r)
		if _, err := c.Get(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheMissSSM is the same against the SSM test server.
func BenchmarkCacheMissSSM(b *testing.B) {
	f := newFixture(b)
	f.ssm.Put("/db/password", "SecureString", "pw")
	c := NewCache(f.p, CacheOptions{})
	defer c.Close()
	r := MustParseRef("ssm:///db/password")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.Invalidate(r)
		if _, err := c.Get(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
