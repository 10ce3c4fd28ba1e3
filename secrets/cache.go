package secrets

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of CacheOptions.
const (
	DefaultTTL           = 5 * time.Minute
	DefaultJitter        = 0.1
	DefaultMaxStale      = 15 * time.Minute
	DefaultRetryInterval = 10 * time.Second
	DefaultMaxEntries    = 1024
	DefaultFetchTimeout  = 30 * time.Second
)

// CacheOptions configure a Cache. The zero value means the defaults.
type CacheOptions struct {
	// TTL is how long a fetched value is served; zero means DefaultTTL.
	TTL time.Duration
	// Jitter shortens each entry's TTL by a random fraction up to Jitter,
	// so that entries fetched together do not expire together; zero means
	// DefaultJitter, a negative value none.
	Jitter float64
	// RefreshAhead is how long before expiry a Get starts a refresh in the
	// background while it keeps serving the current value; zero means a
	// fifth of the TTL, a negative value no refresh ahead.
	RefreshAhead time.Duration
	// MaxStale bounds how long after expiry the last good value is still
	// served while refreshes fail (throttling, an outage, a revoked
	// permission); zero means DefaultMaxStale, a negative value never.
	MaxStale time.Duration
	// RetryInterval is how long after a failed fetch no new call is made
	// for the same secret: the stale value, or the error, is returned
	// meanwhile. Zero means DefaultRetryInterval.
	RetryInterval time.Duration
	// MaxEntries bounds the number of secrets held; zero means
	// DefaultMaxEntries. Beyond it the least recently used are dropped
	// (approximately: a second-chance scan).
	MaxEntries int
	// FetchTimeout bounds each fetch that the cache makes; zero means
	// DefaultFetchTimeout. A fetch is shared by all the callers that wait
	// for it, so it does not end when one of them gives up.
	FetchTimeout time.Duration
	// OnChange, if set, is called after a refresh finds a new version of a
	// secret (a rotation): a different version id, or for sources without
	// versions (env, file) a different value. It is called from the
	// refreshing goroutine, one call at a time per secret, and may be
	// called concurrently for different secrets. ref is the source
	// reference, without a JSON key.
	OnChange func(ref Ref, previous, current Secret)
	// Clock is the time source; nil means the system clock. For tests.
	Clock Clock
}

// A Clock tells the time and runs functions later: the system clock, or a
// manual one in tests.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// Stats are a cache's counters since it was created.
type Stats struct {
	Hits      uint64 // Gets answered from a fresh entry without waiting
	Misses    uint64 // Gets that found no fresh entry
	Stale     uint64 // Gets answered with an expired value because refreshing failed
	APICalls  uint64 // provider calls (one per batch; SDK retries not counted)
	Errors    uint64 // failed provider calls, and failed items of batches
	Refreshes uint64 // refreshes started ahead of expiry
	Evictions uint64 // entries dropped to stay within MaxEntries
	Entries   int    // entries held now
}

// A Cache holds secrets fetched from a Provider (usually [Providers]) and
// serves them until they expire, refreshing ahead of expiry in the
// background. However many goroutines ask for a secret at once, one
// provider call fetches it. References that differ only in their JSON key
// share one entry and one call; references to different versions or
// stages of a secret have entries of their own, so ?stage=AWSPREVIOUS is
// honoured.
//
// A Cache is safe for concurrent use. Close it to stop background
// refreshes.
type Cache struct {
	p     Provider
	opts  CacheOptions
	clock Clock

	entries atomic.Pointer[map[string]*entry] // copy on write, under mu
	mu      sync.Mutex

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	hits, misses, stale, calls, errors, refreshes, evictions atomic.Uint64
	// uses numbers uses in order, for least-recently-used eviction without
	// reading a clock on the hit path.
	uses atomic.Uint64
	// batchRefused holds the BatchProviders whose batch call was denied;
	// their references are fetched one by one.
	batchRefused sync.Map
}

type entry struct {
	ref   Ref // source, without key
	state atomic.Pointer[state]
	used  atomic.Uint64 // the cache's use count at this entry's last use

	mu       sync.Mutex
	inflight *call
	retryAt  time.Time // no new fetch before this, after a failure
	lastErr  error     // the failure, returned until retryAt when no value is held
}

// state is one fetched version of a secret. It never changes once
// published, except for its phase, which timers advance, and its memo of
// selected keys. Timers rather than clock readings keep the time out of a
// cached Get: reading the clock can cost more than the rest of it.
type state struct {
	secret    Secret
	refreshAt time.Time
	expires   time.Time
	phase     atomic.Int32 // fresh, refreshDue, expired
	stops     []func() bool
	keys      atomic.Pointer[map[string]*selected] // copy on write, under keysMu
	keysMu    sync.Mutex
}

