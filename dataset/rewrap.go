package dataset

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/mlseal/mlseal/atomicfile"
	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/s3io"
)

// Rewrap gives each message new wrapping keys without re-encrypting it: it
// unwraps the data key with Options.Decrypt, wraps it with
// Options.Keyring, writes a new header and copies the body unchanged
// (envelope.Rewrap). From S3 to S3 the body is copied by S3 itself
// (s3io.Client.Rewrap): only the header and the first 5 MiB pass through
// the job. Outputs keep their input's name.
//
// With InPlace each input is replaced by its rewrapped version and
// Options.Destination is not used. An S3 object is replaced only if it is
// still the version that was read (a conditional write on its ETag); a
// local file is replaced by renaming the new version over it, which does
// not check that the file is unchanged since it was read.
//
// Rewrap keeps the data key: it retires a key for the future but does not
// help against whoever already unwrapped a data key, and whoever holds both
// versions of a message can forge changes to it (see envelope.Rewrap).
// Set Reencrypt for those cases, and for signed or legacy messages, which
// cannot be rewrapped.
type Rewrap struct {
	// Options unwrap each data key (Options.Decrypt: the old keys and the
	// expected encryption context) and wrap it anew (Options.Keyring,
	// which must not be a generator: multi.New(nil, keys...)). Messages
	// that share a data key and encryption context (as a batch encrypted
	// with a caching materials manager does) share its new wrapped keys:
	// Options.Keyring is asked once per distinct data key (concurrent items
	// wait for the one call in flight), so that a batch costs as few key
	// service calls to rewrap as it did to write.
	Options envelope.RewrapOptions
	// InPlace replaces each input instead of writing an output. Results
	// then name no output, and record the version written as the item's
	// source, so that a rerun with a manifest skips the items done.
	InPlace bool
	// Reencrypt, when set, decrypts each message with Options.Decrypt and
	// encrypts its plaintext anew under these options: a new data key and
	// message id. The new message keeps the old one's encryption context
	// (required pairs stay required) and, unless Suite is set, whether it
	// is signed. Options.Keyring is then unused.
	Reencrypt *envelope.EncryptOptions
	// Keys name the new wrapping keys, for a manifest's record of the job
	// (see Configured), as Encrypt.Keys do.
	Keys []string

	memoOnce sync.Once
	memo     *wrapMemo
}

// options are Options with the job's memo of wrapped data keys.
func (rw *Rewrap) options() envelope.RewrapOptions {
	rw.memoOnce.Do(func() {
		if rw.Options.Keyring != nil {
			rw.memo = newWrapMemo(rw.Options.Keyring)
		}
	})
	o := rw.Options
	if rw.memo != nil {
		o.Keyring = rw.memo
	}
	return o
}

func (rw *Rewrap) Name() string {
	if rw.Reencrypt != nil {
		return "reencrypt"
	}
	return "rewrap"
}

// OutputName keeps the input's name; in place there is no separate output.
func (rw *Rewrap) OutputName(base string) string {
	if rw.InPlace {
		return ""
	}
	return base
}

func (rw *Rewrap) Apply(ctx context.Context, t *Task) error {
	in, out := t.Item.In, t.Item.Out
	if rw.InPlace {
		if in.IsStd() {
			return usagef("stdin cannot be rewrapped in place")
		}
		out = in
	}
	if rw.Reencrypt != nil {
		return rw.reencrypt(ctx, t)
	}
	if in.IsS3() && out.IsS3() {
		return rw.inS3(ctx, t, out)
	}
	src, err := t.Open()
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(src, 64<<10)
	h, err := envelope.RewrapHeader(ctx, br, rw.options())
	if err != nil {
		return err
	}
	describe(t.Result, h.New)
	w, err := rw.create(t, CreateOptions{Perm: 0o666, Metadata: messageMetadata(h.New)})
	if err != nil {
		return err
	}
	if _, err := w.Write(h.Header); err != nil {
		return err
	}
	if _, err = copyData(w, br); err != nil {
		return err
	}
	return rw.wrote(t)
}

