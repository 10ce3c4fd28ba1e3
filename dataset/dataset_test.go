package dataset_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/cache"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
	"github.com/mlseal/mlseal/s3io"
)

func testKeyring(t testing.TB) envelope.Keyring {
	t.Helper()
	kr, err := rawaes.New("dataset-test", "key", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func encryptOp(t testing.TB) *dataset.Encrypt {
	return &dataset.Encrypt{Options: envelope.EncryptOptions{Keyring: testKeyring(t), Context: map[string]string{"dataset": "test"}}}
}

func decryptOp(t testing.TB) *dataset.Decrypt {
	return &dataset.Decrypt{Options: envelope.DecryptOptions{Keyring: testKeyring(t), Context: map[string]string{"dataset": "test"}}}
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// writeTree writes files (by "/"-separated relative name) under dir.
func writeTree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// listTree returns the relative names of the files under dir.
func listTree(t testing.TB, dir string) []string {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(names)
	return names
}

// collect gathers a job's item results from its events.
type collect struct {
	mu      sync.Mutex
	results map[string]*dataset.Result // by input
	bytes   int64
}

func (c *collect) events(e dataset.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e.Kind {
	case dataset.EventItem:
		if c.results == nil {
			c.results = map[string]*dataset.Result{}
		}
		c.results[e.Result.Input] = e.Result
	case dataset.EventProgress:
		c.bytes += e.Bytes
	}
}

func TestLocalRoundTrip(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{}
	for i := range 20 {
		files[fmt.Sprintf("d%d/f%02d.csv", i%3, i)] = randomBytes(t, i*1000)
	}
	writeTree(t, filepath.Join(dir, "in"), files)
	ctx := context.Background()

	var c collect
	sum, err := dataset.Run(ctx, dataset.Options{
		Sources: []dataset.Source{dataset.Source(filepath.Join(dir, "in"))}, Destination: dataset.Destination(filepath.Join(dir, "enc")),
		Operation: encryptOp(t), Jobs: 4, Events: c.events,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 20 || sum.Total != 20 || sum.Failed != 0 {
		t.Fatalf("summary %+v", sum)
	}
	if c.bytes != sum.BytesIn || len(c.results) != 20 {
		t.Errorf("events: %d bytes, %d results; summary %+v", c.bytes, len(c.results), sum)
	}
	for _, r := range c.results {
		if len(r.MessageID) != 64 || r.Suite == "" || len(r.WrappingKeys) != 1 || !strings.HasPrefix(r.WrappingKeys[0], "dataset-test ") ||
			!slices.Equal(r.ContextKeys, []string{"dataset"}) || r.Status != dataset.StatusDone {
			t.Errorf("result %+v", r)
		}
	}
	if _, err := dataset.Run(ctx, dataset.Options{
		Sources: []dataset.Source{dataset.Source(filepath.Join(dir, "enc"))}, Destination: dataset.Destination(filepath.Join(dir, "dec")),
		Operation: decryptOp(t), Jobs: 3,
	}); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(dir, "dec", filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// hostileKeys are object names below the prefix "p/" that must never be
// written outside a local destination, with whether an S3 destination
// takes them.
var hostileKeys = map[string]bool{
	"p/../../../escape.enc":   false,
	"p/../escape2.enc":        false,
	"p/a/../../escape3.enc":   false,
	"p/./dot.enc":             false,
	"p/..":                    false,
	"p//abs.enc":              false, // the name "/abs.enc" is absolute
	"p/nul\x00.enc":           false,
	"p/empty//segment.enc":    true,
	"p/back\\..\\slash.enc":   true,
	"p/c:\\windows\\name.enc": true,
}

// hostileBucket returns a fake S3 client holding a message under each
// hostile key and under p/ok.enc and p/sub/ok2.enc.
func hostileBucket(t *testing.T) (*s3io.Client, *fakeS3, []byte) {
	t.Helper()
	api := newFakeS3()
	plain := []byte("hello")
	msg, err := envelope.EncryptBytes(context.Background(), plain, encryptOp(t).Options)
	if err != nil {
		t.Fatal(err)
	}
	for k := range hostileKeys {
		api.put(k, msg, nil)
	}
	api.put("p/ok.enc", msg, nil)
	api.put("p/sub/ok2.enc", msg, nil)
	return s3io.New(api, s3io.Options{}), api, plain
}

func TestHostileNamesS3ToLocal(t *testing.T) {
	c, _, plain := hostileBucket(t)
	base := t.TempDir()
	out := filepath.Join(base, "a", "b", "c", "out")
	var col collect
	sum, err := dataset.Run(context.Background(), dataset.Options{
		Sources: []dataset.Source{"s3://bucket/p/"}, Destination: dataset.Destination(out),
		Operation: decryptOp(t), S3: c, Events: col.events,
	})
	var be *dataset.BatchError
	if !errors.As(err, &be) || be.Failed != len(hostileKeys) || sum.Done != 2 {
		t.Fatalf("err %v, summary %+v", err, sum)
	}
	for k := range hostileKeys {
		r := col.results["s3://bucket/"+k]
		if r == nil || r.Status != dataset.StatusFailed || r.ErrorClass != dataset.ClassUnsafeName ||
			!errors.Is(r.Err(), dataset.ErrUnsafeName) || !strings.Contains(r.Error, "refused") {
			t.Errorf("%q: %+v", k, r)
		}
	}
	// Only the two safe names were written, both inside out.
	if got := listTree(t, base); !slices.Equal(got, []string{"a/b/c/out/ok", "a/b/c/out/sub/ok2"}) {
		t.Errorf("files written: %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "ok")); !bytes.Equal(b, plain) {
		t.Error("the safe item differs")
	}
}

func TestHostileNamesS3ToS3(t *testing.T) {
	c, api, _ := hostileBucket(t)
	var col collect
	_, err := dataset.Run(context.Background(), dataset.Options{
		Sources: []dataset.Source{"s3://bucket/p/"}, Destination: "s3://bucket/q/",
		Operation: decryptOp(t), S3: c, Events: col.events,
	})
	var be *dataset.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("err %v", err)
	}
	want := []string{"q/ok", "q/sub/ok2"}
	for k, s3ok := range hostileKeys {
		r := col.results["s3://bucket/"+k]
		if s3ok {
			if r.Status != dataset.StatusDone {
				t.Errorf("%q: %+v", k, r)
			}
			want = append(want, "q/"+strings.TrimSuffix(strings.TrimPrefix(k, "p/"), ".enc"))
		} else if r.ErrorClass != dataset.ClassUnsafeName {
			t.Errorf("%q: %+v", k, r)
		}
	}
	slices.Sort(want)
	var got []string
	for _, k := range api.keys() {
		if strings.HasPrefix(k, "q/") || !strings.HasPrefix(k, "p/") {
			got = append(got, k)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("objects written %q, want %q", got, want)
	}
}

func TestCollisionsRefused(t *testing.T) {
	api := newFakeS3()
	msg, _ := envelope.EncryptBytes(context.Background(), []byte("x"), encryptOp(t).Options)
	// d decrypts to d.dec, and so does d.dec.enc.
	api.put("p/d", msg, nil)
	api.put("p/d.dec.enc", msg, nil)
	api.put("p/e.enc", msg, nil)
	out := t.TempDir()
	var col collect
	sum, err := dataset.Run(context.Background(), dataset.Options{
		Sources: []dataset.Source{"s3://bucket/p/"}, Destination: dataset.Destination(out),
		Operation: decryptOp(t), S3: s3io.New(api, s3io.Options{}), Events: col.events,
	})
	if err == nil || sum.Failed != 2 || sum.Done != 1 {
		t.Fatalf("err %v, summary %+v", err, sum)
	}
	for _, k := range []string{"p/d", "p/d.dec.enc"} {
		if r := col.results["s3://bucket/"+k]; r.ErrorClass != dataset.ClassUnsafeName || !strings.Contains(r.Error, "would both be written") {
			t.Errorf("%s: %+v", k, r)
		}
	}
	if got := listTree(t, out); !slices.Equal(got, []string{"e"}) {
		t.Errorf("written: %q", got)
	}
}

func TestLocalHostileNames(t *testing.T) {
	base := t.TempDir()
	in := filepath.Join(base, "in")
	writeTree(t, in, map[string][]byte{"ok.csv": []byte("ok"), `back\slash.csv`: []byte("b"), "sub/x.csv": []byte("x")})
	writeTree(t, base, map[string][]byte{"secret.txt": []byte("outside")})
	// A link out of the input directory, and one inside it.
	if err := os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(in, "out-link.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok.csv", filepath.Join(in, "in-link.csv")); err != nil {
		t.Fatal(err)
	}
	// The destination holds a link to a directory outside it, where an
	// output would land if links were followed.
	out := filepath.Join(base, "out")
	if err := os.MkdirAll(filepath.Join(base, "elsewhere"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "elsewhere"), filepath.Join(out, "sub")); err != nil {
		t.Fatal(err)
	}
	run := func(follow bool) (map[string]*dataset.Result, error) {
		var col collect
		_, err := dataset.Run(context.Background(), dataset.Options{
			Sources: []dataset.Source{dataset.Source(in)}, Destination: dataset.Destination(out),
			Operation: encryptOp(t), FollowSymlinks: follow, Overwrite: true, Events: col.events,
		})
		return col.results, err
	}
	res, err := run(false)
	if err == nil {
		t.Fatal("no error")
	}
	for name, want := range map[string]dataset.Class{
		`back\slash.csv`: dataset.ClassUnsafeName,
		"out-link.csv":   dataset.ClassUnsafeName,
		"sub/x.csv":      dataset.ClassUnsafeName, // the destination's link is not followed
		"ok.csv":         "",
		"in-link.csv":    "",
	} {
		r := res[filepath.Join(in, filepath.FromSlash(name))]
		if r == nil || r.ErrorClass != want {
			t.Errorf("%s: %+v, want class %q", name, r, want)
		}
	}
	if got := listTree(t, filepath.Join(base, "elsewhere")); len(got) != 0 {
		t.Errorf("written through the destination's link: %q", got)
	}
	res, _ = run(true)
	if r := res[filepath.Join(in, "out-link.csv")]; r.Status != dataset.StatusDone {
		t.Errorf("with FollowSymlinks: %+v", r)
	}
}

// exampleKeyring is a raw AES key for the examples: real jobs use a KMS
// key or a key file (envelope/keyfile).
func exampleKeyring() envelope.Keyring {
	kr, err := rawaes.New("example", "key", bytes.Repeat([]byte{1}, 32))
	if err != nil {
		panic(err)
	}
	return kr
}

// TestSharedDataKey: parallel items share one cached data key, which the
// summary counts through a KeyCounter under the cache.
func TestSharedDataKey(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{}
	for i := range 40 {
		files[fmt.Sprintf("f%02d", i)] = randomBytes(t, 100)
	}
	writeTree(t, filepath.Join(dir, "in"), files)
	kc := dataset.CountKeyCalls(testKeyring(t))
	mm, err := cache.New(envelope.DefaultMaterials(kc), cache.Options{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := dataset.Run(context.Background(), dataset.Options{
		Sources: []dataset.Source{dataset.Source(filepath.Join(dir, "in"))}, Destination: dataset.Destination(filepath.Join(dir, "enc")),
		Operation: &dataset.Encrypt{Options: envelope.EncryptOptions{Materials: mm}}, Jobs: 16, Keys: kc,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 40 || sum.DataKeysGenerated != 1 {
		t.Errorf("summary %+v, want 40 done with 1 data key", sum)
	}
}

// TestItemTimeout: an item still running at ItemTimeout fails with the
// deadline class (a named pipe with no writer never delivers a byte), and
// the job returns.
func TestItemTimeout(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "never.fifo")
	if err := mkfifo(fifo); err != nil {
		t.Skip("no named pipes:", err)
	}
	// Keep the pipe open for writing, so that opening it succeeds and the
	// read waits.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var col collect
	_, err = dataset.Run(context.Background(), dataset.Options{
		Sources: []dataset.Source{dataset.Source(fifo)}, Destination: dataset.Destination(filepath.Join(dir, "out.enc")),
		Operation: encryptOp(t), ItemTimeout: 200 * time.Millisecond, StallTimeout: -1, Events: col.events,
	})
	r := col.results[fifo]
	if err == nil || r == nil || r.ErrorClass != dataset.ClassDeadline || !strings.Contains(r.Error, "deadline") {
		t.Fatalf("%v: %+v", err, r)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.enc")); err == nil {
		t.Error("a timed-out item left its output")
	}
}

// slowWriter takes its time over the first write, as a paused reader of a
// pipe does.
type slowWriter struct {
	bytes.Buffer
	once sync.Once
	wait time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { time.Sleep(w.wait) })
	return w.Buffer.Write(p)
}

// TestStdioPausesAreNotStalls: a writer of stdin or a reader of stdout
// that pauses for longer than StallTimeout does not stall the item.
func TestStdioPausesAreNotStalls(t *testing.T) {
	const stall = 100 * time.Millisecond
	plain := randomBytes(t, 1<<20)
	pr, pw := io.Pipe()
	go func() {
		pw.Write(plain[:1000])
		time.Sleep(5 * stall)
		pw.Write(plain[1000:])
		pw.Close()
	}()
	var enc bytes.Buffer
	if _, err := dataset.Run(context.Background(), dataset.Options{
		Operation: encryptOp(t), Stdin: pr, Stdout: &enc, StallTimeout: stall,
	}); err != nil {
		t.Fatalf("stdin paused: %v", err)
	}
	out := &slowWriter{wait: 5 * stall}
	if _, err := dataset.Run(context.Background(), dataset.Options{
		Operation: decryptOp(t), Stdin: &enc, Stdout: out, StallTimeout: stall,
	}); err != nil {
		t.Fatalf("stdout paused: %v", err)
	}
	if !bytes.Equal(out.Bytes(), plain) {
		t.Error("round trip differs")
	}
}

// TestEncryptFileStdinFromItsPosition: stdin that is a regular file is read
// with positional reads from where its offset stands, counted for
// progress, and left at its end, as reading it through would.
func TestEncryptFileStdinFromItsPosition(t *testing.T) {
	plain := randomBytes(t, 3<<20+7)
	path := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(path, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const skip = 1000
	if _, err := f.Seek(skip, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	op := encryptOp(t)
	op.Options.Workers = 4
	op.Options.FrameLength = 64 << 10
	var enc bytes.Buffer
	var c collect
	if _, err := dataset.Run(context.Background(), dataset.Options{
		Operation: op, Stdin: f, Stdout: &enc, Events: c.events,
	}); err != nil {
		t.Fatal(err)
	}
	got, err := envelope.DecryptBytes(context.Background(), enc.Bytes(), decryptOp(t).Options)
	if err != nil || !bytes.Equal(got, plain[skip:]) {
		t.Fatalf("decrypted %d bytes, %v; want the %d bytes after the offset", len(got), err, len(plain)-skip)
	}
	if c.bytes != int64(len(plain)-skip) {
		t.Errorf("progress counted %d bytes, want %d", c.bytes, len(plain)-skip)
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != int64(len(plain)) {
		t.Errorf("stdin left at offset %d, want its end %d", pos, len(plain))
	}
}

// TestEncryptFileThatGrew: a file that grew between planning and reading
// fails with an error naming it and saying what to do, not the envelope's
// size hint; nothing is written.
func TestEncryptFileThatGrew(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "log.csv")
	if err := os.WriteFile(in, randomBytes(t, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := dataset.Options{
		Sources: []dataset.Source{dataset.Source(in)}, Destination: dataset.Destination(filepath.Join(dir, "out.enc")),
		Operation: encryptOp(t),
	}
	items, err := dataset.Plan(ctx, opts)
	if err != nil || len(items) != 1 {
		t.Fatalf("plan: %v, %d items", err, len(items))
	}
	f, err := os.OpenFile(in, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(randomBytes(t, 1000))
	f.Close()
	job, err := dataset.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := job.Do(ctx, items[0])
	if r.Status == dataset.StatusDone || !strings.Contains(r.Error, "log.csv grew while the job ran") || !strings.Contains(r.Error, "encrypt a copy") {
		t.Fatalf("result %s: %q", r.Status, r.Error)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.enc")); !os.IsNotExist(err) {
		t.Errorf("an output was left: %v", err)
	}
}

// TestOutputIsTheInput: an output that names the input's file, under any
// name, is refused before anything is read, --force or not: it would
// replace the plaintext with its ciphertext in place.
func TestOutputIsTheInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "data.csv")
	plain := randomBytes(t, 5000)
	if err := os.WriteFile(in, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(in, filepath.Join(dir, "alias.csv")); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{in, filepath.Join(dir, "alias.csv"), filepath.Join(dir, ".", "data.csv")} {
		_, err := dataset.Run(context.Background(), dataset.Options{
			Sources: []dataset.Source{dataset.Source(in)}, Destination: dataset.Destination(out),
			Operation: encryptOp(t), Overwrite: true,
		})
		if err == nil || !strings.Contains(err.Error(), "both the input and the output") {
			t.Errorf("output %s: %v", out, err)
		}
	}
	if got, _ := os.ReadFile(in); !bytes.Equal(got, plain) {
		t.Fatal("the input was changed")
	}
}
