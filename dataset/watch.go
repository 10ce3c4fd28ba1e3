package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// A watchdog cancels an attempt that moves no bytes for too long.
type watchdog struct {
	last  atomic.Int64 // unix nanoseconds of the last byte moved
	limit time.Duration
	// waiting counts reads from stdin and writes to stdout in progress:
	// whoever is at the other end may pause as long as they like.
	waiting atomic.Int32
}

// watch starts a watchdog on the attempt whose context cancel cancels;
// stop ends it. A limit <= 0 watches nothing.
func watch(limit time.Duration, cancel context.CancelCauseFunc) (w *watchdog, stop func()) {
	w = &watchdog{limit: limit}
	w.touch()
	if limit <= 0 {
		return w, func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(max(limit/8, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				if w.waiting.Load() > 0 {
					w.touch()
					continue
				}
				if now.Sub(time.Unix(0, w.last.Load())) >= limit {
					cancel(fmt.Errorf("%w: no bytes moved for %s", ErrStalled, limit))
					return
				}
			}
		}
	}()
	return w, func() { close(done) }
}

func (w *watchdog) touch() { w.last.Store(time.Now().UnixNano()) }

// watchedReader reports progress and feeds the watchdog.
type watchedReader struct {
	r    io.Reader
	w    *watchdog
	job  *Job
	item *Item
}

func (r *watchedReader) Read(p []byte) (int, error) {
	if r.item.In.IsStd() {
		r.w.waiting.Add(1)
		defer r.w.waiting.Add(-1)
	}
	n, err := r.r.Read(p)
	if n > 0 {
		r.w.touch()
		r.job.bytesIn.Add(int64(n))
		r.job.emit(Event{Kind: EventProgress, Item: r.item, Bytes: int64(n)})
	}
	return n, err
}

// section returns what remains of the input as a section of a regular
// file, whose reads are counted and watched as Read's are, when the input
// is one: encrypting reads it with positional reads on every worker.
// Reading on through r after the section has been read goes on from its
// end, where seekPast puts the file.
func (r *watchedReader) section() (sr *io.SectionReader, seekPast func(n int64) error, ok bool) {
	f := regularFile(r.r)
	if f == nil {
		return nil, nil, false
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, false
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil || pos > fi.Size() {
		return nil, nil, false
	}
	at := &watchedReaderAt{f: f, r: r}
	seekPast = func(n int64) error {
		_, err := f.Seek(pos+n, io.SeekStart)
		return err
	}
	return io.NewSectionReader(at, pos, fi.Size()-pos), seekPast, true
}

// size returns the size of the regular file the input is.
func (r *watchedReader) size() (int64, error) {
	f := regularFile(r.r)
	if f == nil {
		return 0, errors.New("not a regular file")
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// regularFile returns r as a regular file, or nil.
func regularFile(r io.Reader) *os.File {
	f, ok := r.(*os.File)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	return f
}

// watchedReaderAt is a watchedReader's file read at offsets, by several
// goroutines at once.
type watchedReaderAt struct {
	f *os.File
	r *watchedReader
}

func (a *watchedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := a.f.ReadAt(p, off)
	if n > 0 {
		a.r.w.touch()
		a.r.job.bytesIn.Add(int64(n))
		a.r.job.emit(Event{Kind: EventProgress, Item: a.r.item, Bytes: int64(n)})
	}
	return n, err
}

// watchedWriter feeds the watchdog.
type watchedWriter struct {
	w      io.Writer
	wd     *watchdog
	stdout bool
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	if w.stdout {
		w.wd.waiting.Add(1)
		defer w.wd.waiting.Add(-1)
	}
	n, err := w.w.Write(p)
	if n > 0 {
		w.wd.touch()
	}
	return n, err
}

// watched returns a context for S3 calls outside an item (planning) that
// is cancelled when they make no progress for StallTimeout: touch reports
// progress, and end stops the watch and explains err if it was the cause.
func (j *Job) watched(ctx context.Context) (wctx context.Context, touch func(), end func(error) error) {
	wctx, cancel := context.WithCancelCause(ctx)
	wd, stop := watch(j.opts.StallTimeout, cancel)
	return wctx, wd.touch, func(err error) error {
		stop()
		err = why(wctx, ctx, err)
		cancel(nil)
		return err
	}
}