// create opens the output, or in place the new version of the input.
func (rw *Rewrap) create(t *Task, opts CreateOptions) (io.Writer, error) {
	if !rw.InPlace {
		return t.Create(opts)
	}
	it := t.Item
	dir := it.InRoot
	if dir == "" {
		dir = filepath.Dir(it.In.Path)
	}
	rel, err := filepath.Rel(dir, it.In.Path)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	perm := fs.FileMode(0o600)
	if fi, err := root.Stat(rel); err == nil {
		perm = fi.Mode().Perm()
	}
	o := &pendingOutput{root: root, rel: rel, name: it.In.Path, overwrite: true}
	if o.tmp, err = atomicfile.CreateIn(root, rel, perm); err != nil {
		root.Close()
		return nil, err
	}
	o.count = &countingWriter{w: o.tmp}
	o.w = o.count
	t.out = o
	return &watchedWriter{w: o.w, wd: t.watch}, nil
}

// wrote records, in place, the version of the input that was written as
// the item's source, so that a rerun with a manifest skips it.
func (rw *Rewrap) wrote(t *Task) error {
	if !rw.InPlace || t.out == nil || t.out.tmp == nil {
		return nil
	}
	fi, err := t.out.tmp.Stat()
	if err != nil {
		return err
	}
	v := Item{ModTime: fi.ModTime(), Size: fi.Size()}
	t.Result.Source, t.Result.InputSize = v.SourceVersion(), fi.Size()
	return nil
}

// inS3 rewraps an object into an object with a server-side copy of its body.
func (rw *Rewrap) inS3(ctx context.Context, t *Task, out Location) error {
	c, err := t.S3()
	if err != nil {
		return err
	}
	in := t.Item.In
	inPlace := in == out
	put := s3io.RewrapObjectOptions{
		InPlace:     inPlace,
		NoOverwrite: !inPlace && !t.job.opts.Overwrite,
		Progress:    t.moved,
	}
	if t.job.manifest != nil && !inPlace {
		// As Task.Create does: a rerun recognises an output this job
		// wrote but did not record.
		put.Metadata = map[string]string{MetaSource: sourceTag(t.Item)}
	}
	res, err := c.Rewrap(ctx, in.Bucket, in.Key, out.Bucket, out.Key, rw.options(), put)
	if err != nil {
		return err
	}
	describe(t.Result, res.Rewrapped.New)
	t.Result.OutputSize = res.Size
	t.job.bytesOut.Add(res.Size)
	if rw.InPlace {
		v := Item{ETag: res.ETag}
		t.Result.Source, t.Result.InputSize = v.SourceVersion(), res.Size
	}
	return nil
}

// moved reports n bytes of the item dealt with by a step that does not read
// through Open, such as a server-side copy: progress, and proof of life
// for the stall watchdog.
func (t *Task) moved(n int64) {
	t.watch.touch()
	t.job.bytesIn.Add(n)
	t.job.emit(Event{Kind: EventProgress, Item: t.Item, Bytes: n})
}

