package main

import (
	"os"
	"strings"
	"testing"
)

// The job's own manifest and audit trail in its input directory are not
// inputs: a rerun resumes instead of failing on their outputs.
func TestWalkLeavesOutJobFiles(t *testing.T) {
	e := newEnv(t)
	if err := os.Mkdir(e.path("in"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.write("in/a", []byte("a"))
	args := []string{"encrypt", "--manifest", "in/m.jsonl", "--audit", "in/audit.jsonl", "-o", "out/", "in/"}
	r := e.ok(nil, args...)
	if !strings.Contains(r.stderr, "encrypted 1,") {
		t.Errorf("first run:\n%s", r.stderr)
	}
	if e.exists("out/m.jsonl.enc") || e.exists("out/audit.jsonl.enc") {
		t.Error("the manifest or the audit trail was encrypted as data")
	}
	r = e.ok(nil, args...)
	if !strings.Contains(r.stderr, "skipped 1,") {
		t.Errorf("rerun:\n%s", r.stderr)
	}
}

// An output directory inside the input directory is not an input: a rerun
// does not encrypt the outputs again.
func TestWalkLeavesOutDestination(t *testing.T) {
	e := newEnv(t)
	if err := os.Mkdir(e.path("t3"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.write("t3/a", []byte("a"))
	e.write("t3/b", []byte("b"))
	e.ok(nil, "encrypt", "-o", "t3/enc/", "t3/")
	r := e.ok(nil, "encrypt", "--force", "-o", "t3/enc/", "t3/")
	if e.exists("t3/enc/enc/a.enc.enc") || !strings.Contains(r.stderr, "of 2 inputs") {
		t.Errorf("the destination was walked as input:\n%s", r.stderr)
	}
}
