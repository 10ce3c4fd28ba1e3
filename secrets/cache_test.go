package secrets

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a manual Clock for TTL tests: its timers run, in order and in
// the caller's goroutine, when Add moves the time past them.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	timers []*timer
}

type timer struct {
	at      time.Time
	f       func()
	stopped bool
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &timer{at: c.t.Add(d), f: f}
	c.timers = append(c.timers, tm)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !tm.stopped
		tm.stopped = true
		return was
	}
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	var due []*timer
	keep := c.timers[:0]
	for _, tm := range c.timers {
		switch {
		case tm.stopped:
		case !tm.at.After(c.t):
			tm.stopped = true
			due = append(due, tm)
		default:
			keep = append(keep, tm)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	slices.SortFunc(due, func(a, b *timer) int { return a.at.Compare(b.at) })
	for _, tm := range due {
		tm.f()
	}
}

func mustGet(t *testing.T, c *Cache, ref string) string {
	t.Helper()
	s, err := c.Get(context.Background(), MustParseRef(ref))
	if err != nil {
		t.Fatalf("Get(%s): %v", ref, err)
	}
	return s.Reveal()
}

// TestCacheColdStampede: 1,000 goroutines ask for one cold key at once;
// one API call answers them all.
func TestCacheColdStampede(t *testing.T) {
	f := newFixture(t)
	f.sm.Put("db", `{"password":"pw"}`)
	c := NewCache(f.p, CacheOptions{})
	defer c.Close()
	release := f.sm.Hold()
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ref := MustParseRef("secretsmanager://db#password")
	for range n {
		wg.Go(func() {
			s, err := c.Get(context.Background(), ref)
			if err == nil && s.Reveal() != "pw" {
				err = fmt.Errorf("got another value")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	// Release the server only when every goroutine is waiting for the
	// one call in flight.
	for c.Stats().Misses < n {
		runtime.Gosched()
	}
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := f.sm.Calls("GetSecretValue"); got != 1 {
		t.Fatalf("%d GetSecretValue calls for %d concurrent cold Gets, want 1", got, n)
	}
	if st := c.Stats(); st.APICalls != 1 || st.Misses != n || st.Errors != 0 {
		t.Errorf("stats %+v", st)
	}
	// And now it is cached.
	mustGet(t, c, "secretsmanager://db#password")
	if st := c.Stats(); st.Hits != 1 || f.sm.Calls("GetSecretValue") != 1 {
		t.Errorf("after the stampede: %+v", st)
	}
}

// TestCacheRotation: a rotation is picked up within the TTL by the
// refresh ahead of expiry, and the callback fires with both versions.
func TestCacheRotation(t *testing.T) {
	f := newFixture(t)
	clk := newClock()
	v1 := f.sm.Put("db", "one")
	type change struct{ ref, from, to, fromV, toV string }
	changes := make(chan change, 4)
	c := NewCache(f.p, CacheOptions{
		TTL: time.Minute, Jitter: -1, Clock: clk,
		OnChange: func(ref Ref, prev, cur Secret) {
			changes <- change{ref.String(), prev.Reveal(), cur.Reveal(), prev.VersionID(), cur.VersionID()}
		},
	})
	defer c.Close()
	if mustGet(t, c, "secretsmanager://db") != "one" {
		t.Fatal("first value")
	}
	v2 := f.sm.Put("db", "two") // rotation: a new AWSCURRENT

	clk.Add(30 * time.Second) // fresh, before the refresh window
	if mustGet(t, c, "secretsmanager://db") != "one" || f.sm.Calls("GetSecretValue") != 1 {
		t.Fatal("refetched before the refresh window")
	}
	clk.Add(20 * time.Second) // 50s: in the last fifth of the TTL
	if mustGet(t, c, "secretsmanager://db") != "one" {
		t.Fatal("the refresh ahead blocked or changed the current Get")
	}
	ch := <-changes
	if ch != (change{"secretsmanager://db", "one", "two", v1, v2}) {
		t.Errorf("change %+v", ch)
	}
	if mustGet(t, c, "secretsmanager://db") != "two" {
		t.Fatal("rotation not picked up within the TTL")
	}
	if st := c.Stats(); st.Refreshes != 1 || st.APICalls != 2 {
		t.Errorf("stats %+v", st)
	}

	// Without refresh ahead, an expired entry is refetched on Get.
	c2 := NewCache(f.p, CacheOptions{TTL: time.Minute, Jitter: -1, RefreshAhead: -1, Clock: clk,
		OnChange: func(ref Ref, prev, cur Secret) { changes <- change{ref.String(), prev.Reveal(), cur.Reveal(), "", ""} }})
	defer c2.Close()
	mustGet(t, c2, "secretsmanager://db")
	f.sm.Put("db", "three")
	clk.Add(59 * time.Second)
	if mustGet(t, c2, "secretsmanager://db") != "two" {
		t.Fatal("c2 refreshed early")
	}
	clk.Add(time.Second)
	if mustGet(t, c2, "secretsmanager://db") != "three" {
		t.Fatal("c2 did not refetch at expiry")
	}
	if ch := <-changes; ch.from != "two" || ch.to != "three" {
		t.Errorf("c2 change %+v", ch)
	}

	// A source without versions (env) changes when its value does.
	val := "a"
	var mu sync.Mutex
	env := Providers{SchemeEnv: Env{LookupEnv: func(string) (string, bool) { mu.Lock(); defer mu.Unlock(); return val, true }}}
	c3 := NewCache(env, CacheOptions{TTL: time.Minute, Jitter: -1, RefreshAhead: -1, Clock: clk,
		OnChange: func(ref Ref, prev, cur Secret) { changes <- change{ref.String(), prev.Reveal(), cur.Reveal(), "", ""} }})
	defer c3.Close()
	mustGet(t, c3, "env://X")
	clk.Add(time.Minute)
	mustGet(t, c3, "env://X") // same value: no callback
	mu.Lock()
	val = "b"
	mu.Unlock()
	clk.Add(time.Minute)
	mustGet(t, c3, "env://X")
	if ch := <-changes; ch.from != "a" || ch.to != "b" {
		t.Errorf("env change %+v", ch)
	}
	select {
	case ch := <-changes:
		t.Errorf("extra change %+v", ch)
	default:
	}
}

// TestCacheStaleWhileFailing: while refreshes fail (a throttling storm),
// the last good value is served until MaxStale after expiry, with calls
// spaced by RetryInterval; then the error is returned; and the cache
// recovers when the service does.
func TestCacheStaleWhileFailing(t *testing.T) {
	f := newFixture(t)
	clk := newClock()
	f.sm.Put("db", "good")
	c := NewCache(f.p, CacheOptions{TTL: time.Minute, Jitter: -1, RefreshAhead: -1, MaxStale: 5 * time.Minute,
		RetryInterval: 10 * time.Second, Clock: clk})
	defer c.Close()
	ref := "secretsmanager://db"
	mustGet(t, c, ref)
	f.sm.Throttle(-1)
	f.sm.Put("db", "new") // not reachable while throttled

	clk.Add(time.Minute) // expired: the refresh fails, the old value is served
	if mustGet(t, c, ref) != "good" {
		t.Fatal("stale value not served")
	}
	calls := f.sm.Calls("GetSecretValue")
	if calls != 1+6 {
		t.Errorf("%d calls, want 1 + 6 throttled attempts", calls)
	}
	clk.Add(5 * time.Second) // within RetryInterval: no call
	if mustGet(t, c, ref) != "good" || f.sm.Calls("GetSecretValue") != calls {
		t.Fatal("called again within the retry interval")
	}
	clk.Add(5 * time.Second) // retry interval over: one more failing refresh
	if mustGet(t, c, ref) != "good" || f.sm.Calls("GetSecretValue") != calls+6 {
		t.Fatal("no retry after the interval")
	}
	clk.Add(4*time.Minute + 50*time.Second - time.Nanosecond) // just inside MaxStale after expiry
	if mustGet(t, c, ref) != "good" {
		t.Fatal("stale value not served within the bound")
	}
	clk.Add(10 * time.Second) // beyond the bound
	_, err := c.Get(context.Background(), MustParseRef(ref))
	if !errors.Is(err, ErrThrottled) || !strings.Contains(err.Error(), ref) || strings.Contains(err.Error(), "good") {
		t.Fatalf("beyond MaxStale: %v, want ErrThrottled naming the reference", err)
	}
	st := c.Stats()
	if st.Stale != 4 || st.Errors != 4 {
		t.Errorf("stats %+v", st)
	}
	f.sm.Throttle(0)
	clk.Add(10 * time.Second)
	if mustGet(t, c, ref) != "new" {
		t.Fatal("not recovered")
	}
}

// TestCacheNegative: a missing secret is an error, remembered for the
// retry interval so that a loop of Gets does not hammer the service.
func TestCacheNegative(t *testing.T) {
	f := newFixture(t)
	clk := newClock()
	c := NewCache(f.p, CacheOptions{RetryInterval: time.Second, Clock: clk})
	defer c.Close()
	ref := MustParseRef("secretsmanager://later")
	for range 3 {
		if _, err := c.Get(context.Background(), ref); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%v, want ErrNotFound", err)
		}
	}
	if n := f.sm.Calls("GetSecretValue"); n != 1 {
		t.Errorf("%d calls for 3 Gets of a missing secret", n)
	}
	f.sm.Put("later", "v")
	clk.Add(time.Second)
	if mustGet(t, c, "secretsmanager://later") != "v" {
		t.Fatal("not fetched after the retry interval")
	}
}

// TestCacheStagesAndKeys: stages have entries of their own; keys share
// their source's entry and call.
func TestCacheStagesAndKeys(t *testing.T) {
	f := newFixture(t)
	f.sm.Put("db", `{"user":"u1","password":"p1"}`)
	f.sm.Put("db", `{"user":"u2","password":"p2"}`)
	c := NewCache(f.p, CacheOptions{})
	defer c.Close()
	for ref, want := range map[string]string{
		"secretsmanager://db#user": "u2", "secretsmanager://db#password": "p2", "secretsmanager://db?stage=AWSCURRENT#user": "u2",
		"secretsmanager://db?stage=AWSPREVIOUS#password": "p1", "secretsmanager://db?stage=AWSPREVIOUS#user": "u1",
	} {
		if got := mustGet(t, c, ref); got != want {
			t.Errorf("%s = %q, want %q", ref, got, want)
		}
	}
	if n := f.sm.Calls("GetSecretValue"); n != 2 {
		t.Errorf("%d calls, want one per stage", n)
	}
	if _, err := c.Get(context.Background(), MustParseRef("secretsmanager://db#nope")); !errors.Is(err, ErrKey) {
		t.Errorf("missing key: %v", err)
	}
	if c.Stats().Entries != 2 {
		t.Errorf("%d entries", c.Stats().Entries)
	}
}

func TestCacheZeroAllocHit(t *testing.T) {
	env := Providers{SchemeEnv: Env{LookupEnv: func(string) (string, bool) { return `{"k":"v"}`, true }}}
	c := NewCache(env, CacheOptions{})
	defer c.Close()
	ctx := context.Background()
	for _, r := range []string{"env://X", "env://X#k"} {
		ref := MustParseRef(r)
		mustGet(t, c, r)
		mustGet(t, c, r)
		if n := testing.AllocsPerRun(1000, func() { c.Get(ctx, ref) }); n != 0 {
			t.Errorf("cached Get(%s) allocates %.1f times", r, n)
		}
	}
}

func TestCacheMaxEntries(t *testing.T) {
	env := Providers{SchemeEnv: Env{LookupEnv: func(k string) (string, bool) { return k, true }}}
	c := NewCache(env, CacheOptions{MaxEntries: 3})
	defer c.Close()
	for i := range 10 {
		if got := mustGet(t, c, fmt.Sprintf("env://V%d", i)); got != fmt.Sprintf("V%d", i) {
			t.Fatal(got)
		}
		if n := c.Stats().Entries; n > 3 {
			t.Fatalf("%d entries, bound 3", n)
		}
	}
	if st := c.Stats(); st.Evictions != 7 || st.Entries != 3 {
		t.Errorf("stats %+v", st)
	}
	// A recently used entry survives the next eviction.
	mustGet(t, c, "env://V9")
	mustGet(t, c, "env://V10")
	if _, ok := (*c.entries.Load())["env://V9"]; !ok {
		t.Error("the most recently used entry was evicted")
	}
}

// TestCacheWaiterDeadline: a waiter whose context ends returns; the shared
// fetch goes on and fills the cache for the others.
func TestCacheWaiterDeadline(t *testing.T) {
	f := newFixture(t)
	f.sm.Put("db", "v")
	c := NewCache(f.p, CacheOptions{})
	defer c.Close()
	release := f.sm.Hold()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.Get(ctx, MustParseRef("secretsmanager://db"))
		done <- err
	}()
	for f.sm.Arrived() == 0 {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("%v, want Canceled", err)
	}
	release()
	c.wg.Wait()
	if mustGet(t, c, "secretsmanager://db") != "v" || f.sm.Calls("GetSecretValue") != 1 {
		t.Fatal("the shared fetch did not fill the cache")
	}
}

func TestCachePrefetch(t *testing.T) {
	f := newFixture(t)
	var refs []Ref
	for i := range 25 {
		f.sm.Put(fmt.Sprintf("s%d", i), fmt.Sprintf(`{"v":"%d"}`, i))
		refs = append(refs, MustParseRef(fmt.Sprintf("secretsmanager://s%d#v", i)))
	}
	f.sm.Put("s0", `{"v":"new"}`)
	refs = append(refs, MustParseRef("secretsmanager://s0?stage=AWSPREVIOUS#v"))
	for i := range 12 {
		f.ssm.Put(fmt.Sprintf("/p/%d", i), "SecureString", fmt.Sprint(i))
		refs = append(refs, MustParseRef(fmt.Sprintf("ssm:///p/%d", i)))
	}
	refs = append(refs, MustParseRef("env://HOME"), refs[3]) // a duplicate
	c := NewCache(f.p, CacheOptions{})
	defer c.Close()
	if err := c.Prefetch(context.Background(), refs...); err != nil {
		t.Fatal(err)
	}
	if b, g, p := f.sm.Calls("BatchGetSecretValue"), f.sm.Calls("GetSecretValue"), f.ssm.Calls("GetParameters"); b != 2 || g != 1 || p != 2 {
		t.Errorf("BatchGetSecretValue %d (want 2), GetSecretValue %d (want 1), GetParameters %d (want 2)", b, g, p)
	}
	if st := c.Stats(); st.APICalls != 6 || st.Entries != 39 {
		t.Errorf("stats %+v", st)
	}
	calls := f.sm.TotalCalls() + f.ssm.TotalCalls()
	if mustGet(t, c, "secretsmanager://s0#v") != "new" || mustGet(t, c, "secretsmanager://s0?stage=AWSPREVIOUS#v") != "0" ||
		mustGet(t, c, "secretsmanager://s24#v") != "24" || mustGet(t, c, "ssm:///p/11") != "11" {
		t.Error("prefetched values")
	}
	if f.sm.TotalCalls()+f.ssm.TotalCalls() != calls {
		t.Error("Gets after Prefetch called the services")
	}
	// Already fresh: no calls. Missing and denied: errors naming them.
	f.sm.Put("denied", "x")
	f.sm.Deny("denied")
	err := c.Prefetch(context.Background(), append(refs, MustParseRef("secretsmanager://missing"), MustParseRef("secretsmanager://denied"), MustParseRef("ssm:///nope"))...)
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "secretsmanager://missing") || !strings.Contains(err.Error(), "ssm:///nope") {
		t.Errorf("prefetch errors: %v", err)
	}
	if b := f.sm.Calls("BatchGetSecretValue"); b != 3 {
		t.Errorf("%d batch calls, want 3", b)
	}
}

// TestCacheSystemClock runs the system clock's timers: an entry expires
// and is refetched.
func TestCacheSystemClock(t *testing.T) {
	n := 0
	var mu sync.Mutex
	env := Providers{SchemeEnv: Env{LookupEnv: func(string) (string, bool) { mu.Lock(); defer mu.Unlock(); n++; return fmt.Sprint(n), true }}}
	c := NewCache(env, CacheOptions{TTL: 20 * time.Millisecond, Jitter: -1, RefreshAhead: -1})
	defer c.Close()
	ref := MustParseRef("env://X")
	if mustGet(t, c, "env://X") != "1" {
		t.Fatal("first fetch")
	}
	e := (*c.entries.Load())[ref.source]
	for e.state.Load().phase.Load() != expired {
		time.Sleep(time.Millisecond)
	}
	if mustGet(t, c, "env://X") != "2" {
		t.Fatal("not refetched after expiry")
	}
}

// TestCachePrefetchLeastPrivilege: a caller allowed only the single-item
// reads (secretsmanager:GetSecretValue, ssm:GetParameter) gets every
// secret: a lone reference never uses a batch call, and a denied batch
// call falls back to one call per reference, once per provider.
func TestCachePrefetchLeastPrivilege(t *testing.T) {
	f := newFixture(t)
	f.sm.DenyAction("BatchGetSecretValue")
	f.ssm.DenyAction("GetParameters")
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		f.sm.Put(n, "sm-"+n)
		f.ssm.Put("/"+n, "SecureString", "ssm-"+n)
	}
	c := NewCache(f.p, CacheOptions{})
	defer c.Close()
	ctx := context.Background()

	// One reference of each service: single-item calls only.
	if err := c.Prefetch(ctx, MustParseRef("secretsmanager://a"), MustParseRef("ssm:///a")); err != nil {
		t.Fatal(err)
	}
	if b, p := f.sm.Calls("BatchGetSecretValue"), f.ssm.Calls("GetParameters"); b != 0 || p != 0 {
		t.Errorf("one reference each: %d BatchGetSecretValue, %d GetParameters calls, want none", b, p)
	}
	// Several: the denied batch call, then one call each.
	refs := []Ref{MustParseRef("secretsmanager://b"), MustParseRef("secretsmanager://c#k"), MustParseRef("ssm:///b"), MustParseRef("ssm:///c")}
	if err := c.Prefetch(ctx, refs...); err != nil {
		t.Fatalf("prefetch with the batch actions denied: %v", err)
	}
	if mustGet(t, c, "secretsmanager://b") != "sm-b" || mustGet(t, c, "ssm:///c") != "ssm-c" {
		t.Error("values after the fallback")
	}
	// The denial is remembered: no second batch call.
	if err := c.Prefetch(ctx, MustParseRef("secretsmanager://d"), MustParseRef("secretsmanager://e"), MustParseRef("ssm:///d"), MustParseRef("ssm:///e")); err != nil {
		t.Fatal(err)
	}
	if b, g := f.sm.Calls("BatchGetSecretValue"), f.sm.Calls("GetSecretValue"); b != 1 || g != 5 {
		t.Errorf("Secrets Manager: %d batch calls (want 1, denied), %d GetSecretValue (want 5)", b, g)
	}
	if b, g := f.ssm.Calls("GetParameters"), f.ssm.Calls("GetParameter"); b != 1 || g != 5 {
		t.Errorf("SSM: %d GetParameters (want 1, denied), %d GetParameter (want 5)", b, g)
	}

	// GetParameters fails as a whole when one name is denied: the others
	// still arrive, and only the denied one fails.
	f2 := newFixture(t)
	f2.ssm.Put("/ok", "String", "fine")
	f2.ssm.Put("/secret", "String", "no")
	f2.ssm.Deny("/secret")
	c2 := NewCache(f2.p, CacheOptions{})
	defer c2.Close()
	err := c2.Prefetch(ctx, MustParseRef("ssm:///ok"), MustParseRef("ssm:///secret"))
	if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "ssm:///secret") || strings.Contains(err.Error(), "ssm:///ok") {
		t.Errorf("one denied parameter: %v", err)
	}
	if mustGet(t, c2, "ssm:///ok") != "fine" || f2.ssm.Calls("GetParameters") != 1 {
		t.Error("the readable parameter was not fetched by the fallback")
	}
}
