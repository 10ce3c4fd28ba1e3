package throughput

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"testing"
)

const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

// pattern is what plaintexts are made of: 256 KiB of deterministic
// pseudo-random bytes, small enough to stay in cache so that generating a
// stream costs a memory copy and no more.
var pattern = func() []byte {
	p := make([]byte, 256*kib)
	rand.NewChaCha8([32]byte{'m', 'l', 's', 'e', 'a', 'l'}).Read(p)
	return p
}()

// patternReader yields n bytes of the repeating pattern. It deliberately has
// no WriteTo method, so io.Copy hands it to the destination's ReadFrom when
// there is one (as a file or pipe would be).
type patternReader struct{ n, off int64 }

func newPatternReader(n int64) *patternReader { return &patternReader{n: n} }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if rem := r.n - r.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := 0
	for n < len(p) {
		n += copy(p[n:], pattern[int((r.off+int64(n))%int64(len(pattern))):])
	}
	r.off += int64(n)
	return n, nil
}

// maxInMemory is the largest in-memory plaintext.
const maxInMemory = 64 * mib

var inMemory = sync.OnceValue(func() []byte {
	p := make([]byte, maxInMemory)
	if _, err := io.ReadFull(newPatternReader(maxInMemory), p); err != nil {
		panic(err)
	}
	return p
})

// plaintext returns size bytes of the pattern, shared and read-only.
func plaintext(size int) []byte { return inMemory()[:size:size] }

// Peak memory of the streamed cases. Linux keeps the process's peak RSS as
// VmHWM in /proc/self/status and resets it to the current RSS when "5" is
// written to /proc/self/clear_refs. A streamed case first collects garbage
// and returns freed memory to the OS, resets the mark, runs, and reports the
// mark: the peak RSS of the whole process while the case ran (the Go runtime,
// the test binary and its peers' packages included), as peak-RSS-MiB, and
// the RSS it started from as base-RSS-MiB. Where the mark cannot be reset
// the peak is the process's since it started, which is why the runner runs
// each streamed case in a process of its own.

// procStatus returns a field of /proc/self/status in bytes, or -1.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte(field+":"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return -1
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return -1
		}
		return kb << 10
	}
	return -1
}

// startPeak prepares a peak-memory measurement; the function it returns
// reports it.
func startPeak(b *testing.B) (report func()) {
	runtime.GC()
	debug.FreeOSMemory()
	reset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	base := procStatus("VmRSS")
	return func() {
		peak := procStatus("VmHWM")
		if peak < 0 {
			return
		}
		b.ReportMetric(float64(peak)/mib, "peak-RSS-MiB")
		if reset && base >= 0 {
			b.ReportMetric(float64(base)/mib, "base-RSS-MiB")
		}
	}
}
