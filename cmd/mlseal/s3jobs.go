package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/s3io"
)

// A record is one line of the job manifest.
type record struct {
	Time       time.Time `json:"time"`
	Op         string    `json:"op"` // encrypt or decrypt
	Input      string    `json:"input"`
	Output     string    `json:"output"`
	InputSize  int64     `json:"input_size"`
	OutputSize int64     `json:"output_size,omitempty"`
	MessageID  string    `json:"message_id,omitempty"`
	Source     string    `json:"source,omitempty"` // etag:... or mtime:...
	Status     string    `json:"status"`           // done or failed
	Error      string    `json:"error,omitempty"`
}

// manifest appends records to a JSON-lines file and remembers what earlier
// runs completed.
type manifest struct {
	mu   sync.Mutex
	f    *os.File
	done map[[2]string]record // by input and output
}

func openManifest(name string) (*manifest, error) {
	m := &manifest{done: map[[2]string]record{}}
	if name == "" {
		return m, nil
	}
	if isS3(name) {
		return nil, &cliError{err: errors.New("--manifest must be a local file"), code: exitUsage}
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		var r record
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			// A line cut short by a crash: ignore it.
			continue
		}
		k := [2]string{r.Input, r.Output}
		if r.Status == "done" {
			m.done[k] = r
		} else {
			delete(m.done, k)
		}
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("reading the manifest %s: %w", name, err)
	}
	m.f = f
	return m, nil
}

// add appends a record; the file is synced so that a crash loses at most
// the line being written.
func (m *manifest) add(r record) error {
	if m.f == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return m.f.Sync()
}

func (m *manifest) close() {
	if m.f != nil {
		m.f.Close()
	}
}

// itemFunc processes one item; it returns the output's size and the
// message id.
type itemFunc func(ctx context.Context, it *item, progress func(int64)) (outSize int64, messageID []byte, err error)

// datasetRun holds what a dataset job needs.
type datasetRun struct {
	a      *app
	f      *datasetFlags
	op     string // encrypt or decrypt
	verb   string // encrypted or decrypted
	force  bool
	client *s3io.Client
	s3err  error
	s3once sync.Once
}

// s3 returns the S3 client, creating it on first use.
func (r *datasetRun) s3(ctx context.Context) func() (*s3io.Client, error) {
	return func() (*s3io.Client, error) {
		r.s3once.Do(func() {
			r.client, r.s3err = s3io.NewFromConfig(ctx, s3io.Config{
				Endpoint:  r.f.endpoint,
				PathStyle: r.f.pathStyle,
				Options:   s3io.Options{PartSize: r.f.partSize, Concurrency: r.f.concurrency},
			})
			if r.s3err != nil {
				r.s3err = withHint(r.s3err, "S3 access uses the standard AWS settings: AWS_REGION, AWS_PROFILE, credentials, AWS_ENDPOINT_URL_S3")
			}
		})
		return r.client, r.s3err
	}
}

func (r *datasetRun) checkFlags() error {
	if r.f.jobs < 1 {
		return usageErrorf("--jobs must be at least 1")
	}
	if r.f.partSize != 0 && r.f.partSize < 5<<20 {
		return usageErrorf("--s3-part-size must be at least 5 MiB (S3's smallest part)")
	}
	if r.f.concurrency < 0 {
		return usageErrorf("--s3-concurrency must not be negative")
	}
	if r.f.suffix == "" {
		return usageErrorf("--suffix must not be empty")
	}
	return nil
}

// checkOutput fails early when an output exists and --force is not given.
func (r *datasetRun) checkOutput(ctx context.Context, out loc) error {
	if r.force || out.std() {
		return nil
	}
	if !out.s3() {
		return checkOutput(out.path, false)
	}
	c, err := r.s3(ctx)()
	if err != nil {
		return err
	}
	_, err = c.Head(ctx, out.bucket, out.key)
	switch {
	case err == nil:
		return existsError(out.String())
	case errors.Is(err, s3io.ErrNotFound):
		return nil
	default:
		return err
	}
}

// outputSize returns the size of an existing output, or -1.
func (r *datasetRun) outputSize(ctx context.Context, out loc) int64 {
	if out.s3() {
		c, err := r.s3(ctx)()
		if err != nil {
			return -1
		}
		info, err := c.Head(ctx, out.bucket, out.key)
		if err != nil {
			return -1
		}
		return info.Size
	}
	fi, err := os.Stat(out.path)
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	return fi.Size()
}

