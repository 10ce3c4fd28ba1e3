package cache

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/awskms"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
	kmstest "github.com/mlseal/mlseal/internal/testserver/kms"
)

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }

type fixture struct {
	srv *kmstest.Server
	kr  envelope.Keyring
	clk *clock
}

func setup(t testing.TB) *fixture {
	t.Helper()
	srv := kmstest.New()
	t.Cleanup(srv.Close)
	client := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""), Retryer: aws.NopRetryer{}})
	clients := awskms.ClientProviderFunc(func(context.Context, string) (awskms.Client, error) { return client, nil })
	kr, err := awskms.New(srv.CreateKey("us-east-1"), awskms.Options{Clients: clients})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, kr: kr, clk: newClock()}
}

func (f *fixture) manager(t *testing.T, opts Options) *Manager {
	t.Helper()
	if opts.Now == nil {
		opts.Now = f.clk.now
	}
	m, err := New(envelope.DefaultMaterials(f.kr), opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func encrypt(t *testing.T, mm envelope.MaterialsManager, pt []byte, sizeHint int64, ec map[string]string) []byte {
	t.Helper()
	ct, err := envelope.EncryptBytes(context.Background(), pt, envelope.EncryptOptions{Materials: mm, SizeHint: sizeHint, Context: ec})
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func hdr(t *testing.T, ct []byte) *envelope.Header {
	h, err := envelope.ParseHeader(bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestEncryptionReusesDataKey(t *testing.T) {
	f := setup(t)
	m := f.manager(t, Options{MaxAge: time.Minute})
	pt := make([]byte, 100)
	var cts [][]byte
	for range 10 {
		cts = append(cts, encrypt(t, m, pt, 100, map[string]string{"k": "v"}))
	}
	if got := f.srv.Calls(kmstest.OpGenerateDataKey); got != 1 {
		t.Fatalf("GenerateDataKey calls = %d, want 1", got)
	}
	ids := map[string]bool{}
	for _, ct := range cts {
		h := hdr(t, ct)
		// The same wrapped data key, but a message id, and so message
		// keys, of its own.
		if !bytes.Equal(h.EncryptedDataKeys[0].Ciphertext, hdr(t, cts[0]).EncryptedDataKeys[0].Ciphertext) {
			t.Fatal("messages within the limits got different data keys")
		}
		ids[string(h.MessageID)] = true
		got, err := envelope.DecryptBytes(context.Background(), ct, envelope.DecryptOptions{Keyring: f.kr})
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("decrypt: %v", err)
		}
	}
	if len(ids) != len(cts) {
		t.Fatalf("%d distinct message ids for %d messages", len(ids), len(cts))
	}
}

func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		sizes []int64
		calls int
	}{
		{"max messages", Options{MaxMessages: 3}, []int64{1, 1, 1, 1, 1, 1, 1}, 3},
		{"max bytes", Options{MaxBytes: 250}, []int64{100, 100, 100, 100, 100}, 3},
		{"max bytes exactly", Options{MaxBytes: 300}, []int64{100, 100, 100, 100}, 2},
		{"larger than max bytes", Options{MaxBytes: 50}, []int64{100, 100, 10, 10}, 3},
		{"unknown length", Options{}, []int64{0, 0, 0}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			tc.opts.MaxAge = time.Hour
			m := f.manager(t, tc.opts)
			for _, n := range tc.sizes {
				encrypt(t, m, make([]byte, n), n, nil)
			}
			if got := f.srv.Calls(kmstest.OpGenerateDataKey); got != tc.calls {
				t.Fatalf("GenerateDataKey calls = %d, want %d", got, tc.calls)
			}
		})
	}
}

func TestMaxAge(t *testing.T) {
	f := setup(t)
	m := f.manager(t, Options{MaxAge: 5 * time.Minute})
	encrypt(t, m, []byte("a"), 1, nil)
	f.clk.advance(5*time.Minute - time.Nanosecond)
	encrypt(t, m, []byte("a"), 1, nil)
	if got := f.srv.Calls(kmstest.OpGenerateDataKey); got != 1 {
		t.Fatalf("within max age: %d calls", got)
	}
	f.clk.advance(time.Nanosecond)
	encrypt(t, m, []byte("a"), 1, nil)
	if got := f.srv.Calls(kmstest.OpGenerateDataKey); got != 2 {
		t.Fatalf("at max age: %d calls, want a new data key", got)
	}
	// The new key's age counts from when it was obtained.
	f.clk.advance(time.Minute)
	encrypt(t, m, []byte("a"), 1, nil)
	if got := f.srv.Calls(kmstest.OpGenerateDataKey); got != 2 {
		t.Fatalf("%d calls", got)
	}
	if _, err := New(envelope.DefaultMaterials(f.kr), Options{}); err == nil {
		t.Fatal("no max age accepted")
	}
	if _, err := New(nil, Options{MaxAge: time.Second}); err == nil {
		t.Fatal("no underlying manager accepted")
	}
}

func TestEntriesKeyedBySuiteContextPartition(t *testing.T) {
	f := setup(t)
	shared := NewLocal(10)
	a := f.manager(t, Options{MaxAge: time.Hour, Cache: shared, PartitionID: "jobs"})
	a2 := f.manager(t, Options{MaxAge: time.Hour, Cache: shared, PartitionID: "jobs"})
	b := f.manager(t, Options{MaxAge: time.Hour, Cache: shared})
	calls := func() int { return f.srv.Calls(kmstest.OpGenerateDataKey) }
	encrypt(t, a, []byte("x"), 1, map[string]string{"k": "1"})
	encrypt(t, a2, []byte("x"), 1, map[string]string{"k": "1"}) // same partition: shared
	if calls() != 1 {
		t.Fatalf("same partition: %d calls", calls())
	}
	encrypt(t, b, []byte("x"), 1, map[string]string{"k": "1"}) // another partition
	encrypt(t, a, []byte("x"), 1, map[string]string{"k": "2"}) // another context
	if calls() != 3 {
		t.Fatalf("other partition and context: %d calls, want 3", calls())
	}
	ct, err := envelope.EncryptBytes(context.Background(), []byte("x"), envelope.EncryptOptions{Materials: a, SizeHint: 1,
		Context: map[string]string{"k": "1"}, Suite: envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384})
	if err != nil || calls() != 4 {
		t.Fatalf("another suite: %v, %d calls", err, calls())
	}
	// Signed suites cache the signing key with the data key.
	ct2, err := envelope.EncryptBytes(context.Background(), []byte("y"), envelope.EncryptOptions{Materials: a, SizeHint: 1,
		Context: map[string]string{"k": "1"}, Suite: envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384})
	if err != nil || calls() != 4 || hdr(t, ct).Context["aws-crypto-public-key"] != hdr(t, ct2).Context["aws-crypto-public-key"] {
		t.Fatalf("signed suite: %v, %d calls", err, calls())
	}
	for _, c := range [][]byte{ct, ct2} {
		if _, err := envelope.DecryptBytes(context.Background(), c, envelope.DecryptOptions{Keyring: f.kr}); err != nil {
			t.Fatal(err)
		}
	}
	// Required context keys make entries of their own.
	_, err = envelope.EncryptBytes(context.Background(), []byte("x"), envelope.EncryptOptions{Materials: a, SizeHint: 1,
		Context: map[string]string{"k": "1"}, RequiredContextKeys: []string{"k"}})
	if err != nil || calls() != 5 {
		t.Fatalf("required context: %v, %d calls", err, calls())
	}
}

func TestDecryptionCache(t *testing.T) {
	f := setup(t)
	enc := f.manager(t, Options{MaxAge: time.Hour})
	ec := map[string]string{"k": "v"}
	var cts [][]byte
	for i := range 20 {
		cts = append(cts, encrypt(t, enc, []byte(fmt.Sprint(i)), int64(len(fmt.Sprint(i))), ec))
	}
	dec := f.manager(t, Options{MaxAge: time.Minute})
	for i, ct := range cts {
		pt, err := envelope.DecryptBytes(context.Background(), ct, envelope.DecryptOptions{Materials: dec})
		if err != nil || string(pt) != fmt.Sprint(i) {
			t.Fatalf("decrypt %d: %v", i, err)
		}
	}
	if got := f.srv.Calls(kmstest.OpDecrypt); got != 1 {
		t.Fatalf("Decrypt calls = %d, want 1 for 20 messages sharing a data key", got)
	}
	f.clk.advance(time.Minute)
	if _, err := envelope.DecryptBytes(context.Background(), cts[0], envelope.DecryptOptions{Materials: dec}); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.Calls(kmstest.OpDecrypt); got != 2 {
		t.Fatalf("after max age: %d Decrypt calls, want 2", got)
	}
	// A different context is another entry: KMS is asked, and refuses.
	_, err := envelope.DecryptBytes(context.Background(), encrypt(t, enc, []byte("r"), 1, nil), envelope.DecryptOptions{Materials: dec, Context: map[string]string{"extra": "x"}})
	if err == nil || f.srv.Calls(kmstest.OpDecrypt) != 3 {
		t.Fatalf("different context: %v, %d calls", err, f.srv.Calls(kmstest.OpDecrypt))
	}
	// Failures are not cached.
	f.srv.Throttle("", -1)
	f.clk.advance(time.Hour)
	for range 2 {
		if _, err := envelope.DecryptBytes(context.Background(), cts[0], envelope.DecryptOptions{Materials: dec}); err == nil {
			t.Fatal("decrypted while KMS throttles everything")
		}
	}
}

// countingMM counts the calls that reach the underlying manager.
type countingMM struct {
	envelope.MaterialsManager
	enc, dec atomic.Int32
}

func (c *countingMM) GetEncryptionMaterials(ctx context.Context, req envelope.EncryptionMaterialsRequest) (*envelope.EncryptionMaterials, error) {
	c.enc.Add(1)
	return c.MaterialsManager.GetEncryptionMaterials(ctx, req)
}

func (c *countingMM) DecryptMaterials(ctx context.Context, req envelope.DecryptionMaterialsRequest) (*envelope.DecryptionMaterials, error) {
	c.dec.Add(1)
	return c.MaterialsManager.DecryptMaterials(ctx, req)
}

func TestSuitesWithoutKDFAreNeverCached(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	kr, _ := rawaes.New("ns", "k", key)
	cm := &countingMM{MaterialsManager: envelope.DefaultMaterials(kr)}
	m, _ := New(cm, Options{MaxAge: time.Hour})
	ctx := context.Background()
	for _, tc := range []struct {
		suite  envelope.SuiteID
		cached bool
	}{
		{envelope.AES256GCMIV12Tag16NoKDF, false},
		{envelope.AES128GCMIV12Tag16NoKDF, false},
		{envelope.AES192GCMIV12Tag16NoKDF, false},
		{envelope.AES256GCMIV12Tag16HKDFSHA256, true},
		{envelope.AES256GCMHKDFSHA512CommitKey, true},
	} {
		cm.enc.Store(0)
		cm.dec.Store(0)
		var edks []envelope.EncryptedDataKey
		for range 3 {
			mat, err := m.GetEncryptionMaterials(ctx, envelope.EncryptionMaterialsRequest{Suite: tc.suite, PlaintextLength: 10})
			if err != nil {
				t.Fatal(err)
			}
			edks = mat.EncryptedDataKeys
		}
		for range 3 {
			if _, err := m.DecryptMaterials(ctx, envelope.DecryptionMaterialsRequest{Suite: tc.suite, Context: map[string]string{}, EncryptedDataKeys: edks}); err != nil {
				t.Fatal(err)
			}
		}
		want := int32(3)
		if tc.cached {
			want = 1
		}
		if cm.enc.Load() != want || cm.dec.Load() != want {
			t.Fatalf("suite %s: %d encrypt and %d decrypt calls underneath, want %d", tc.suite, cm.enc.Load(), cm.dec.Load(), want)
		}
	}
}

func TestLocalCapacity(t *testing.T) {
	f := setup(t)
	m := f.manager(t, Options{MaxAge: time.Hour, Cache: NewLocal(2)})
	for _, k := range []string{"a", "b", "a", "c", "a", "b"} {
		encrypt(t, m, []byte("x"), 1, map[string]string{"k": k})
	}
	// a, b: misses; a: hit; c: miss, evicts b (least recently used);
	// a: hit; b: miss.
	if got := f.srv.Calls(kmstest.OpGenerateDataKey); got != 4 {
		t.Fatalf("GenerateDataKey calls = %d, want 4", got)
	}
	none := f.manager(t, Options{MaxAge: time.Hour, Cache: NewLocal(0)})
	f.srv.ResetCalls()
	for range 3 {
		encrypt(t, none, []byte("x"), 1, nil)
	}
	if got := f.srv.Calls(kmstest.OpGenerateDataKey); got != 3 {
		t.Fatalf("capacity 0: %d calls, want 3", got)
	}
	// Expired entries are pruned.
	c := NewLocal(100)
	pruned := f.manager(t, Options{MaxAge: time.Minute, Cache: c})
	for i := range 5 {
		encrypt(t, pruned, []byte("x"), 1, map[string]string{"i": fmt.Sprint(i)})
	}
	f.clk.advance(time.Minute)
	encrypt(t, pruned, []byte("x"), 1, map[string]string{"i": "new"})
	if c.Len() != 1 {
		t.Fatalf("%d entries after expiry, want 1", c.Len())
	}
}

func TestConcurrentUseStaysWithinLimits(t *testing.T) {
	f := setup(t)
	m := f.manager(t, Options{MaxAge: time.Hour, MaxMessages: 5})
	const n = 100
	cts := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ct, err := envelope.EncryptBytes(context.Background(), []byte("x"), envelope.EncryptOptions{Materials: m, SizeHint: 1})
			if err != nil {
				t.Error(err)
			}
			cts[i] = ct
		})
	}
	wg.Wait()
	uses := map[string]int{}
	for _, ct := range cts {
		uses[string(hdr(t, ct).EncryptedDataKeys[0].Ciphertext)]++
	}
	for _, u := range uses {
		if u > 5 {
			t.Fatalf("a data key encrypted %d messages, limit 5", u)
		}
	}
	if got := f.srv.Calls(kmstest.OpGenerateDataKey); got != len(uses) || got < n/5 {
		t.Fatalf("%d GenerateDataKey calls for %d data keys", got, len(uses))
	}
}

