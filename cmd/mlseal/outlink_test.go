package main

import (
	"os"
	"strings"
	"testing"
)

// A symbolic link inside the output directory fails only the items whose
// output would go through it, with a message that says so; the rest of the
// batch is written.
func TestOutputLinkFailsItsItems(t *testing.T) {
	e := newEnv(t)
	for _, d := range []string{"in/evil", "in/ok", "dst", "elsewhere"} {
		if err := os.MkdirAll(e.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e.write("in/evil/x", []byte("x"))
	e.write("in/ok/y", []byte("y"))
	e.write("in/z", []byte("z"))
	if err := os.Symlink("../elsewhere", e.path("dst/evil")); err != nil {
		t.Fatal(err)
	}
	r := e.fail(4, nil, "encrypt", "--jobs", "1", "-o", "dst/", "in/")
	if !strings.Contains(r.stderr, "through a symbolic link") || strings.Contains(r.stderr, "escapes from parent") {
		t.Errorf("no clear message for the link:\n%s", r.stderr)
	}
	if !e.exists("dst/ok/y.enc") || !e.exists("dst/z.enc") {
		t.Errorf("the rest of the batch was not written:\n%s", r.stderr)
	}
	if ents, _ := os.ReadDir(e.path("elsewhere")); len(ents) != 0 {
		t.Errorf("an output went through the link: %v", ents)
	}
}
