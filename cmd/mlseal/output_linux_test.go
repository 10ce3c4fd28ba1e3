//go:build linux

package main

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryToTerminal: encrypt refuses to write a message to a real
// terminal unless -o - asks for it.
func TestBinaryToTerminal(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k")
	e.write("file", []byte("some data"))
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"encrypt", "-k", "k", "file"}, 1},
		{[]string{"encrypt", "-k", "k", "-o", "-", "file"}, 0},
	} {
		ptmx, tty := openPTY(t)
		drawn := make(chan int)
		go func() {
			n, _ := io.Copy(io.Discard, ptmx) // ends with EIO once the terminal is closed
			drawn <- int(n)
		}()
		cmd := exec.Command(binary, c.args...)
		cmd.Dir = e.dir
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+e.config)
		cmd.Stdout = tty
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		tty.Close()
		n := <-drawn
		code := 0
		if err != nil {
			code = cmd.ProcessState.ExitCode()
		}
		if code != c.code {
			t.Errorf("mlseal %s, stdout a terminal: exit %d, want %d\n%s", strings.Join(c.args, " "), code, c.code, stderr.String())
		}
		if c.code == 1 && (n != 0 || !strings.Contains(stderr.String(), "refusing to write encrypted binary data to the terminal")) {
			t.Errorf("refused, yet %d bytes written to the terminal; stderr:\n%s", n, stderr.String())
		}
		if c.code == 0 && n == 0 {
			t.Error("-o -: nothing written to the terminal")
		}
	}
}
