//go:build unix

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitFor polls until cond holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tempFiles lists the temporary output files in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var tmp []string
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			tmp = append(tmp, e.Name())
		}
	}
	return tmp
}

// startPiped starts mlseal with a pipe to its stdin and, if asked, one
// from its stdout; the test's end kills it.
func (e *env) startPiped(t *testing.T, pipeOut bool, args ...string) (cmd *exec.Cmd, stdin io.WriteCloser, stdout io.ReadCloser, stderr *bytes.Buffer) {
	t.Helper()
	cmd = exec.Command(binary, args...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+e.config)
	stdin, err := cmd.StdinPipe()
	if err == nil && pipeOut {
		stdout, err = cmd.StdoutPipe()
	}
	if err != nil {
		t.Fatal(err)
	}
	stderr = &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, stdin, stdout, stderr
}

// TestSignalsRemoveTempFiles sends each signal that ends mlseal to a
// decrypt that is writing its output's temporary file, with its input
// still open: mlseal leaves with 128 + the signal's number, and neither
// the temporary file (of unverified plaintext) nor the output remains.
func TestSignalsRemoveTempFiles(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k.key")
	e.write("plain.bin", randomBytes(t, 4<<20))
	e.ok(nil, "encrypt", "-k", "k.key", "--frame-length", "4096", "-o", "msg.mlseal", "plain.bin")
	msg := e.read("msg.mlseal")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			out := "out-" + strings.ReplaceAll(sig.String(), " ", "-")
			cmd, stdin, _, stderr := e.startPiped(t, false, "decrypt", "-k", "k.key", "-o", out)
			// Half the message: the output's temporary file has plaintext
			// in it, and mlseal waits for the rest.
			if _, err := stdin.Write(msg[:len(msg)/2]); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the temporary file", func() bool { return len(tempFiles(t, e.dir)) > 0 })
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			stdin.Close()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 128+int(sig) {
				t.Fatalf("%v: %v, want exit status %d\n%s", sig, err, 128+int(sig), stderr.String())
			}
			if tmp := tempFiles(t, e.dir); len(tmp) != 0 {
				t.Errorf("%v left %v", sig, tmp)
			}
			if e.exists(out) {
				t.Errorf("%v left the output", sig)
			}
		})
	}
}

// TestEPIPERemovesTempFiles closes the pipe mlseal writes its stdout to
// while it also writes a file (tokenize's --rejects): it leaves with 141
// (128 + SIGPIPE) and removes the file's temporary file, where the default
// SIGPIPE would kill it on the spot.
func TestEPIPERemovesTempFiles(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "team.key")
	e.ok(nil, "tokenize", "keygen", "--key", "team.key", "-o", "tok.keyset")
	e.write("policy.json", []byte(tokPolicy))
	var csv bytes.Buffer
	csv.WriteString("customer_id,name,email,ssn,birth_date,notes\n")
	for i := range 200_000 {
		fmt.Fprintf(&csv, "C-%d,Name %d,u%d@example.com,524-71-%04d,1990-03-01,note\n", i, i, i, i%10000)
	}
	cmd, stdin, stdout, stderr := e.startPiped(t, true, "tokenize", "--format", "csv", "--policy", "policy.json", "--keyset", "tok.keyset", "-k", "team.key", "--rejects", "rej.csv")
	go func() {
		stdin.Write(csv.Bytes())
		// Keep stdin open: mlseal must end because of stdout.
	}()
	if _, err := io.ReadFull(stdout, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the temporary file", func() bool { return len(tempFiles(t, e.dir)) > 0 })
	stdout.Close()
	err := cmd.Wait()
	stdin.Close()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 128+int(syscall.SIGPIPE) {
		t.Fatalf("closed stdout: %v, want exit status 141\n%s", err, stderr.String())
	}
	if tmp := tempFiles(t, e.dir); len(tmp) != 0 {
		t.Errorf("left %v", tmp)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "rej.csv")); err == nil {
		t.Error("the rejects file was committed")
	}
}

// TestClosedStdoutIsQuiet: `mlseal encrypt ... | head -c 10` is the
// reader's choice, not mlseal's failure: exit status 141, as a program that
// SIGPIPE kills, and no error message.
func TestClosedStdoutIsQuiet(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "team.key")
	e.write("data.bin", bytes.Repeat([]byte("0123456789abcdef"), 1<<18)) // 4 MiB
	e.ok(nil, "encrypt", "-k", "team.key", "-o", "data.bin.enc", "data.bin")
	for _, args := range [][]string{
		{"encrypt", "-k", "team.key", "-o", "-", "data.bin"},
		{"decrypt", "-k", "team.key", "data.bin.enc"},
	} {
		cmd, stdin, stdout, stderr := e.startPiped(t, true, args...)
		if _, err := io.ReadFull(stdout, make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		stdout.Close()
		err := cmd.Wait()
		stdin.Close()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGPIPE) {
			t.Errorf("%s to a closed pipe: %v, want exit status 141", args[0], err)
		}
		if strings.Contains(stderr.String(), "error") {
			t.Errorf("%s to a closed pipe printed: %s", args[0], stderr.String())
		}
	}
}