// The phases of a state.
const (
	fresh int32 = iota
	refreshDue
	expired
)

// stop cancels st's timers.
func (st *state) stop() {
	if st != nil {
		for _, stop := range st.stops {
			stop()
		}
	}
}

type selected struct {
	s   Secret
	err error
}

type call struct {
	done chan struct{}
	st   *state
	err  error
}

// NewCache returns a cache of the secrets p fetches.
func NewCache(p Provider, opts CacheOptions) *Cache {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	switch {
	case opts.Jitter == 0:
		opts.Jitter = DefaultJitter
	case opts.Jitter < 0:
		opts.Jitter = 0
	case opts.Jitter > 1:
		opts.Jitter = 1
	}
	switch {
	case opts.RefreshAhead == 0:
		opts.RefreshAhead = opts.TTL / 5
	case opts.RefreshAhead < 0:
		opts.RefreshAhead = 0
	}
	switch {
	case opts.MaxStale == 0:
		opts.MaxStale = DefaultMaxStale
	case opts.MaxStale < 0:
		opts.MaxStale = 0
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = DefaultFetchTimeout
	}
	c := &Cache{p: p, opts: opts, clock: opts.Clock}
	if c.clock == nil {
		c.clock = systemClock{}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	m := map[string]*entry{}
	c.entries.Store(&m)
	return c
}

// Close stops the cache's background refreshes and waits for them to end.
// Gets after Close still answer from the cache and fetch what is missing.
func (c *Cache) Close() error {
	c.cancel()
	c.wg.Wait()
	for _, e := range *c.entries.Load() {
		e.state.Load().stop()
	}
	return nil
}

func (c *Cache) now() time.Time { return c.clock.Now() }

// Get returns the secret named by ref, with its JSON key applied: from the
// cache when it holds a fresh value (a cached Get does not allocate), or
// after fetching it. While a refresh fails, the last good value is served
// until MaxStale after its expiry; then the error is returned. ctx bounds
// how long Get waits; the fetch itself runs under FetchTimeout, shared
// with other waiters.
func (c *Cache) Get(ctx context.Context, ref Ref) (Secret, error) {
	if e := (*c.entries.Load())[ref.source]; e != nil {
		if st := e.state.Load(); st != nil {
			if p := st.phase.Load(); p != expired {
				if p == refreshDue {
					c.refreshAhead(e, ctx)
				}
				c.hits.Add(1)
				e.used.Store(c.uses.Add(1))
				return st.get(ref)
			}
		}
	}
	return c.slow(ctx, ref)
}

// GetString parses ref and calls Get.
func (c *Cache) GetString(ctx context.Context, ref string) (Secret, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return Secret{}, err
	}
	return c.Get(ctx, r)
}

func (c *Cache) slow(ctx context.Context, ref Ref) (Secret, error) {
	if ref.IsZero() {
		return Secret{}, errors.New("secrets: the zero Ref names no secret")
	}
	c.misses.Add(1)
	e := c.entry(ref)
	e.used.Store(c.uses.Add(1))
	e.mu.Lock()
	st := e.state.Load()
	now := c.now()
	switch {
	case st != nil && st.phase.Load() != expired:
		e.mu.Unlock()
		return st.get(ref)
	case now.Before(e.retryAt):
		// A fetch failed recently: do not call again yet.
		err := e.lastErr
		e.mu.Unlock()
		if c.staleOK(st, now) {
			c.stale.Add(1)
			return st.get(ref)
		}
		return Secret{}, forRef(err, ref)
	}
	cl := e.inflight
	if cl == nil {
		cl = c.start(ctx, e)
	}
	e.mu.Unlock()

	select {
	case <-cl.done:
	case <-ctx.Done():
		return Secret{}, &Error{Ref: ref, Err: ctx.Err()}
	}
	if cl.err == nil {
		return cl.st.get(ref)
	}
	if c.staleOK(st, c.now()) {
		c.stale.Add(1)
		return st.get(ref)
	}
	return Secret{}, forRef(cl.err, ref)
}

func (c *Cache) staleOK(st *state, now time.Time) bool {
	return st != nil && c.opts.MaxStale > 0 && now.Before(st.expires.Add(c.opts.MaxStale))
}

// refreshAhead starts a background refresh of e unless one is running or
// a failure is recent.
func (c *Cache) refreshAhead(e *entry, ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inflight != nil || c.ctx.Err() != nil || c.now().Before(e.retryAt) {
		return
	}
	c.refreshes.Add(1)
	c.start(ctx, e)
}

// start begins fetching e in the background; e.mu is held.
func (c *Cache) start(ctx context.Context, e *entry) *call {
	cl := &call{done: make(chan struct{})}
	e.inflight = cl
	c.wg.Add(1)
	go c.fetchOne(ctx, e, cl)
	return cl
}

