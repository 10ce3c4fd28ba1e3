package frame

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha512"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

func testAEAD(t testing.TB) cipher.AEAD {
	block, err := aes.NewCipher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return aead
}

var testID = bytes.Repeat([]byte{7}, 32)

// TestSteadyStateAllocs guards the hot path: once the pipeline is warm,
// sealing and opening a frame allocates nothing.
func TestSteadyStateAllocs(t *testing.T) {
	const frameLen = 4096
	frame := make([]byte, frameLen)
	for _, workers := range []int{1, 2} {
		for _, sum := range []bool{false, true} {
			var h = sha512.New384()
			if !sum {
				h = nil
			}
			var e *Encoder
			if h == nil {
				e = NewEncoder(io.Discard, testAEAD(t), testID, frameLen, workers, nil)
			} else {
				e = NewEncoder(io.Discard, testAEAD(t), testID, frameLen, workers, h)
			}
			for range 20 {
				e.Write(frame)
			}
			if a := testing.AllocsPerRun(200, func() { e.Write(frame) }); a != 0 {
				t.Errorf("encoder with %d workers, signed %v: %v allocations per frame", workers, sum, a)
			}
			e.Close()
		}

		var msg bytes.Buffer
		e := NewEncoder(&msg, testAEAD(t), testID, frameLen, 1, nil)
		for range 400 {
			e.Write(frame)
		}
		e.Close()
		d := NewDecoder(bytes.NewReader(msg.Bytes()), testAEAD(t), testID, frameLen, workers, 64<<20, nil)
		for range 20 {
			if _, err := io.ReadFull(d, frame); err != nil {
				t.Fatal(err)
			}
		}
		if a := testing.AllocsPerRun(200, func() { io.ReadFull(d, frame) }); a != 0 {
			t.Errorf("decoder with %d workers: %v allocations per frame", workers, a)
		}
	}
}