// run processes the items in parallel, records them in the manifest, and
// prints progress and a summary.
func (r *datasetRun) run(ctx context.Context, items []*item, process itemFunc) error {
	a := r.a
	// Uploads cancelled by an interrupt abort their multipart uploads.
	abortOnInterrupt.Store(true)
	defer abortOnInterrupt.Store(false)
	m, err := openManifest(r.f.manifest)
	if err != nil {
		return err
	}
	defer m.close()

	single := len(items) == 1 && r.f.manifest == ""
	if single {
		if err := r.checkOutput(ctx, items[0].out); err != nil {
			return err
		}
		_, _, err := process(ctx, items[0], nil)
		return err
	}

	var (
		done, skipped, failed atomic.Int64
		bytesIn               atomic.Int64
		mu                    sync.Mutex // serializes messages on stderr
		hints                 []string
	)
	prog := newProgress(a.stderr, isTerminal(a.stderr), len(items), &bytesIn, &done, &skipped, &failed)
	defer prog.stop()
	start := time.Now()

	work := make(chan *item)
	var wg sync.WaitGroup
	for range min(r.f.jobs, max(len(items), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				rec := record{Op: r.op, Input: it.in.String(), Output: it.out.String(), InputSize: it.size, Source: it.sourceVersion()}
				if prev, ok := m.done[[2]string{rec.Input, rec.Output}]; ok && prev.Source == rec.Source &&
					(prev.InputSize == rec.InputSize || rec.InputSize < 0) && r.outputSize(ctx, it.out) == prev.OutputSize {
					skipped.Add(1)
					continue
				}
				err := r.checkOutput(ctx, it.out)
				var n int64
				var id []byte
				if err == nil {
					n, id, err = process(ctx, it, func(k int64) { bytesIn.Add(k) })
				}
				rec.Time = time.Now().UTC()
				if err != nil {
					failed.Add(1)
					rec.Status, rec.Error = "failed", err.Error()
					mu.Lock()
					prog.clear()
					a.printError(it.in.String(), withoutHint(err))
					if h := hintOf(err); h != "" && !containsString(hints, h) {
						hints = append(hints, h)
					}
					mu.Unlock()
				} else {
					done.Add(1)
					rec.Status, rec.OutputSize, rec.MessageID = "done", n, hex.EncodeToString(id)
				}
				if merr := m.add(rec); merr != nil {
					mu.Lock()
					a.printError("manifest", merr)
					mu.Unlock()
				}
			}
		}()
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		work <- it
	}
	close(work)
	wg.Wait()
	prog.stop()

	elapsed := time.Since(start)
	rate := float64(bytesIn.Load()) / max(elapsed.Seconds(), 1e-3)
	a.logf("%s %d, skipped %d, failed %d of %d inputs (%s in %s, %s/s)", r.verb, done.Load(), skipped.Load(), failed.Load(), len(items),
		humanBytes(float64(bytesIn.Load())), elapsed.Round(time.Millisecond), humanBytes(rate))
	for _, h := range hints {
		fmt.Fprintf(a.stderr, "mlseal: hint: %s\n", h)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if failed.Load() > 0 {
		return &batchError{failed: int(failed.Load()), total: len(items)}
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// openSource opens an input for reading.
func (r *datasetRun) openSource(ctx context.Context, in loc, progress func(int64)) (io.Reader, func(), error) {
	var rd io.Reader
	var closer func()
	switch {
	case in.s3():
		c, err := r.s3(ctx)()
		if err != nil {
			return nil, nil, err
		}
		obj, err := c.Get(ctx, in.bucket, in.key, s3io.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		rd, closer = obj, func() { obj.Close() }
	default:
		var err error
		rd, closer, err = r.a.openInput(in.path)
		if err != nil {
			return nil, nil, err
		}
	}
	if progress != nil {
		rd = &progressReader{r: rd, progress: progress}
	}
	return rd, closer, nil
}

// writeLocal writes a local output (or stdout) through a temporary file,
// committed only when write succeeds.
func (r *datasetRun) writeLocal(out loc, perm fs.FileMode, write func(w io.Writer) error) (int64, error) {
	if !out.std() {
		if dir := filepath.Dir(out.path); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return 0, err
			}
		}
	}
	o, err := r.a.createOutput(out.path, r.force, perm)
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: o.w}
	if err := write(cw); err != nil {
		o.abort()
		return 0, err
	}
	if err := o.commit(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

// encryptItem encrypts one item with opts.
func (r *datasetRun) encryptItem(opts envelope.EncryptOptions) itemFunc {
	return func(ctx context.Context, it *item, progress func(int64)) (int64, []byte, error) {
		src, closeSrc, err := r.openSource(ctx, it.in, progress)
		if err != nil {
			return 0, nil, err
		}
		defer closeSrc()
		o := opts
		if it.size > 0 {
			o.SizeHint = it.size
		}
		if it.out.s3() {
			c, err := r.s3(ctx)()
			if err != nil {
				return 0, nil, err
			}
			if o.FrameLength == 0 {
				o.FrameLength = s3io.DefaultFrameLength
			}
			res, err := c.Upload(ctx, it.out.bucket, it.out.key, src, o, s3io.PutOptions{Size: it.size, NoOverwrite: !r.force})
			if errors.Is(err, s3io.ErrExists) {
				err = existsError(it.out.String())
			}
			if err != nil {
				return 0, nil, err
			}
			return res.Size, res.Header.MessageID, nil
		}
		var id []byte
		n, err := r.writeLocal(it.out, 0o666, func(w io.Writer) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ew, err := envelope.Encrypt(ctx, w, o)
			if err != nil {
				return err
			}
			id = ew.Header().MessageID
			if _, err := copyData(ew, src); err != nil {
				cancel()
				ew.Close()
				return err
			}
			return ew.Close()
		})
		return n, id, err
	}
}

// decryptItem decrypts one item with opts.
func (r *datasetRun) decryptItem(opts envelope.DecryptOptions, hint func(error) string) itemFunc {
	return func(ctx context.Context, it *item, progress func(int64)) (outSize int64, id []byte, err error) {
		defer func() { err = withHint(err, hint(err)) }()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		src, closeSrc, err := r.openSource(ctx, it.in, progress)
		if err != nil {
			return 0, nil, err
		}
		defer closeSrc()
		dr, err := envelope.Decrypt(ctx, bufio.NewReaderSize(src, 64<<10), opts)
		if err != nil {
			return 0, nil, err
		}
		id = dr.Header().MessageID
		if it.out.s3() {
			c, err := r.s3(ctx)()
			if err != nil {
				return 0, nil, err
			}
			// A message that fails to authenticate fails the reader, which
			// aborts the upload: nothing becomes visible.
			res, err := c.Put(ctx, it.out.bucket, it.out.key, dr, s3io.PutOptions{NoOverwrite: !r.force})
			if errors.Is(err, s3io.ErrExists) {
				err = existsError(it.out.String())
			}
			if err != nil {
				return 0, nil, err
			}
			return res.Size, id, nil
		}
		n, err := r.writeLocal(it.out, 0o600, func(w io.Writer) error {
			_, err := copyData(w, dr)
			return err
		})
		return n, id, err
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type progressReader struct {
	r        io.Reader
	progress func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.progress(int64(n))
	}
	return n, err
}

// encryptDataset runs encrypt as a dataset job.
func (a *app) encryptDataset(ctx context.Context, f *encryptFlags, args []string, opts envelope.EncryptOptions) error {
	r := &datasetRun{a: a, f: &f.dataset, op: "encrypt", verb: "encrypted", force: f.force}
	if err := r.checkFlags(); err != nil {
		return err
	}
	items, err := a.planDataset(ctx, r.f, args, f.out, func(base string) string { return base + r.f.suffix }, r.s3(ctx))
	if err != nil {
		return err
	}
	if len(items) == 1 && items[0].out.std() && isTerminal(a.stdout) && f.out != "-" {
		return &cliError{
			err:  fmt.Errorf("refusing to write encrypted binary data to the terminal"),
			hint: "pass -o FILE, or -o - to write to the terminal anyway",
		}
	}
	if err := a.sealingKeys(f, &opts, len(items)); err != nil {
		return err
	}
	return r.run(ctx, items, r.encryptItem(opts))
}

// decryptDataset runs decrypt as a dataset job.
func (a *app) decryptDataset(ctx context.Context, f *decryptFlags, args []string) error {
	r := &datasetRun{a: a, f: &f.dataset, op: "decrypt", verb: "decrypted", force: f.force}
	if err := r.checkFlags(); err != nil {
		return err
	}
	suffix := r.f.suffix
	items, err := a.planDataset(ctx, r.f, args, f.out, func(base string) string {
		if s, ok := cutSuffix(base, suffix); ok {
			return s
		}
		return base + ".dec"
	}, r.s3(ctx))
	if err != nil {
		return err
	}
	opts, keys, err := a.openOptions(f)
	if err != nil {
		return err
	}
	if err := batchDecryptMaterials(&opts, keys, len(items)); err != nil {
		return err
	}
	return r.run(ctx, items, r.decryptItem(opts, func(err error) string { return openHint(err, keys, f) }))
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}
