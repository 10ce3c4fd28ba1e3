//go:build unix

package envelope_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
)

// childEnv, when set, makes the test binary a child that writes or
// decrypts one message and exits: "encrypt KEYHEX FILE FRAMELEN FRAMES" or
// "decrypt KEYHEX FILE WORKERS MAXBUFFERED". The decrypting child's peak
// resident set size (ru_maxrss, which the kernel reports when it exits)
// measures that decrypt alone. Writing the message in a child too keeps the
// parent small, which matters: a child started by vfork and exec inherits
// the parent's high-water mark in ru_maxrss.
const childEnv = "MLSEAL_TEST_MEMORY_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		if err := memoryChild(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func memoryChild(spec string) error {
	var op, keyHex, path string
	var a, b int64
	if _, err := fmt.Sscan(spec, &op, &keyHex, &path, &a, &b); err != nil {
		return fmt.Errorf("bad %s %q: %v", childEnv, spec, err)
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil {
		return err
	}
	kr, err := rawaes.New("mlseal-test", "rss", key)
	if err != nil {
		return err
	}
	if op == "encrypt" {
		return writeMessage(kr, path, int(a), int(b))
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := envelope.Decrypt(ctx, f, envelope.DecryptOptions{Keyring: kr, Workers: int(a), MaxBuffered: b})
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, r)
	return err
}

// writeMessage encrypts frames frames of frameLen bytes (the last one of a
// single byte) to a new file.
func writeMessage(kr envelope.Keyring, path string, frameLen, frames int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := envelope.Encrypt(ctx, bw, envelope.EncryptOptions{Keyring: kr, FrameLength: frameLen, Workers: 1})
	if err != nil {
		return err
	}
	chunk := []byte(strings.Repeat("mlseal memory test ", 1<<16))
	for left := int64(frameLen)*int64(frames-1) + 1; left > 0; left -= int64(len(chunk)) {
		if _, err := w.Write(chunk[:min(left, int64(len(chunk)))]); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// runChild runs the test binary as a memory child and returns its peak
// resident set size in bytes.
func runChild(t *testing.T, op string, key []byte, path string, a, b int64) int64 {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %x %s %d %d", childEnv, op, key, path, a, b))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s child: %v\n%s", op, err, out)
	}
	return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024 // KiB on Linux
}

// TestDecryptMemoryBoundedByMaxBuffered decrypts a message whose header
// declares the largest frames allowed (64 MiB) with up to 16 workers: the
// decoder's buffered ciphertext must stay under DecryptOptions.MaxBuffered
// (64 MiB by default) whatever the worker count, so the process's peak RSS
// stays under that plus what the runtime and the test binary take (measured
// first with a small message). MLSEAL_TEST_RSS_FRAMES sets the number of
// frames (default 5).
func TestDecryptMemoryBoundedByMaxBuffered(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and decrypts a 256 MiB message in child processes")
	}
	const frameLen = envelope.DefaultMaxFrameLength
	frames := 5
	if s := os.Getenv("MLSEAL_TEST_RSS_FRAMES"); s != "" {
		var err error
		if frames, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	key := randomBytes(32)
	small := filepath.Join(t.TempDir(), "small.enc")
	runChild(t, "encrypt", key, small, 4096, 2)
	base := runChild(t, "decrypt", key, small, 16, 0)
	path := filepath.Join(t.TempDir(), "large.enc")
	runChild(t, "encrypt", key, path, frameLen, int64(frames))
	const slack = 16 << 20
	for _, c := range []struct {
		workers     int
		maxBuffered int64
	}{{1, 0}, {2, 0}, {8, 0}, {16, 0}, {16, 3 * (frameLen + 64)}} {
		limit := c.maxBuffered
		if limit == 0 {
			limit = envelope.DefaultMaxBuffered
		}
		rss := runChild(t, "decrypt", key, path, int64(c.workers), c.maxBuffered)
		t.Logf("%d frames of %d MiB, %d workers, MaxBuffered %d MiB: peak RSS %.1f MiB (%.1f MiB with a 2-frame 4 KiB message)",
			frames, frameLen>>20, c.workers, limit>>20, float64(rss)/(1<<20), float64(base)/(1<<20))
		if rss > base+limit+slack {
			t.Errorf("%d workers, MaxBuffered %d MiB: peak RSS %.1f MiB, more than the limit plus %.1f MiB",
				c.workers, limit>>20, float64(rss)/(1<<20), float64(base+slack)/(1<<20))
		}
	}
}
