package frame

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("write after close")

// Encoder seals a stream of plaintext into frames and writes them to dst in
// order. With more than one worker, frames are sealed in parallel while the
// caller's goroutine fills the next buffer and writes finished frames; at
// most workers+4 frames are in memory at once.
type Encoder struct {
	crypter
	dst      io.Writer
	sum      hashWriter
	pool     pool
	seq      uint32
	cur      *job
	inflight queue
	free     []*job
	jobs     int
	maxJobs  int
	inline   bool // one worker: seal on the caller's goroutine
	err      error
	closed   bool
	// borrowed counts frames being sealed straight from a caller's slice,
	// which Write must see finished before it returns; reading counts
	// frames the workers are to read from a section, which ReadFrom must
	// see read.
	borrowed, reading sync.WaitGroup
	// failed tells the workers that the message has failed: they read
	// nothing more from a section.
	failed atomic.Bool
}

// NewEncoder returns an Encoder that writes frames of frameLen plaintext
// bytes sealed with aead to dst. If sum is not nil, every byte written is
// also written to sum, for the message signature.
func NewEncoder(dst io.Writer, aead cipher.AEAD, messageID []byte, frameLen, workers int, sum hash.Hash) *Encoder {
	workers = max(workers, 1)
	e := &Encoder{
		crypter: crypter{aead: aead, messageID: messageID, frameLen: frameLen},
		dst:     dst,
		sum:     hashWriter{sum},
		pool:    pool{workers: workers},
		seq:     1,
		// Inline sealing needs two buffers: the frame being filled and the
		// next, read ahead to learn whether the first is the final frame.
		maxJobs: 2,
		inline:  workers == 1,
	}
	if workers > 1 {
		// Measured on 2 cores: two more frames in flight than workers plus
		// the two being filled keep every worker busy while the caller
		// reads and writes.
		e.maxJobs = workers + 4
	}
	e.pool.fn = e.sealJob
	return e
}

// Write buffers p into frames, sealing and writing every frame that is full
// once more plaintext follows it. The last frame is sealed by Close as the
// final frame.
func (e *Encoder) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n := 0
	defer e.borrowed.Wait()
	for len(p) > 0 {
		if e.cur == nil {
			if e.cur = e.acquire(); e.cur == nil {
				return n, e.err
			}
		}
		j := e.cur
		if j.n == e.frameLen {
			e.cur = nil
			if !e.dispatch(j) {
				return n, e.err
			}
			continue
		}
		if j.n == 0 && len(p) > e.frameLen {
			// A whole frame with more plaintext after it: seal it straight
			// from p, saving a copy.
			e.cur = nil
			j.grow(e.frameLen, e.frameLen)
			j.src, j.n = p[:e.frameLen], e.frameLen
			p = p[e.frameLen:]
			n += e.frameLen
			if !e.dispatch(j) {
				return n, e.err
			}
			continue
		}
		take := min(e.frameLen-j.n, len(p))
		j.grow(j.n+take, e.frameLen)
		copy(j.buf[contentOff+j.n:], p[:take])
		j.n += take
		p = p[take:]
		n += take
	}
	return n, nil
}

// Close seals and writes the final frame, after every frame before it. It
// does not close dst.
func (e *Encoder) Close() error {
	if e.closed {
		if e.err == ErrClosed {
			return nil
		}
		return e.err
	}
	e.closed = true
	defer e.pool.stop()
	if e.err != nil {
		return e.err
	}
	j := e.cur
	if j == nil {
		if j = e.acquire(); j == nil {
			return e.err
		}
	}
	e.cur = nil
	for e.inflight.len() > 0 {
		if !e.retire() {
			return e.err
		}
	}
	j.final = true
	j.grow(j.n, e.frameLen) // an empty message has not sized its buffer yet
	if !e.nextSeq(j) {
		return e.err
	}
	e.seal(j)
	if !e.emit(j) {
		return e.err
	}
	e.err = ErrClosed
	// Every frame has been written: the buffers can serve other messages.
	for _, j := range e.free {
		j.release(e.frameLen)
	}
	e.free = nil
	return nil
}

func (e *Encoder) nextSeq(j *job) bool {
	if e.seq == endMarker {
		e.err = fmt.Errorf("message would need more than %d frames: use a larger frame length", uint32(endMarker-1))
		return false
	}
	j.seq = e.seq
	e.seq++
	return true
}

// acquire returns an empty job, writing the oldest frame in flight to make
// one free if need be.
func (e *Encoder) acquire() *job {
	if len(e.free) == 0 {
		if e.jobs < e.maxJobs {
			e.jobs++
			return &job{done: make(chan struct{}, 1)}
		}
		if !e.retire() {
			return nil
		}
	}
	j := e.free[len(e.free)-1]
	e.free = e.free[:len(e.free)-1]
	j.n, j.final = 0, false
	return j
}

// dispatch seals a full, non-final frame: inline with one worker, otherwise
// on the pool, to be written by a later retire.
func (e *Encoder) dispatch(j *job) bool {
	if !e.nextSeq(j) {
		return false
	}
	if e.inline {
		if j.at != nil {
			if e.readAt(j); j.err != nil {
				e.err, j.err = j.err, nil
				e.free = append(e.free, j)
				return false
			}
		}
		e.seal(j)
		j.src = nil
		return e.emit(j)
	}
	if j.src != nil {
		e.borrowed.Add(1)
	}
	if j.at != nil {
		e.reading.Add(1)
	}
	e.inflight.push(j)
	e.pool.submit(j)
	return true
}