// TestBufferReuse: the whole-frame buffers of finished messages serve the
// next ones, so that a stream of messages does not allocate frame buffers.
func TestBufferReuse(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	const frameLen = 64 << 10
	plain := bytes.Repeat([]byte{'x'}, 5*frameLen+1)
	var msg bytes.Buffer
	roundTrip := func() {
		msg.Reset()
		e := NewEncoder(&msg, testAEAD(t), testID, frameLen, 2, nil)
		e.Write(plain)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		d := NewDecoder(bytes.NewReader(msg.Bytes()), testAEAD(t), testID, frameLen, 2, 64<<20, nil)
		if _, err := d.WriteTo(io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		roundTrip()
	}
	runtime.ReadMemStats(&after)
	// Without reuse each round trip allocates at least 8 frame buffers.
	if perTrip := (after.TotalAlloc - before.TotalAlloc) / 10; perTrip > 2*frameLen {
		t.Fatalf("%d bytes allocated per round trip of a 6-frame message: frame buffers are not reused", perTrip)
	}
}

// recordingReader records each Read: how much it was asked for and where
// the destination starts relative to a cache line, until the input runs
// short.
type recordingReader struct {
	r         io.Reader
	asked     []int
	misalign  []int
	shortSeen bool
	early     int // reads asked for less than a frame before the input ran short
	frameLen  int
}

func (r *recordingReader) Read(p []byte) (int, error) {
	r.asked = append(r.asked, len(p))
	if len(p) > 0 && !r.shortSeen {
		r.misalign = append(r.misalign, int(uintptr(unsafe.Pointer(&p[0]))%cacheLine))
	}
	if len(p) < r.frameLen && !r.shortSeen {
		r.early++
	}
	n, err := r.r.Read(p)
	if n < len(p) {
		r.shortSeen = true
	}
	return n, err
}

// TestReadFromWholeAlignedFrames: ReadFrom asks its reader for whole frames
// into cache-line-aligned buffers. A read of one byte to learn whether more
// follows, which shifted every later read off the page cache's alignment,
// made reading a file cost four times as much CPU in the kernel.
func TestReadFromWholeAlignedFrames(t *testing.T) {
	const frameLen = 64 << 10
	for _, workers := range []int{1, 2} {
		for _, size := range []int{0, 1, frameLen, 3*frameLen + 5} {
			rr := &recordingReader{r: bytes.NewReader(make([]byte, size)), frameLen: frameLen}
			e := NewEncoder(io.Discard, testAEAD(t), testID, frameLen, workers, nil)
			if n, err := e.ReadFrom(rr); err != nil || n != int64(size) {
				t.Fatalf("ReadFrom = %d, %v", n, err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if rr.early > 0 {
				t.Errorf("workers %d, size %d: %d reads asked for less than a frame: %v", workers, size, rr.early, rr.asked)
			}
			for _, m := range rr.misalign {
				if m != 0 {
					t.Errorf("workers %d, size %d: a read into a buffer %d bytes past a cache line", workers, size, m)
				}
			}
		}
	}
}

// shrinkingReaderAt serves n bytes of zeros, then nothing: a file cut short
// while it is read.
type shrinkingReaderAt struct{ n int64 }

func (r shrinkingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.n {
		return 0, io.EOF
	}
	m := copy(p, make([]byte, min(int64(len(p)), r.n-off)))
	if m < len(p) {
		return m, io.EOF
	}
	return m, nil
}

// TestReadFromSectionThatShrinks: a section that ends before its size
// fails the message, wherever it ends and however many workers read it,
// instead of sealing a short frame as a regular or a final one.
func TestReadFromSectionThatShrinks(t *testing.T) {
	const frameLen = 4096
	const size = 40*frameLen + 100
	for _, workers := range []int{1, 2, 4} {
		for _, short := range []int64{10, 100, frameLen, 30 * frameLen} {
			e := NewEncoder(io.Discard, testAEAD(t), testID, frameLen, workers, nil)
			_, err := e.ReadFrom(io.NewSectionReader(shrinkingReaderAt{size - short}, 0, size))
			if err == nil || !strings.Contains(err.Error(), "shrank") {
				t.Fatalf("workers %d, %d bytes short: ReadFrom = %v, want an error saying the input shrank", workers, short, err)
			}
			if err := e.Close(); err == nil {
				t.Fatalf("workers %d, %d bytes short: Close completed the message", workers, short)
			}
		}
	}
}

// watchedAt is a slow io.ReaderAt that records reads made after the
// caller was told they were done.
type watchedAt struct {
	r        io.ReaderAt
	returned atomic.Bool
	late     atomic.Int32
}

func (w *watchedAt) ReadAt(p []byte, off int64) (int, error) {
	if w.returned.Load() {
		w.late.Add(1)
	}
	time.Sleep(200 * time.Microsecond)
	n, err := w.r.ReadAt(p, off)
	if w.returned.Load() {
		w.late.Add(1)
	}
	return n, err
}

// failAfter is a destination that fails after n writes.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

// TestReadFromSectionReturnsAfterItsReads: the workers read a section's
// frames, but ReadFrom returns only once they have, whether it succeeds or
// the destination fails: the caller may then close the file, and no read
// of it (nor the progress a job counts from them) comes later.
func TestReadFromSectionReturnsAfterItsReads(t *testing.T) {
	const frameLen = 4096
	src := bytes.NewReader(make([]byte, 64*frameLen+3))
	for _, workers := range []int{2, 4} {
		for _, dst := range []io.Writer{io.Discard, &failAfter{n: 3}} {
			at := &watchedAt{r: src}
			e := NewEncoder(dst, testAEAD(t), testID, frameLen, workers, nil)
			_, rerr := e.ReadFrom(io.NewSectionReader(at, 0, src.Size()))
			at.returned.Store(true)
			cerr := e.Close()
			if _, failing := dst.(*failAfter); failing == (rerr == nil && cerr == nil) {
				t.Errorf("workers %d, failing destination %v: ReadFrom = %v, Close = %v", workers, failing, rerr, cerr)
			}
			time.Sleep(10 * time.Millisecond)
			if n := at.late.Load(); n > 0 {
				t.Errorf("workers %d: %d reads of the section after ReadFrom returned", workers, n)
			}
		}
	}
}
