//go:build linux

package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// terminalRun is mlseal running with stderr on a pseudo-terminal.
type terminalRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	seen bytes.Buffer // what mlseal drew on the terminal
	more chan struct{}
	eof  chan struct{}
	// stderr is mlseal's stderr when stdout is the terminal.
	stderr strings.Builder
}

// startOnTerminal starts mlseal in e with stderr on a new pseudo-terminal
// and stdout discarded.
func startOnTerminal(e *env, args ...string) *terminalRun {
	e.t.Helper()
	return startWithTerminal(e, false, args...)
}

// startWithTerminal starts mlseal in e with stdout (or else stderr) on a
// new pseudo-terminal, and the other in r.stderr or discarded.
func startWithTerminal(e *env, stdout bool, args ...string) *terminalRun {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+e.config)
	return startCmdWithTerminal(e.t, cmd, stdout)
}

// startCmdWithTerminal starts an mlseal command as startWithTerminal does.
func startCmdWithTerminal(t *testing.T, cmd *exec.Cmd, stdout bool) *terminalRun {
	t.Helper()
	ptmx, tty := openPTY(t)
	r := &terminalRun{t: t, cmd: cmd, more: make(chan struct{}, 1), eof: make(chan struct{})}
	r.cmd.Stderr, r.cmd.Stdout = tty, io.Discard
	if stdout {
		r.cmd.Stdout, r.cmd.Stderr = tty, &r.stderr
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // mlseal holds it; the reader sees EIO once mlseal is gone
	go func() {
		defer close(r.eof)
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			r.mu.Lock()
			r.seen.Write(b[:n])
			r.mu.Unlock()
			select {
			case r.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return r
}

// waitFor waits until the terminal shows s, or fails after a minute.
func (r *terminalRun) waitFor(s string) {
	r.t.Helper()
	limit := time.After(time.Minute)
	for {
		r.mu.Lock()
		ok := strings.Contains(r.seen.String(), s)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.more:
		case <-limit:
			r.t.Fatalf("the terminal never showed %q; it shows:\n%q", s, r.screen())
		}
	}
}

// wait waits for mlseal to exit and returns its exit code and all that
// it drew.
func (r *terminalRun) wait() (int, string) {
	r.t.Helper()
	err := r.cmd.Wait()
	<-r.eof
	code := 0
	if err != nil {
		code = r.cmd.ProcessState.ExitCode()
	}
	return code, r.screen()
}

func (r *terminalRun) screen() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen.String()
}

// onTerminal runs mlseal to its end with stderr on a pseudo-terminal.
func onTerminal(e *env, want int, args ...string) string {
	e.t.Helper()
	code, screen := startOnTerminal(e, args...).wait()
	if code != want {
		e.t.Fatalf("mlseal %s: exit %d, want %d\n%q", strings.Join(args, " "), code, want, screen)
	}
	return screen
}

// TestProgressOnTerminal: a single file, a list of files and a directory
// all draw the same bar (bytes of the total, rate, time left) on a
// terminal and end with a summary line; --quiet draws nothing.
func TestProgressOnTerminal(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k")
	e.write("big", randomBytes(t, 3<<20))
	if err := os.Mkdir(e.path("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.write("dir/a", randomBytes(t, 1<<20))
	e.write("dir/b", randomBytes(t, 1<<20))

	// Whatever the timing, the bar is drawn at least once, complete,
	// before it is replaced by the summary.
	for _, c := range []struct {
		args    []string
		bar     string
		summary string
	}{
		{[]string{"encrypt", "-k", "k", "-o", "big.enc", "big"}, "big  [======================]  3.0 MiB / 3.0 MiB", "mlseal: encrypted big to big.enc (3.0 MiB in "},
		{[]string{"decrypt", "-k", "k", "-o", "big.dec", "big.enc"}, "big.enc  [======================]  3.0 MiB / 3.0 MiB", "mlseal: decrypted big.enc to big.dec (3.0 MiB in "},
		{[]string{"encrypt", "-k", "k", "-o", "out/", "dir/a", "dir/b"}, "2/2  [======================]  2.0 MiB / 2.0 MiB", "mlseal: encrypted 2, skipped 0, failed 0 of 2 inputs (2.0 MiB in "},
		{[]string{"encrypt", "-k", "k", "-o", "tree", "dir"}, "2/2  [======================]  2.0 MiB / 2.0 MiB", "mlseal: encrypted 2, skipped 0, failed 0 of 2 inputs (2.0 MiB in "},
	} {
		screen := onTerminal(e, 0, c.args...)
		if !strings.Contains(screen, c.bar) || !strings.Contains(screen, c.summary) {
			t.Errorf("mlseal %s on a terminal drew:\n%q\nwant %q and %q", strings.Join(c.args, " "), screen, c.bar, c.summary)
		}
		if i := strings.LastIndex(screen, "mlseal: "); i < 0 || !strings.Contains(screen[i:], "/s") || !strings.HasSuffix(screen, ")\r\n") {
			t.Errorf("mlseal %s on a terminal: the summary, with its rate, is not the last line:\n%q", strings.Join(c.args, " "), screen)
		}
	}

	// --quiet: nothing but errors.
	if screen := onTerminal(e, 0, "encrypt", "-q", "-k", "k", "-o", "q.enc", "big"); screen != "" {
		t.Errorf("--quiet drew %q", screen)
	}
	screen := onTerminal(e, 4, "encrypt", "--quiet", "-k", "k", "-o", "qdir", "dir/a", "missing")
	if strings.Contains(screen, "[") || strings.Contains(screen, "inputs (") || !strings.Contains(screen, "mlseal: error: missing: ") {
		t.Errorf("--quiet with a failure drew:\n%q", screen)
	}
}

// TestProgressRateAndETA: while a job runs, the bar shows the bytes of
// the total, the rate and the time left, with errors printed above it.
// The second input is a FIFO that the test fills only once the bar has
// been seen, so the job is caught in the middle whatever the timing.
func TestProgressRateAndETA(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k")
	e.write("first", randomBytes(t, 1<<20))
	if err := syscall.Mkfifo(e.path("fifo"), 0o600); err != nil {
		t.Skipf("no FIFOs: %v", err)
	}
	r := startOnTerminal(e, "encrypt", "-k", "k", "-o", "out/", "--jobs", "1", "first", "missing", "fifo")
	r.waitFor("ETA")
	f, err := os.OpenFile(e.path("fifo"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(randomBytes(t, 1<<20))
	f.Close()
	code, screen := r.wait()
	if code != 4 {
		t.Fatalf("exit %d, want 4 (one input missing):\n%q", code, screen)
	}
	// A frame in the middle: one of three finished, 1 MiB read, a rate
	// and the time left.
	mid := screen[:strings.Index(screen, "ETA")]
	mid = mid[strings.LastIndex(mid, "\n")+1:]
	for _, want := range []string{"/3  [", "1.0 MiB / 1.0 MiB", "MiB/s"} {
		if !strings.Contains(mid, want) {
			t.Errorf("the bar in the middle of the job, %q, lacks %q", mid, want)
		}
	}
	if !strings.Contains(screen, "mlseal: error: missing: ") || !strings.Contains(screen, "mlseal: encrypted 2, skipped 0, failed 1 of 3 inputs") {
		t.Errorf("errors or summary missing:\n%q", screen)
	}
}

// TestProgressS3Prefix: an S3 prefix draws the same bar as a directory.
func TestProgressS3Prefix(t *testing.T) {
	s := newS3Env(t)
	for _, k := range []string{"raw/a", "raw/b", "raw/c"} {
		s.put(k, randomBytes(t, 1<<20))
	}
	args := []string{"encrypt", "-k", "k.key", s.url("raw/"), "-o", s.url("enc/")}
	code, screen := startCmdWithTerminal(t, s.cmd(nil, args...), false).wait()
	if code != 0 {
		t.Fatalf("mlseal %s: exit %d\n%q", strings.Join(args, " "), code, screen)
	}
	for _, want := range []string{"3/3  [======================]  3.0 MiB / 3.0 MiB", "mlseal: encrypted 3, skipped 0, failed 0 of 3 inputs (3.0 MiB in "} {
		if !strings.Contains(screen, want) {
			t.Errorf("mlseal %s on a terminal drew:\n%q\nwant %q", strings.Join(args, " "), screen, want)
		}
	}
}

// TestProgressNotOnPipes: with stderr not a terminal, nothing is drawn: a
// single file prints nothing, a batch only its summary.
func TestProgressNotOnPipes(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k")
	e.write("big", randomBytes(t, 3<<20))
	if r := e.ok(nil, "encrypt", "-k", "k", "-o", "big.enc", "big"); r.stderr != "" {
		t.Errorf("single file, stderr a pipe: %q", r.stderr)
	}
	r := e.ok(nil, "encrypt", "-k", "k", "-o", "out/", "big", "big.enc")
	if strings.ContainsAny(r.stderr, "\r\x1b[") || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "mlseal: encrypted 2, skipped 0, failed 0 of 2 inputs") {
		t.Errorf("batch, stderr a pipe: %q", r.stderr)
	}
	if r := e.ok(nil, "encrypt", "-q", "-k", "k", "-o", "out2/", "big", "big.enc"); r.stderr != "" {
		t.Errorf("batch with --quiet, stderr a pipe: %q", r.stderr)
	}
}