// sealJob runs on the pool.
func (e *Encoder) sealJob(j *job) {
	if j.at != nil {
		e.readAt(j)
		e.reading.Done()
	}
	if j.err == nil {
		e.seal(j)
	}
	if j.src != nil {
		j.src = nil
		e.borrowed.Done()
	}
}

// ReadFrom reads plaintext from r straight into frame buffers until io.EOF,
// so that streaming a file costs no copy beyond the read itself. Each frame
// is read whole, into a buffer aligned for the kernel's copy, and one frame
// is read ahead to learn whether the one before it is the final frame.
//
// An *io.SectionReader is read with positional reads on the workers
// instead, each reading the frame it then seals, so that reading the input
// is spread over the cores as sealing is, rather than done on one
// goroutine while the others wait for it.
func (e *Encoder) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	if sr, ok := r.(*io.SectionReader); ok && (e.cur == nil || e.cur.n == 0) {
		total += e.readSection(sr)
		if e.err != nil {
			return total, e.err
		}
	}
	for e.err == nil {
		if e.cur == nil {
			if e.cur = e.acquire(); e.cur == nil {
				break
			}
		}
		j := e.cur
		if j.n == e.frameLen {
			// j is a regular frame only if more plaintext follows: the
			// next frame is read before j goes to the workers.
			next := e.acquire()
			if next == nil {
				break
			}
			next.grow(e.frameLen, e.frameLen)
			m, err := io.ReadFull(r, next.buf[contentOff:contentOff+e.frameLen])
			total += int64(m)
			if m == 0 {
				e.free = append(e.free, next)
				return total, readErr(err)
			}
			next.n = m
			e.cur = next
			if !e.dispatch(j) {
				break
			}
			if err != nil {
				return total, readErr(err)
			}
			continue
		}
		j.grow(e.frameLen, e.frameLen)
		m, err := io.ReadFull(r, j.buf[contentOff+j.n:contentOff+e.frameLen])
		j.n += m
		total += int64(m)
		if err != nil {
			return total, readErr(err)
		}
	}
	return total, e.err
}

// readSection hands every frame of what remains of sr but the last to the
// workers, which read and seal it, and reads the last into e.cur: it is
// the final frame unless more is written after it. It returns once the
// workers have read their frames, so that the caller may close the file,
// and fails if the section ends before its size. sr is left after what
// was read.
func (e *Encoder) readSection(sr *io.SectionReader) (n int64) {
	pos, err := sr.Seek(0, io.SeekCurrent)
	if err != nil {
		e.err = err
		return 0
	}
	defer func() {
		e.reading.Wait()
		if e.err == nil {
			e.err = e.inflight.err()
		}
		if _, err := sr.Seek(pos+n, io.SeekStart); e.err == nil {
			e.err = err
		}
		if e.err != nil {
			e.failed.Store(true)
			e.pool.stop()
		}
	}()
	end := sr.Size()
	if e.cur != nil {
		e.free = append(e.free, e.cur)
		e.cur = nil
	}
	for off := pos; off < end; {
		j := e.acquire()
		if j == nil {
			return off - pos
		}
		j.grow(e.frameLen, e.frameLen)
		j.n = int(min(int64(e.frameLen), end-off))
		j.at, j.off = sr, off
		if off+int64(j.n) == end {
			// The last frame, read here: the frames before it may be
			// regular ones only if it is not empty.
			if e.readAt(j); j.err != nil {
				e.err, j.err = j.err, nil
				e.free = append(e.free, j)
				return off - pos
			}
			e.cur = j
			return end - pos
		}
		if !e.dispatch(j) {
			return off - pos
		}
		off += int64(j.n)
	}
	return 0
}

// readAt reads j's content from the section it is to be read from, and
// fails j if the section ends before it.
func (e *Encoder) readAt(j *job) {
	at := j.at
	j.at = nil
	if e.failed.Load() {
		j.err = errors.New("the message failed")
		return
	}
	if m, err := at.ReadAt(j.buf[contentOff:contentOff+j.n], j.off); m < j.n {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("the input ended %d bytes into a %d-byte frame at offset %d: it shrank while it was read", m, j.n, j.off)
		}
		j.err = err
	}
}

func readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil
	}
	return err
}

// retire waits for the oldest frame in flight and writes it.
func (e *Encoder) retire() bool {
	j := e.inflight.pop()
	<-j.done
	if j.err != nil {
		e.err = j.err
		j.err = nil
		e.free = append(e.free, j)
		e.failed.Store(true)
		e.pool.stop()
		return false
	}
	return e.emit(j)
}

func (e *Encoder) emit(j *job) bool {
	e.sum.write(j.out)
	_, err := e.dst.Write(j.out)
	e.free = append(e.free, j)
	if err != nil {
		e.err = err
		e.failed.Store(true)
		e.pool.stop()
		return false
	}
	return true
}

// Stop ends the worker goroutines of an Encoder that will not be closed.
func (e *Encoder) Stop() { e.pool.stop() }
