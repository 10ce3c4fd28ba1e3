package main

import (
	"os"
	"strings"
	"testing"
)

// --follow-symlinks walks a linked directory out of the input directory,
// and a link back up to a directory walked already is refused, not
// walked round and round.
func TestFollowSymlinkedDirectory(t *testing.T) {
	e := newEnv(t)
	for _, d := range []string{"in", "shared/sub"} {
		if err := os.MkdirAll(e.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e.write("in/a", []byte("a"))
	e.write("shared/sub/b", []byte("b"))
	for link, target := range map[string]string{"in/linked": "../shared", "shared/sub/loop": ".."} {
		if err := os.Symlink(target, e.path(link)); err != nil {
			t.Fatal(err)
		}
	}
	r := e.run(nil, "encrypt", "--follow-symlinks", "-o", "out/", "in/")
	if !e.exists("out/a.enc") || !e.exists("out/linked/sub/b.enc") {
		t.Errorf("the linked directory was not walked: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "loop") || r.code != 4 {
		t.Errorf("the loop was not refused: exit %d\n%s", r.code, r.stderr)
	}
	if e.exists("out/linked/sub/loop") {
		t.Error("the loop was walked")
	}
	e.ok(nil, "decrypt", "-o", "b.dec", "out/linked/sub/b.enc")
	if string(e.read("b.dec")) != "b" {
		t.Error("round trip")
	}
}
