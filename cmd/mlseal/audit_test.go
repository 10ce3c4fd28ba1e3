package main

import (
	"os"
	"strings"
	"testing"
)

// TestAuditWriteFailureFails checks that a batch whose audit trail cannot
// be written (here a device that is always full) does not end in success:
// the record of what the job did is part of what was asked.
func TestAuditWriteFailureFails(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k.key")
	if err := os.MkdirAll(e.path("in"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.write("in/a.txt", []byte("a"))
	e.write("in/b.txt", []byte("b"))
	r := e.fail(exitError, nil, "encrypt", "-k", "k.key", "--audit", "/dev/full", "-o", "out/", "in")
	if !strings.Contains(r.stderr, "audit trail") || !strings.Contains(r.stderr, "no space left") {
		t.Errorf("stderr does not say that the audit trail could not be written:\n%s", r.stderr)
	}
}
