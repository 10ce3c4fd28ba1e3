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