// reencrypt decrypts the message and encrypts its plaintext anew.
func (rw *Rewrap) reencrypt(ctx context.Context, t *Task) error {
	dec := rw.Options.Decrypt
	dr, cancel, err := openMessage(ctx, t, dec)
	if err != nil {
		return err
	}
	defer cancel()
	old := dr.Header()
	o := *rw.Reencrypt
	o.Context = maps.Clone(old.Context)
	for k, v := range dec.Context {
		if _, stored := old.Context[k]; !stored {
			o.Context[k] = v
			o.RequiredContextKeys = append(o.RequiredContextKeys, k)
		}
	}
	slices.Sort(o.RequiredContextKeys)
	// The public key of a signed message is the format's, not the caller's.
	delete(o.Context, "aws-crypto-public-key")
	if o.Suite == 0 && old.Suite.Signed() {
		o.Suite = envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384
	}
	create := CreateOptions{Perm: 0o666}
	if t.Item.Out.IsS3() {
		if o.FrameLength == 0 {
			o.FrameLength = s3io.DefaultFrameLength
		}
		create.Metadata = s3io.EncryptedMetadata(o)
	}
	w, err := rw.create(t, create)
	if err != nil {
		return err
	}
	ectx, ecancel := context.WithCancel(ctx)
	defer ecancel()
	ew, err := envelope.Encrypt(ectx, w, o)
	if err != nil {
		return err
	}
	describe(t.Result, ew.Header())
	if _, err := copyData(ew, dr); err != nil {
		ecancel() // stop the workers; the output is discarded
		ew.Close()
		return err
	}
	if err := ew.Close(); err != nil {
		return err
	}
	return rw.wrote(t)
}

// messageMetadata is the S3 metadata s3io.Upload writes, for a header.
func messageMetadata(h *envelope.Header) map[string]string {
	return s3io.EncryptedMetadata(envelope.EncryptOptions{Suite: h.Suite, FrameLength: h.FrameLength})
}

// maxWrapMemo bounds the data keys a wrapMemo remembers: a job that meets
// more wraps the others each time.
const maxWrapMemo = 10000

// A wrapMemo wraps each distinct data key, with its encryption context,
// once; concurrent messages under one data key wait for the one wrap in
// flight. Entries are found by an HMAC of the data key under a random key
// of the memo's own, so that the memo holds no data key.
type wrapMemo struct {
	envelope.Keyring
	key [32]byte
	mu  sync.Mutex
	m   map[[32]byte]*wrapped
}

// wrapped is one data key's wrapping, done or in flight.
type wrapped struct {
	done chan struct{}
	edks []envelope.EncryptedDataKey
	err  error
}

func newWrapMemo(kr envelope.Keyring) *wrapMemo {
	w := &wrapMemo{Keyring: kr, m: map[[32]byte]*wrapped{}}
	rand.Read(w.key[:])
	return w
}

func (w *wrapMemo) OnEncrypt(ctx context.Context, m *envelope.EncryptionMaterials) error {
	if m.DataKey == nil || len(m.EncryptedDataKeys) > 0 {
		return w.Keyring.OnEncrypt(ctx, m)
	}
	id := w.id(m)
	w.mu.Lock()
	e, ok := w.m[id]
	if !ok && len(w.m) < maxWrapMemo {
		e = &wrapped{done: make(chan struct{})}
		w.m[id] = e
	}
	w.mu.Unlock()
	switch {
	case e == nil: // the memo is full
		return w.Keyring.OnEncrypt(ctx, m)
	case ok:
		select {
		case <-e.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if e.err == nil {
			m.EncryptedDataKeys = slices.Clone(e.edks)
			return nil
		}
		// The wrap this message waited for failed (its own context may
		// have ended): try again on its own.
		return w.Keyring.OnEncrypt(ctx, m)
	}
	e.err = w.Keyring.OnEncrypt(ctx, m)
	e.edks = slices.Clone(m.EncryptedDataKeys)
	if e.err != nil {
		w.mu.Lock()
		delete(w.m, id)
		w.mu.Unlock()
	}
	close(e.done)
	return e.err
}

// id identifies a data key with its suite and encryption context.
func (w *wrapMemo) id(m *envelope.EncryptionMaterials) (id [32]byte) {
	mac := hmac.New(sha256.New, w.key[:])
	field := func(b []byte) {
		mac.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		mac.Write(b)
	}
	field(binary.BigEndian.AppendUint16(nil, uint16(m.Suite)))
	field(m.DataKey)
	for _, k := range slices.Sorted(maps.Keys(m.Context)) {
		field([]byte(k))
		field([]byte(m.Context[k]))
	}
	for _, k := range m.RequiredContextKeys {
		field([]byte(k))
	}
	mac.Sum(id[:0])
	return id
}
