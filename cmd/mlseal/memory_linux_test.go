package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/mlseal/mlseal/envelope"
)

// peakRSS runs mlseal with args in e's directory and returns its peak
// resident set size in bytes.
func (e *env) peakRSS(t *testing.T, args ...string) int64 {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+e.config)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // stdout: the null device, which exec opens when Stdout is nil
	if err := cmd.Run(); err != nil {
		t.Fatalf("mlseal %v: %v\n%s", args, err, stderr.Bytes())
	}
	return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024 // KiB on Linux
}

// TestDecryptMemoryUnderLargeFrames decrypts a message whose (authentic)
// header declares the largest frames mlseal accepts with 16 workers: the
// frames held at once stay under --max-buffered (64 MiB by default)
// whatever the worker count, so the peak RSS stays under that limit plus
// what the same command takes for a small message and a constant. Before
// the limit, 16 workers held every frame of such a message at once.
func TestDecryptMemoryUnderLargeFrames(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and decrypts a 192 MiB message")
	}
	const frameLen = envelope.DefaultMaxFrameLength
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k.key")
	e.write("small", randomBytes(t, 8<<10))
	e.ok(nil, "encrypt", "-k", "k.key", "--frame-length", "4096", "-o", "small.enc", "small")
	base := e.peakRSS(t, "decrypt", "-k", "k.key", "--workers", "16", "-o", "small.out", "small.enc")

	big, err := os.Create(e.path("big"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(3 * frameLen); err != nil { // three whole frames and an empty final one
		t.Fatal(err)
	}
	big.Close()
	e.ok(nil, "encrypt", "-k", "k.key", "--frame-length", fmt.Sprint(frameLen), "-o", "big.enc", "big")
	os.Remove(e.path("big"))

	const slack = 24 << 20
	for _, c := range []struct {
		flags []string
		limit int64
	}{
		{nil, envelope.DefaultMaxBuffered},
		{[]string{"--max-buffered", fmt.Sprint(2 * (frameLen + 64))}, 2 * (frameLen + 64)},
	} {
		args := append([]string{"decrypt", "-k", "k.key", "--workers", "16", "-o", "-"}, c.flags...)
		rss := e.peakRSS(t, append(args, "big.enc")...)
		t.Logf("--workers 16 %v: peak RSS %.1f MiB (%.1f MiB for a small message)", c.flags, float64(rss)/(1<<20), float64(base)/(1<<20))
		if rss > base+c.limit+slack {
			t.Errorf("--workers 16 %v: peak RSS %.1f MiB, more than the %d MiB limit plus %.1f MiB",
				c.flags, float64(rss)/(1<<20), c.limit>>20, float64(base+slack)/(1<<20))
		}
	}
	e.fail(exitUsage, nil, "decrypt", "-k", "k.key", "--max-buffered", "-1", "-o", "-", "big.enc")
}
