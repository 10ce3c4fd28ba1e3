//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocalNamesRefused: in a local batch, a link out of the input
// directory is not followed without --follow-symlinks, and a name with a
// backslash is not written to a local directory; each is reported, the
// batch goes on (exit 4), and nothing is written outside the output.
func TestLocalNamesRefused(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k.key")
	if err := os.MkdirAll(e.path("in"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.write("in/ok.csv", []byte("ok"))
	e.write(`in/back\slash.csv`, []byte("b"))
	e.write("secret.txt", []byte("outside"))
	if err := os.Symlink(e.path("secret.txt"), e.path("in/link.csv")); err != nil {
		t.Fatal(err)
	}
	r := e.fail(4, nil, "encrypt", "-k", "k.key", "-o", "out", "in")
	for _, want := range []string{
		"in/link.csv: refused",
		"out of in (not followed unless asked)",
		`back\slash.csv: refused`,
		"backslash",
		"encrypted 1, skipped 0, failed 2 of 3 inputs",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	ents, _ := os.ReadDir(e.path("out"))
	if len(ents) != 1 || ents[0].Name() != "ok.csv.enc" {
		t.Errorf("out holds %v", ents)
	}
	r = e.fail(4, nil, "encrypt", "-k", "k.key", "--follow-symlinks", "--force", "-o", "out", "in")
	if !e.exists(filepath.Join("out", "link.csv.enc")) || strings.Contains(r.stderr, "link.csv: refused") {
		t.Errorf("--follow-symlinks:\n%s", r.stderr)
	}
}
