package throughput

import (
	"bytes"
	"crypto/cipher"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/cache"
)

// The in-memory sizes, and the frame lengths of the chart (mlseal 0x0478 at
// 64 MiB, and the raw limit at each).
var (
	sizes        = []int{4 * kib, mib, 64 * mib}
	frameLengths = []int{4 * kib, 16 * kib, 64 * kib, 256 * kib, mib, 4 * mib}
)

const defaultFrame = envelope.DefaultFrameLength

// BenchmarkLimit measures what mlseal cannot beat: AES-256-GCM Seal and
// Open over the same frames, one goroutine or frames dealt round-robin to
// all cores, and SHA-384, which bounds the signed suite. Nothing is copied
// or written: each frame is sealed into a reused buffer.
func BenchmarkLimit(b *testing.B) {
	aead := newGCM(b)
	for _, size := range sizes {
		sn := SizeName(size)
		for _, f := range frameLengths {
			if f > size {
				continue
			}
			for _, w := range limitWorkers(size) {
				b.Run(fmt.Sprintf("%s/AESGCM-seal/frame=%s/workers=%d", sn, SizeName(f), w), func(b *testing.B) {
					pt := plaintext(size)
					outs := frameBuffers(w, f)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					defer perCPU(b, int64(size))()
					for b.Loop() {
						sealFrames(aead, pt, f, outs)
					}
				})
			}
		}
		f := min(defaultFrame, size)
		for _, w := range limitWorkers(size) {
			b.Run(fmt.Sprintf("%s/AESGCM-open/frame=%s/workers=%d", sn, SizeName(f), w), func(b *testing.B) {
				ct := sealAll(aead, plaintext(size), f)
				outs := frameBuffers(w, f)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				defer perCPU(b, int64(size))()
				for b.Loop() {
					if err := openFrames(aead, ct, size, f, outs); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(sn+"/SHA384", func(b *testing.B) {
			pt := plaintext(size)
			h := sha512.New384()
			var sum [sha512.Size384]byte
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				h.Reset()
				h.Write(pt)
				h.Sum(sum[:0])
			}
		})
	}
}

// limitWorkers is one goroutine for a single frame, one and all cores
// otherwise.
func limitWorkers(size int) []int {
	if size <= 4*kib {
		return []int{1}
	}
	return Workers(runtime.GOMAXPROCS(0))
}

func frameBuffers(workers, frameLen int) [][]byte {
	outs := make([][]byte, workers)
	for i := range outs {
		outs[i] = make([]byte, frameLen+16)
	}
	return outs
}

// sealFrames seals pt frame by frame, frame i under nonce i, dealing the
// frames round-robin to len(outs) goroutines, each sealing into its own
// buffer.
func sealFrames(aead cipher.AEAD, pt []byte, frameLen int, outs [][]byte) {
	share := func(first int) {
		var nonce [12]byte
		step := len(outs)
		for i := first; i*frameLen < len(pt); i += step {
			binary.BigEndian.PutUint32(nonce[8:], uint32(i))
			off := i * frameLen
			aead.Seal(outs[first][:0], nonce[:], pt[off:min(off+frameLen, len(pt))], nil)
		}
	}
	if len(outs) == 1 {
		share(0)
		return
	}
	var wg sync.WaitGroup
	for w := range outs {
		wg.Go(func() { share(w) })
	}
	wg.Wait()
}

// sealAll returns pt sealed frame by frame as sealFrames does, the sealed
// frames one after another.
func sealAll(aead cipher.AEAD, pt []byte, frameLen int) []byte {
	var ct []byte
	var nonce [12]byte
	for i := 0; i*frameLen < len(pt); i++ {
		binary.BigEndian.PutUint32(nonce[8:], uint32(i))
		off := i * frameLen
		ct = aead.Seal(ct, nonce[:], pt[off:min(off+frameLen, len(pt))], nil)
	}
	return ct
}

// openFrames opens what sealAll sealed from a size-byte plaintext, dealing
// the frames round-robin to len(outs) goroutines.
func openFrames(aead cipher.AEAD, ct []byte, size, frameLen int, outs [][]byte) error {
	errs := make([]error, len(outs))
	share := func(first int) {
		var nonce [12]byte
		step := len(outs)
		for i := first; i*frameLen < size; i += step {
			binary.BigEndian.PutUint32(nonce[8:], uint32(i))
			off := i * (frameLen + 16)
			n := min(frameLen, size-i*frameLen) + 16
			if _, err := aead.Open(outs[first][:0], nonce[:], ct[off:off+n], nil); err != nil {
				errs[first] = err
				return
			}
		}
	}
	if len(outs) == 1 {
		share(0)
		return errs[0]
	}
	var wg sync.WaitGroup
	for w := range outs {
		wg.Go(func() { share(w) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkEncrypt encrypts a plaintext held in memory, written in one
// Write, to io.Discard: mlseal (every frame length and worker count at
// 64 MiB, for the chart) and its peers. The AWS Encryption SDK for Go takes
// and returns byte slices; its ciphertext is dropped.
func BenchmarkEncrypt(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	for _, size := range sizes {
		sn := SizeName(size)
		frames := []int{defaultFrame}
		if size == maxInMemory {
			frames = frameLengths
		}
		for _, f := range frames {
			for _, w := range Workers(procs) {
				b.Run(fmt.Sprintf("%s/mlseal-0x0478/frame=%s/workers=%d", sn, SizeName(f), w), func(b *testing.B) {
					benchWriter(b, size, mlsealEncrypter(b, envelope.AES256GCMHKDFSHA512CommitKey, f, w))
				})
			}
		}
		b.Run(fmt.Sprintf("%s/mlseal-0x0578/frame=%s/workers=%d", sn, SizeName(defaultFrame), procs), func(b *testing.B) {
			benchWriter(b, size, mlsealEncrypter(b, envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384, defaultFrame, procs))
		})
		// The SDK's defaults, then mlseal's suite and frame length.
		b.Run(sn+"/esdk-0x0578/frame=4KiB", func(b *testing.B) {
			benchBytes(b, size, esdkEncrypter(b, 0, 0))
		})
		b.Run(fmt.Sprintf("%s/esdk-0x0478/frame=%s", sn, SizeName(defaultFrame)), func(b *testing.B) {
			benchBytes(b, size, esdkEncrypter(b, envelope.AES256GCMHKDFSHA512CommitKey, defaultFrame))
		})
		b.Run(sn+"/tink/frame=1MiB", func(b *testing.B) {
			enc, _ := tinkEncrypter(b)
			benchWriter(b, size, enc)
		})
		b.Run(sn+"/age/frame=64KiB", func(b *testing.B) {
			enc, _ := ageEncrypter(b)
			benchWriter(b, size, enc)
		})
		b.Run(sn+"/sio/frame=64KiB", func(b *testing.B) {
			benchWriter(b, size, sioEncrypter)
		})
	}
}

func benchWriter(b *testing.B, size int, enc encrypter) {
	pt := plaintext(size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	defer perCPU(b, int64(size))()
	for b.Loop() {
		w, err := enc(io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(pt); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchBytes(b *testing.B, size int, enc func([]byte) ([]byte, error)) {
	pt := plaintext(size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enc(pt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecrypt decrypts an mlseal message held in memory to io.Discard
// (through the Reader's WriteTo).
func BenchmarkDecrypt(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	type dcase struct {
		suite   envelope.SuiteID
		workers int
	}
	var cases []dcase
	for _, w := range Workers(procs) {
		cases = append(cases, dcase{envelope.AES256GCMHKDFSHA512CommitKey, w})
	}
	cases = append(cases, dcase{envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384, procs})
	for _, size := range sizes {
		for _, c := range cases {
			name := fmt.Sprintf("%s/mlseal-0x%04X/frame=%s/workers=%d", SizeName(size), uint16(c.suite), SizeName(defaultFrame), c.workers)
			b.Run(name, func(b *testing.B) {
				kr, err := mlsealKeyring()
				if err != nil {
					b.Fatal(err)
				}
				ct, err := envelope.EncryptBytes(ctx, plaintext(size), envelope.EncryptOptions{Keyring: kr, Suite: c.suite, FrameLength: defaultFrame})
				if err != nil {
					b.Fatal(err)
				}
				dec := mlsealDecrypt(b, c.workers)
				src := bytes.NewReader(ct)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				defer perCPU(b, int64(size))()
				for b.Loop() {
					src.Reset(ct)
					r, err := dec(src)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := r.WriteTo(io.Discard); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// smallMessages is the batch of BenchmarkSmallMessages: 10,000 messages of
// 4 KiB, an op.
const (
	smallCount = 10000
	smallSize  = 4 * kib
)

// BenchmarkSmallMessages encrypts 10,000 messages of 4 KiB each, in memory,
// with suite 0x0478, to io.Discard: one after another, and spread over all
// cores. cached-key reuses one data key (see cachedKey); cache-manager is
// package envelope/cache's caching materials manager (with SizeHint, as it
// requires); fresh-key asks the raw AES keyring for a new one per message. Besides MB/s it reports
// msgs/s (wall clock), msgs/s/core (msgs/s over the goroutines used),
// msgs/cpu-s (messages per second of the process's CPU time, garbage
// collection included) and allocs/msg.
func BenchmarkSmallMessages(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	name := fmt.Sprintf("%dx%s/mlseal-0x0478", smallCount, SizeName(smallSize))
	cached := func(b *testing.B, workers int) envelope.EncryptOptions {
		return envelope.EncryptOptions{Materials: newCachedKey(b, envelope.AES256GCMHKDFSHA512CommitKey), Workers: workers}
	}
	for _, w := range Workers(procs) {
		b.Run(fmt.Sprintf("%s/cached-key/workers=%d", name, w), func(b *testing.B) {
			benchSmall(b, cached(b, w), 1)
		})
	}
	if procs > 1 {
		b.Run(fmt.Sprintf("%s/cached-key/workers=1/parallel=%d", name, procs), func(b *testing.B) {
			benchSmall(b, cached(b, 1), procs)
		})
	}
	// The product's caching materials manager (package envelope/cache),
	// which needs the plaintext length to count bytes against its limits.
	managed := func(b *testing.B) envelope.EncryptOptions {
		kr, err := mlsealKeyring()
		if err != nil {
			b.Fatal(err)
		}
		m, err := cache.New(envelope.DefaultMaterials(kr), cache.Options{MaxAge: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		return envelope.EncryptOptions{Materials: m, SizeHint: smallSize, Workers: 1}
	}
	b.Run(name+"/cache-manager/workers=1", func(b *testing.B) {
		benchSmall(b, managed(b), 1)
	})
	if procs > 1 {
		b.Run(fmt.Sprintf("%s/cache-manager/workers=1/parallel=%d", name, procs), func(b *testing.B) {
			benchSmall(b, managed(b), procs)
		})
	}
	b.Run(name+"/fresh-key/workers=1", func(b *testing.B) {
		kr, err := mlsealKeyring()
		if err != nil {
			b.Fatal(err)
		}
		benchSmall(b, envelope.EncryptOptions{Keyring: kr, Workers: 1}, 1)
	})
}

func benchSmall(b *testing.B, opts envelope.EncryptOptions, goroutines int) {
	pt := plaintext(smallSize)
	opts.Suite = envelope.AES256GCMHKDFSHA512CommitKey
	run := func(n int) error {
		for range n {
			w, err := envelope.Encrypt(ctx, io.Discard, opts)
			if err != nil {
				return err
			}
			if _, err := w.Write(pt); err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
		}
		return nil
	}
	b.SetBytes(smallCount * smallSize)
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	ops := 0
	for b.Loop() {
		ops++
		errs := make([]error, goroutines)
		var wg sync.WaitGroup
		for g := range goroutines {
			n := smallCount / goroutines
			if g < smallCount%goroutines {
				n++
			}
			wg.Go(func() { errs[g] = run(n) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	msgs := float64(ops * smallCount)
	perSec := msgs / b.Elapsed().Seconds()
	b.ReportMetric(perSec, "msgs/s")
	b.ReportMetric(perSec/float64(goroutines), "msgs/s/core")
	if cpu > 0 {
		b.ReportMetric(msgs/cpu.Seconds(), "msgs/cpu-s")
	}
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/msgs, "allocs/msg")
}

// BenchmarkStream streams 1 GiB, generated on the fly by a patternReader,
// through each streaming implementation to io.Discard with io.CopyBuffer and
// a 1 MiB buffer (mlseal's writer has ReadFrom, so io.Copy reads straight
// into its frames), and reports the peak RSS while doing it (see startPeak).
// Its cases are named by StreamCaseNames; the runner runs each in a process
// of its own.
func BenchmarkStream(b *testing.B) {
	cases := streamCases()
	for _, name := range StreamCaseNames(runtime.GOMAXPROCS(0)) {
		run := cases[name]
		if run == nil {
			b.Fatalf("no streamed case %q", name)
		}
		b.Run(SizeName(StreamSize)+"/"+name, run)
	}
}

// streamCases maps the names of StreamCaseNames to their benchmarks.
func streamCases() map[string]func(*testing.B) {
	procs := runtime.GOMAXPROCS(0)
	def := SizeName(defaultFrame)
	cases := map[string]func(*testing.B){
		"SHA384": func(b *testing.B) {
			h := sha512.New384()
			buf := make([]byte, mib)
			var sum [sha512.Size384]byte
			b.SetBytes(StreamSize)
			b.ReportAllocs()
			report := startPeak(b)
			for b.Loop() {
				h.Reset()
				if _, err := io.CopyBuffer(h, newPatternReader(StreamSize), buf); err != nil {
					b.Fatal(err)
				}
				h.Sum(sum[:0])
			}
			report()
		},
		"esdk-0x0578/frame=4KiB": func(b *testing.B) {
			b.Skip("the AWS Encryption SDK for Go takes and returns whole byte slices and refuses plaintexts over 1 GiB: not streamed")
		},
		"tink/frame=1MiB": func(b *testing.B) {
			enc, _ := tinkEncrypter(b)
			streamWriter(b, enc)
		},
		"age/frame=64KiB": func(b *testing.B) {
			enc, _ := ageEncrypter(b)
			streamWriter(b, enc)
		},
		"sio/frame=64KiB": func(b *testing.B) { streamWriter(b, sioEncrypter) },
		fmt.Sprintf("mlseal-0x0578/frame=%s/workers=%d", def, procs): func(b *testing.B) {
			streamWriter(b, mlsealEncrypter(b, envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384, defaultFrame, procs))
		},
	}
	for _, w := range Workers(procs) {
		cases[fmt.Sprintf("mlseal-0x0478/frame=%s/workers=%d", def, w)] = func(b *testing.B) {
			streamWriter(b, mlsealEncrypter(b, envelope.AES256GCMHKDFSHA512CommitKey, defaultFrame, w))
		}
		cases[fmt.Sprintf("mlseal-0x0478-decrypt/frame=%s/workers=%d", def, w)] = func(b *testing.B) {
			streamDecrypt(b, w)
		}
		cases[fmt.Sprintf("AESGCM-seal/frame=%s/workers=%d", def, w)] = func(b *testing.B) {
			streamLimit(b, defaultFrame, w)
		}
	}
	// The limits at the frame lengths of age and sio, and of Tink.
	for _, f := range []int{64 * kib, mib} {
		cases[fmt.Sprintf("AESGCM-seal/frame=%s/workers=1", SizeName(f))] = func(b *testing.B) {
			streamLimit(b, f, 1)
		}
	}
	return cases
}

func streamWriter(b *testing.B, enc encrypter) {
	buf := make([]byte, mib)
	b.SetBytes(StreamSize)
	b.ReportAllocs()
	report := startPeak(b)
	defer perCPU(b, StreamSize)()
	for b.Loop() {
		w, err := enc(io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(w, newPatternReader(StreamSize), buf); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	report()
}

// streamDecrypt decrypts a 1 GiB message of suite 0x0478 from a file (in
// the page cache after the first read) through the Reader's WriteTo to
// io.Discard: a stream read the way a job reads its data. The message is
// written once per machine, to the temporary directory, and reused.
func streamDecrypt(b *testing.B, workers int) {
	path, err := streamCiphertext()
	if err != nil {
		b.Fatal(err)
	}
	dec := mlsealDecrypt(b, workers)
	b.SetBytes(StreamSize)
	b.ReportAllocs()
	report := startPeak(b)
	defer perCPU(b, StreamSize)()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		r, err := dec(f)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := r.WriteTo(io.Discard); err != nil || n != StreamSize {
			b.Fatalf("decrypted %d bytes: %v", n, err)
		}
		f.Close()
	}
	report()
}

// streamCiphertext returns the path of a 1 GiB message of suite 0x0478 in
// the temporary directory, writing it if it is missing.
func streamCiphertext() (string, error) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("mlseal-bench-%s-0x0478-%s.enc", SizeName(StreamSize), SizeName(defaultFrame)))
	kr, err := mlsealKeyring()
	if err != nil {
		return "", err
	}
	// Written to a temporary name and renamed, the file is whole if it is
	// there; a stale one from another key fails the benchmark loudly.
	if st, err := os.Stat(path); err == nil && st.Size() > StreamSize {
		return path, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	w, err := envelope.Encrypt(ctx, tmp, envelope.EncryptOptions{Keyring: kr, FrameLength: defaultFrame})
	if err == nil {
		_, err = io.CopyBuffer(w, newPatternReader(StreamSize), make([]byte, mib))
		err = errors.Join(err, w.Close())
	}
	if err = errors.Join(err, tmp.Close()); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}

// streamLimit is raw AES-256-GCM over a generated stream: each of workers
// goroutines generates its share of the stream a frame at a time, seals the
// frame and writes it to io.Discard, so the limit pays for generating the
// plaintext as the streamed cases do.
func streamLimit(b *testing.B, frameLen, workers int) {
	aead := newGCM(b)
	b.SetBytes(StreamSize)
	b.ReportAllocs()
	report := startPeak(b)
	defer perCPU(b, StreamSize)()
	for b.Loop() {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				in := make([]byte, frameLen)
				out := make([]byte, frameLen+16)
				var nonce [12]byte
				r := newPatternReader(StreamSize / int64(workers))
				for i := w; ; i += workers {
					n, err := io.ReadFull(r, in)
					if n == 0 || (err != nil && err != io.ErrUnexpectedEOF) {
						return
					}
					binary.BigEndian.PutUint32(nonce[8:], uint32(i))
					io.Discard.Write(aead.Seal(out[:0], nonce[:], in[:n], nil))
				}
			})
		}
		wg.Wait()
	}
	report()
}

// perCPU, called before a benchmark's loop with the bytes of one op, returns
// a function to call after it that reports MB per second of the process's
// CPU time (user and system, garbage collection included) as MB/cpu-s: a
// figure that holds on a machine shared with other work, where MB/s does
// not.
func perCPU(b *testing.B, bytes int64) (report func()) {
	cpu0 := cpuTime()
	return func() {
		if cpu := cpuTime() - cpu0; cpu > 0 && b.N > 0 {
			b.ReportMetric(float64(bytes)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
		}
	}
}

// cpuTime is the process's user and system CPU time so far, 0 where unknown.
var cpuTime = func() time.Duration { return 0 }
