package frame

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha512"
	"io"
	"runtime"
	"testing"
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