// TestConcurrentMissesShareOneCall checks that callers missing the same
// entry at once wait for the one KMS call in flight: 16 parallel messages
// cost 1 GenerateDataKey, and decrypting them 1 Decrypt per distinct
// wrapped key. The test server holds each answer for 200 ms, so that every
// caller misses while the first call is in flight.
func TestConcurrentMissesShareOneCall(t *testing.T) {
	const parallel = 16
	f := setup(t)
	f.srv.SetLatency(200 * time.Millisecond)
	enc := f.manager(t, Options{MaxAge: time.Hour})
	cts := make([][]byte, 2*parallel)
	run := func(fn func(i int) error) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range parallel {
			wg.Go(func() {
				<-start
				if err := fn(i); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	for round, ec := range []map[string]string{{"job": "a"}, {"job": "b"}} {
		f.srv.ResetCalls()
		run(func(i int) error {
			ct, err := envelope.EncryptBytes(context.Background(), []byte("x"), envelope.EncryptOptions{Materials: enc, SizeHint: 1, Context: ec})
			cts[round*parallel+i] = ct
			return err
		})
		if got := f.srv.Calls(kmstest.OpGenerateDataKey); got != 1 {
			t.Fatalf("%d parallel messages: %d GenerateDataKey calls, want 1", parallel, got)
		}
	}
	dec := f.manager(t, Options{MaxAge: time.Hour})
	for round := range 2 {
		f.srv.ResetCalls()
		run(func(i int) error {
			_, err := envelope.DecryptBytes(context.Background(), cts[round*parallel+i], envelope.DecryptOptions{Materials: dec})
			return err
		})
		if got := f.srv.Calls(kmstest.OpDecrypt); got != 1 {
			t.Fatalf("%d parallel messages with one wrapped key: %d Decrypt calls, want 1", parallel, got)
		}
	}
}

// failingMM fails GetEncryptionMaterials once release is closed.
type failingMM struct {
	envelope.MaterialsManager
	release chan struct{}
	calls   atomic.Int32
}

func (f *failingMM) GetEncryptionMaterials(context.Context, envelope.EncryptionMaterialsRequest) (*envelope.EncryptionMaterials, error) {
	f.calls.Add(1)
	<-f.release
	return nil, errors.New("KMS is down")
}

// waiting returns how many callers wait for a call in flight.
func (m *Manager) waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, f := range m.inflight {
		n += f.waiters
	}
	return n
}

// TestFailedCallIsEveryWaitersAnswer checks that the callers waiting for a
// call that fails get its error, without a call of their own.
func TestFailedCallIsEveryWaitersAnswer(t *testing.T) {
	const parallel = 16
	f := &failingMM{release: make(chan struct{})}
	m, _ := New(f, Options{MaxAge: time.Hour})
	req := envelope.EncryptionMaterialsRequest{Suite: envelope.DefaultSuite, PlaintextLength: 1}
	errs := make(chan error, parallel)
	for range parallel {
		go func() {
			_, err := m.GetEncryptionMaterials(context.Background(), req)
			errs <- err
		}()
	}
	for m.waiting() < parallel-1 {
		time.Sleep(time.Millisecond)
	}
	close(f.release)
	for range parallel {
		if err := <-errs; err == nil || err.Error() != "KMS is down" {
			t.Fatalf("a caller got %v, want the failed call's error", err)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("%d calls underneath for %d callers, want 1", n, parallel)
	}
}

// blockingMM blocks GetEncryptionMaterials until its caller's context ends
// or release is closed.
type blockingMM struct {
	envelope.MaterialsManager
	entered chan struct{}
	release chan struct{}
	calls   atomic.Int32
}

func (b *blockingMM) GetEncryptionMaterials(ctx context.Context, req envelope.EncryptionMaterialsRequest) (*envelope.EncryptionMaterials, error) {
	if b.calls.Add(1) == 1 {
		close(b.entered)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-b.release:
		}
	}
	return b.MaterialsManager.GetEncryptionMaterials(ctx, req)
}

// TestWaiterOutlivesCancelledLeader checks that a caller waiting for a call
// whose own caller gave up asks again instead of failing with the other
// caller's cancellation.
func TestWaiterOutlivesCancelledLeader(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	kr, _ := rawaes.New("ns", "k", key)
	b := &blockingMM{MaterialsManager: envelope.DefaultMaterials(kr), entered: make(chan struct{}), release: make(chan struct{})}
	m, _ := New(b, Options{MaxAge: time.Hour})
	req := envelope.EncryptionMaterialsRequest{Suite: envelope.DefaultSuite, PlaintextLength: 1}
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := m.GetEncryptionMaterials(leaderCtx, req)
		leaderErr <- err
	}()
	<-b.entered
	waiter := make(chan error, 1)
	go func() {
		_, err := m.GetEncryptionMaterials(context.Background(), req)
		waiter <- err
	}()
	for m.waiting() < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-leaderErr; err == nil {
		t.Fatal("the cancelled caller got materials")
	}
	if err := <-waiter; err != nil {
		t.Fatalf("the waiting caller failed with the other's cancellation: %v", err)
	}
	// The waiter made one call of its own.
	if n := b.calls.Load(); n != 2 {
		t.Fatalf("%d calls underneath, want 2", n)
	}
}
