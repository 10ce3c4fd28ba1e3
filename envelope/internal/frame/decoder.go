package frame

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"hash"
	"io"

	"github.com/mlseal/mlseal/envelope/internal/header"
)

// ErrAuthentication is returned when a frame fails authentication.
var ErrAuthentication = header.ErrAuthentication

// Decoder reads frames from src, opens them (in parallel with more than one
// worker, reading ahead at most workers+2 frames, and no more frames than
// fit in its byte budget) and releases their plaintext in order. A frame's plaintext is released only after it has
// been authenticated, and the final frame's only after Finish, which reads
// and checks what follows the body (the signature), has succeeded.
type Decoder struct {
	crypter
	src      io.Reader
	sum      hashWriter
	pool     pool
	seq      uint32
	readDone bool
	inflight queue
	free     []*job
	jobs     int
	maxJobs  int
	cur      *job
	err      error
	// Finish is called after the final frame is authenticated and before it
	// is released.
	Finish func() error
	marker [4]byte
}

// NewDecoder returns a Decoder for the framed body read from src. If sum is
// not nil, every byte read is also written to it, in order.
//
// maxBuffered bounds the bytes of frame buffers the Decoder holds at once:
// it reads ahead and opens in parallel only as many frames as fit, and so
// runs fewer workers when frames are large, down to one frame at a time
// (which it always holds, whatever the budget).
func NewDecoder(src io.Reader, aead cipher.AEAD, messageID []byte, frameLen, workers int, maxBuffered int64, sum hash.Hash) *Decoder {
	workers = max(workers, 1)
	fit := maxBuffered / int64(contentOff+frameLen+tagLen)
	if fit < int64(workers)+2 {
		// Every worker holds a frame, and one more is being released.
		workers = int(max(fit-1, 1))
	}
	d := &Decoder{
		// The message id is 16 bytes in version 1 and 32 in version 2.
		crypter: crypter{aead: aead, messageID: messageID, frameLen: frameLen, version: 1 + len(messageID)/32},
		src:     src,
		sum:     hashWriter{sum},
		pool:    pool{workers: workers},
		seq:     1,
		maxJobs: 1,
	}
	if workers > 1 {
		d.maxJobs = int(min(int64(workers)+2, fit))
	}
	d.pool.fn = d.open
	return d
}

// Read releases authenticated plaintext.
func (d *Decoder) Read(p []byte) (int, error) {
	for {
		if d.cur != nil && len(d.cur.out) > 0 {
			n := copy(p, d.cur.out)
			d.cur.out = d.cur.out[n:]
			return n, nil
		}
		if !d.advance() {
			return 0, d.err
		}
	}
}

// WriteTo writes all remaining plaintext to w without an intermediate copy.
func (d *Decoder) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if d.cur != nil && len(d.cur.out) > 0 {
			n, err := w.Write(d.cur.out)
			total += int64(n)
			d.cur.out = d.cur.out[n:]
			if err != nil {
				return total, err
			}
			continue
		}
		if !d.advance() {
			if d.err == io.EOF {
				return total, nil
			}
			return total, d.err
		}
	}
}

// advance retires the drained current frame and makes the next one
// current, reading ahead as far as the pipeline allows. It returns false
// with d.err set at the end of the body or on failure.
func (d *Decoder) advance() bool {
	if d.err != nil {
		return false
	}
	if d.cur != nil {
		final := d.cur.final
		d.free = append(d.free, d.cur)
		d.cur = nil
		if final {
			d.fail(io.EOF)
			// Every frame has been released: the buffers can serve other
			// messages.
			for _, j := range d.free {
				j.release(d.frameLen)
			}
			d.free = nil
			return false
		}
	}
	for !d.readDone && d.inflight.len() < d.maxJobs {
		if d.inflight.len() >= d.pool.workers && len(d.inflight.jobs[0].done) > 0 {
			// Every worker has a frame and the oldest is ready: release
			// it before reading further ahead, so that a slow source
			// holds back no more than a frame per worker.
			break
		}
		j, err := d.readFrame()
		if err != nil {
			d.fail(err)
			return false
		}
		d.inflight.push(j)
		if d.maxJobs == 1 {
			d.open(j)
			j.done <- struct{}{}
		} else {
			d.pool.submit(j)
		}
	}
	j := d.inflight.pop()
	<-j.done
	if !j.ok {
		d.fail(fmt.Errorf("%w: frame %d does not authenticate: the data was changed or the key is wrong", ErrAuthentication, j.seq))
		return false
	}
	if j.final && d.Finish != nil {
		if err := d.Finish(); err != nil {
			d.fail(err)
			return false
		}
	}
	d.cur = j
	return true
}

// Stop ends the worker goroutines of a Decoder that will not be read to the end.
func (d *Decoder) Stop() { d.pool.stop() }

func (d *Decoder) fail(err error) {
	d.err = err
	d.pool.stop()
	d.inflight = queue{}
}

func truncated(what string) error {
	return fmt.Errorf("%w: %s", header.ErrTruncated, what)
}

// read fills b from src. The seq argument, when not zero, names the frame
// in the error, which is only formatted on failure: this is the hot path.
func (d *Decoder) read(b []byte, what string, seq uint32) error {
	if _, err := io.ReadFull(d.src, b); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if seq != 0 {
				what = fmt.Sprintf("%s %d cut off", what, seq)
			}
			return truncated(what)
		}
		return err
	}
	d.sum.write(b)
	return nil
}

// readFrame reads the next frame into a free job buffer and checks its
// framing; opening it is left to the caller.
func (d *Decoder) readFrame() (*job, error) {
	var j *job
	if len(d.free) > 0 {
		j = d.free[len(d.free)-1]
		d.free = d.free[:len(d.free)-1]
	} else {
		d.jobs++
		j = &job{done: make(chan struct{}, 1)}
	}
	j.final = false
	if err := d.read(d.marker[:], "the body ends before its final frame", 0); err != nil {
		return nil, err
	}
	j.seq = binary.BigEndian.Uint32(d.marker[:])
	j.grow(0, d.frameLen)
	if j.seq == endMarker {
		j.final = true
		copy(j.buf, d.marker[:])
		if err := d.read(j.buf[4:contentOff], "final frame header cut off", 0); err != nil {
			return nil, err
		}
		j.seq = binary.BigEndian.Uint32(j.buf[4:])
		n := binary.BigEndian.Uint32(j.buf[20:])
		if uint64(n) > uint64(d.frameLen) {
			return nil, fmt.Errorf("%w: final frame of %d bytes is longer than the frame length %d", header.ErrMalformed, n, d.frameLen)
		}
		j.n = int(n)
		d.readDone = true
	} else {
		j.n = d.frameLen
		copy(j.buf[regularOff:], d.marker[:])
	}
	if j.seq != d.seq {
		return nil, fmt.Errorf("%w: frame %d where frame %d was expected (frames reordered, duplicated or missing)", ErrAuthentication, j.seq, d.seq)
	}
	d.seq++
	start := 12
	if j.final {
		start = contentOff
	}
	// The buffer is sized for the whole frame at once: growing it as the
	// bytes arrive would hold the old and the new buffer together, half as
	// much again as the frame. A large buffer fresh from the operating
	// system costs memory only as its pages are written, and the frames a
	// Decoder holds are bounded by its byte budget.
	j.grow(j.n, d.frameLen)
	if err := d.read(j.buf[start:contentOff+j.n+tagLen], "frame", j.seq); err != nil {
		return nil, err
	}
	return j, nil
}
