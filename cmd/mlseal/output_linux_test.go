//go:build linux

package main

import (
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
		r := startWithTerminal(e, true, c.args...)
		code, screen := r.wait()
		if code != c.code {
			t.Errorf("mlseal %s, stdout a terminal: exit %d, want %d\n%s", strings.Join(c.args, " "), code, c.code, r.stderr.String())
		}
		if c.code == 1 && (screen != "" || !strings.Contains(r.stderr.String(), "refusing to write encrypted binary data to the terminal")) {
			t.Errorf("refused, yet %q written to the terminal; stderr:\n%s", screen, r.stderr.String())
		}
		if c.code == 0 && screen == "" {
			t.Error("-o -: nothing written to the terminal")
		}
	}
}