// fetchOne fetches e with a single-item call and finishes cl; the caller
// has added it to c.wg.
func (c *Cache) fetchOne(ctx context.Context, e *entry, cl *call) {
	defer c.wg.Done()
	fctx, cancel := c.fetchContext(ctx)
	defer cancel()
	c.calls.Add(1)
	s, err := c.p.Fetch(fctx, e.ref)
	c.finish(e, cl, s, err)
}

// fetchContext is the context of a shared fetch: the values of the caller
// that started it, but not its cancellation; FetchTimeout; and the end of
// the cache.
func (c *Cache) fetchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.FetchTimeout)
	stop := context.AfterFunc(c.ctx, cancel)
	return fctx, func() { stop(); cancel() }
}

// finish publishes the result of a fetch of e and wakes its waiters.
func (c *Cache) finish(e *entry, cl *call, s Secret, err error) {
	now := c.now()
	e.mu.Lock()
	var old *state
	if err == nil {
		ttl := c.opts.TTL
		if c.opts.Jitter > 0 {
			ttl -= time.Duration(rand.Float64() * c.opts.Jitter * float64(ttl))
		}
		st := &state{secret: s, expires: now.Add(ttl)}
		ahead := min(c.opts.RefreshAhead, ttl/2)
		st.refreshAt = st.expires.Add(-ahead)
		if ahead > 0 {
			st.stops = append(st.stops, c.clock.AfterFunc(ttl-ahead, func() { st.phase.CompareAndSwap(fresh, refreshDue) }))
		}
		st.stops = append(st.stops, c.clock.AfterFunc(ttl, func() { st.phase.Store(expired) }))
		old = e.state.Swap(st)
		old.stop()
		e.retryAt, e.lastErr = time.Time{}, nil
		cl.st = st
	} else {
		c.errors.Add(1)
		e.retryAt, e.lastErr = now.Add(c.opts.RetryInterval), err
		cl.err = err
	}
	e.inflight = nil
	e.mu.Unlock()
	close(cl.done)
	if err == nil && old != nil && c.opts.OnChange != nil && changed(old.secret, s) {
		c.opts.OnChange(e.ref, old.secret, s)
	}
}

func changed(old, cur Secret) bool {
	if old.VersionID() != "" || cur.VersionID() != "" {
		return old.VersionID() != cur.VersionID()
	}
	return !old.Equal(cur)
}

// get returns the secret with ref's key applied, memoized per key.
func (st *state) get(ref Ref) (Secret, error) {
	if ref.key == "" {
		return st.secret, nil
	}
	if m := st.keys.Load(); m != nil {
		if sel := (*m)[ref.key]; sel != nil {
			return sel.s, sel.err
		}
	}
	s, err := Select(st.secret, ref)
	st.keysMu.Lock()
	defer st.keysMu.Unlock()
	m := map[string]*selected{}
	if old := st.keys.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[ref.key] = &selected{s: s, err: err}
	st.keys.Store(&m)
	return s, err
}

// entry returns the entry of ref's source, creating it.
func (c *Cache) entry(ref Ref) *entry {
	if e := (*c.entries.Load())[ref.source]; e != nil {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := *c.entries.Load()
	if e := cur[ref.source]; e != nil {
		return e
	}
	m := make(map[string]*entry, len(cur)+1)
	for k, v := range cur {
		m[k] = v
	}
	for len(m) >= c.opts.MaxEntries {
		c.evict(m)
	}
	e := &entry{ref: ref.Source()}
	m[ref.source] = e
	c.entries.Store(&m)
	return e
}

// evict drops the least recently used entry of m.
func (c *Cache) evict(m map[string]*entry) {
	var victim string
	oldest := uint64(math.MaxUint64)
	for k, e := range m {
		if u := e.used.Load(); u < oldest {
			victim, oldest = k, u
		}
	}
	m[victim].state.Load().stop()
	delete(m, victim)
	c.evictions.Add(1)
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Stale: c.stale.Load(), APICalls: c.calls.Load(),
		Errors: c.errors.Load(), Refreshes: c.refreshes.Load(), Evictions: c.evictions.Load(),
		Entries: len(*c.entries.Load()),
	}
}

// Invalidate drops the cached value of ref's source, so that the next Get
// fetches it.
func (c *Cache) Invalidate(ref Ref) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := *c.entries.Load()
	if _, ok := cur[ref.source]; !ok {
		return
	}
	m := make(map[string]*entry, len(cur))
	for k, v := range cur {
		if k != ref.source {
			m[k] = v
		}
	}
	c.entries.Store(&m)
	cur[ref.source].state.Load().stop()
}

