//go:build unix

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestInterruptedBatchRecords interrupts a batch that waits on one input
// (a FIFO nobody writes to) after finishing the others: the manifest and
// the audit trail end with a "stopped" line, and every output that the
// manifest records done exists.
func TestInterruptedBatchRecords(t *testing.T) {
	e := newEnv(t)
	e.write("a", []byte("a"))
	e.write("b", []byte("b"))
	if err := syscall.Mkfifo(e.path("fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, stdin, _, stderr := e.startPiped(t, false, "encrypt", "--jobs", "2", "--manifest", "m.jsonl", "--audit", "audit.jsonl", "-o", "out/", "a", "fifo", "b")
	defer stdin.Close()
	waitFor(t, "a and b done", func() bool {
		b, _ := os.ReadFile(e.path("m.jsonl"))
		return strings.Count(string(b), `"status":"done"`) == 2
	})
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("%v, want exit status 130\n%s", err, stderr)
	}
	for _, name := range []string{"m.jsonl", "audit.jsonl"} {
		lines := strings.Split(strings.TrimSpace(string(e.read(name))), "\n")
		var last struct{ Status, Result, Error string }
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
			t.Fatal(err)
		}
		if last.Status != "stopped" && last.Result != "stopped" || !strings.Contains(last.Error, "interrupted") {
			t.Errorf("%s does not end with a stopped line:\n%s", name, strings.Join(lines, "\n"))
		}
		for _, l := range lines {
			var rec struct{ Status, Output string }
			json.Unmarshal([]byte(l), &rec)
			if rec.Status == "done" && !e.exists(strings.TrimPrefix(rec.Output, e.dir+"/")) {
				t.Errorf("%s records %s done, which does not exist", name, rec.Output)
			}
		}
	}
}
