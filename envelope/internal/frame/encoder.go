package frame

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"hash"
	"io"
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("write after close")

// Encoder seals a stream of plaintext into frames and writes them to dst in
// order. With more than one worker, frames are sealed in parallel while the
// caller's goroutine fills the next buffer and writes finished frames; at
// most workers+2 frames are in memory at once.
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
	err      error
	closed   bool
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
		maxJobs: 1,
	}
	if workers > 1 {
		e.maxJobs = workers + 2
	}
	e.pool.fn = e.seal
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
	if e.maxJobs == 1 {
		e.seal(j)
		return e.emit(j)
	}
	e.inflight.push(j)
	e.pool.submit(j)
	return true
}

// retire waits for the oldest frame in flight and writes it.
func (e *Encoder) retire() bool {
	j := e.inflight.pop()
	<-j.done
	return e.emit(j)
}

func (e *Encoder) emit(j *job) bool {
	e.sum.write(j.out)
	_, err := e.dst.Write(j.out)
	e.free = append(e.free, j)
	if err != nil {
		e.err = err
		return false
	}
	return true
}