// Prefetch fetches the secrets of refs that the cache does not hold fresh,
// in as few calls as the providers allow: BatchGetSecretValue takes 20
// secrets per call (AWSCURRENT only: other stages and version ids are
// fetched one by one with GetSecretValue), GetParameters 10 parameters;
// the others take one call each, made concurrently. A lone reference is
// fetched with the single-item call (GetSecretValue, GetParameter), and
// when AWS denies a batch call (IAM policies that allow only the
// single-item actions), its references are fetched one by one, as are
// later ones of the same provider. It returns the errors of the secrets
// it could not fetch (and has no stale value for), joined.
func (c *Cache) Prefetch(ctx context.Context, refs ...Ref) error {
	type batch struct {
		es  []*entry
		cls []*call
	}
	now := c.now()
	var waits []*call
	var stale []*state
	var errs []error
	batches := map[BatchProvider]*batch{}
	seen := map[string]bool{}
	for _, r := range refs {
		if r.IsZero() || seen[r.source] {
			continue
		}
		seen[r.source] = true
		e := c.entry(r)
		e.used.Store(c.uses.Add(1))
		e.mu.Lock()
		st := e.state.Load()
		switch {
		case st != nil && st.phase.Load() != expired:
		case e.inflight != nil:
			waits, stale = append(waits, e.inflight), append(stale, st)
		case now.Before(e.retryAt):
			if !c.staleOK(st, now) {
				errs = append(errs, e.lastErr)
			}
		default:
			if bp := c.batcher(r); bp != nil {
				cl := &call{done: make(chan struct{})}
				e.inflight = cl
				b := batches[bp]
				if b == nil {
					b = &batch{}
					batches[bp] = b
				}
				b.es, b.cls = append(b.es, e), append(b.cls, cl)
				waits, stale = append(waits, cl), append(stale, st)
			} else {
				waits, stale = append(waits, c.start(ctx, e)), append(stale, st)
			}
		}
		e.mu.Unlock()
	}
	for bp, b := range batches {
		n := max(bp.BatchSize(), 1)
		for i := 0; i < len(b.es); i += n {
			j := min(i+n, len(b.es))
			c.wg.Add(1)
			if j-i == 1 {
				// One reference: the single-item call, which the
				// narrowest IAM policy (GetSecretValue, GetParameter)
				// allows.
				go c.fetchOne(ctx, b.es[i], b.cls[i])
				continue
			}
			go c.runBatch(ctx, bp, b.es[i:j], b.cls[i:j])
		}
	}
	for i, cl := range waits {
		select {
		case <-cl.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if cl.err != nil && !c.staleOK(stale[i], c.now()) {
			errs = append(errs, cl.err)
		}
	}
	return errors.Join(errs...)
}

// batcher returns the batch provider for r, or nil.
func (c *Cache) batcher(r Ref) BatchProvider {
	p := c.p
	if ps, ok := p.(Providers); ok {
		p = ps[r.scheme]
	}
	if bp, ok := p.(BatchProvider); ok && bp.Batchable(r) && bp.BatchSize() > 1 {
		if _, refused := c.batchRefused.Load(bp); !refused {
			return bp
		}
	}
	return nil
}

// runBatch fetches es in one batch call and finishes their calls; the
// ones the batch does not answer are fetched one by one.
func (c *Cache) runBatch(ctx context.Context, bp BatchProvider, es []*entry, cls []*call) {
	defer c.wg.Done()
	fctx, cancel := c.fetchContext(ctx)
	defer cancel()
	refs := make([]Ref, len(es))
	for i, e := range es {
		refs[i] = e.ref
	}
	c.calls.Add(1)
	secrets, errs, err := bp.FetchBatch(fctx, refs)
	if err != nil && isAccessDenied(err) {
		// IAM refused the batch action itself (a policy that allows
		// GetSecretValue or GetParameter only, or for GetParameters one
		// parameter the caller may not read): fetch each reference on its
		// own, now and from then on, so that each fails or succeeds by
		// its own permissions.
		c.batchRefused.Store(bp, true)
		for i, e := range es {
			c.wg.Add(1)
			go c.fetchOne(ctx, e, cls[i])
		}
		return
	}
	for i, e := range es {
		switch {
		case err != nil:
			c.finish(e, cls[i], Secret{}, awsError(e.ref, err))
		case errs[i] != nil:
			c.finish(e, cls[i], Secret{}, errs[i])
		case !secrets[i].IsZero():
			c.finish(e, cls[i], secrets[i], nil)
		default:
			c.calls.Add(1)
			s, err := bp.Fetch(fctx, e.ref)
			c.finish(e, cls[i], s, err)
		}
	}
}
