package envelope_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/mlseal/mlseal/envelope"
)

// Benchmarks of a 256 MiB stream, side by side with raw AES-256-GCM over the
// same frames: the limit that framing, ordering and I/O add to.
const streamSize = 256 << 20

var streamPlaintext = sync256()

func sync256() func() []byte {
	var pt []byte
	return func() []byte {
		if pt == nil {
			pt = randomBytes(streamSize)
		}
		return pt
	}
}

func BenchmarkRawAESGCM(b *testing.B) {
	for _, frameLen := range []int{4 << 10, 64 << 10, envelope.DefaultFrameLength, 1 << 20} {
		b.Run(fmt.Sprintf("256MiB/frame=%dKiB", frameLen>>10), func(b *testing.B) {
			pt := streamPlaintext()
			runtime.GC()
			block, _ := aes.NewCipher(make([]byte, 32))
			aead, _ := cipher.NewGCM(block)
			buf := make([]byte, frameLen+16)
			var nonce [12]byte
			b.SetBytes(streamSize)
			b.ReportAllocs()
			for b.Loop() {
				for off := 0; off < len(pt); off += frameLen {
					nonce[11]++
					aead.Seal(buf[:0], nonce[:], pt[off:off+frameLen], nil)
				}
			}
		})
	}
}

// BenchmarkEncrypt streams 256 MiB through Encrypt with io.Copy, as the CLI
// does with files.
func BenchmarkEncrypt(b *testing.B) {
	kr := testKeyring(b, "bench")
	for _, suite := range suites {
		for _, frameLen := range []int{4 << 10, 64 << 10, envelope.DefaultFrameLength, 1 << 20} {
			for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
				if suite.Signed() && frameLen != envelope.DefaultFrameLength {
					continue
				}
				name := fmt.Sprintf("256MiB/%04X/frame=%dKiB/workers=%d", uint16(suite), frameLen>>10, workers)
				b.Run(name, func(b *testing.B) {
					pt := streamPlaintext()
					opts := envelope.EncryptOptions{Keyring: kr, Suite: suite, FrameLength: frameLen, Workers: workers}
					runtime.GC()
					b.SetBytes(streamSize)
					b.ReportAllocs()
					for b.Loop() {
						w, err := envelope.Encrypt(ctx, io.Discard, opts)
						if err != nil {
							b.Fatal(err)
						}
						if _, err := io.Copy(w, bytes.NewReader(pt)); err != nil {
							b.Fatal(err)
						}
						if err := w.Close(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkDecrypt streams a 256 MiB message through Decrypt into io.Discard.
func BenchmarkDecrypt(b *testing.B) {
	kr := testKeyring(b, "bench")
	for _, suite := range suites {
		ct, err := envelope.EncryptBytes(ctx, streamPlaintext(), envelope.EncryptOptions{Keyring: kr, Suite: suite})
		if err != nil {
			b.Fatal(err)
		}
		for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("256MiB/%04X/workers=%d", uint16(suite), workers), func(b *testing.B) {
				runtime.GC()
				b.SetBytes(streamSize)
				b.ReportAllocs()
				for b.Loop() {
					r, err := envelope.Decrypt(ctx, bytes.NewReader(ct), envelope.DecryptOptions{Keyring: kr, Workers: workers})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSmallMessages encrypts 4 KiB messages, one after another, each
// with its own data key from the raw AES keyring.
func BenchmarkSmallMessages(b *testing.B) {
	kr := testKeyring(b, "bench")
	pt := randomBytes(4 << 10)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: kr, Workers: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
