package dataset_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlseal/mlseal/dataset"
)

// interruptingEncrypt encrypts, and is interrupted (as by mlseal's signal
// handler) once the message is written, before the job commits it.
type interruptingEncrypt struct{ *dataset.Encrypt }

func (e interruptingEncrypt) Apply(ctx context.Context, t *dataset.Task) error {
	if err := e.Encrypt.Apply(ctx, t); err != nil {
		return err
	}
	dataset.RemoveTemporaryFiles()
	return nil
}

// TestInterruptRecordsTruthfully: an interrupt that removes the temporary
// files of outputs about to be committed leaves no "done" record for them,
// and the manifest and the audit trail say that the batch stopped.
// RemoveTemporaryFiles stops the whole process's outputs, so the job runs
// in a process of its own.
func TestInterruptRecordsTruthfully(t *testing.T) {
	if dir := os.Getenv("DATASET_INTERRUPT_DIR"); dir != "" {
		_, err := dataset.Run(context.Background(), dataset.Options{
			Sources: []dataset.Source{dataset.Source(filepath.Join(dir, "in"))}, Destination: dataset.Destination(filepath.Join(dir, "out")),
			Operation: interruptingEncrypt{encryptOp(t)}, Jobs: 1,
			Manifest: filepath.Join(dir, "m.jsonl"), Audit: filepath.Join(dir, "a.jsonl"),
		})
		t.Logf("run: %v", err)
		return
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"in/a": randomBytes(t, 100), "in/b": randomBytes(t, 100)})
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInterruptRecordsTruthfully$", "-test.v")
	cmd.Env = append(os.Environ(), "DATASET_INTERRUPT_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if outs := listTree(t, filepath.Join(dir, "out")); len(outs) != 0 {
		t.Errorf("outputs left: %v", outs)
	}
	for _, name := range []string{"m.jsonl", "a.jsonl"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		stopped := false
		for line := range strings.Lines(string(b)) {
			var rec struct{ Status, Result, Output string }
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("%s: %q: %v", name, line, err)
			}
			if rec.Status == "done" || rec.Result == "done" {
				t.Errorf("%s records %s done, which was never written: %s", name, rec.Output, line)
			}
			stopped = stopped || rec.Status == "stopped" || rec.Result == "stopped"
		}
		if !stopped {
			t.Errorf("%s has no stopped line:\n%s", name, b)
		}
	}
}

// TestManifestTimes: every line of a manifest says when it was written.
func TestManifestTimes(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"in/a": randomBytes(t, 10), "in/b": randomBytes(t, 10)})
	manifest := filepath.Join(dir, "m.jsonl")
	start := time.Now()
	if _, err := dataset.Run(context.Background(), dataset.Options{
		Sources: []dataset.Source{dataset.Source(filepath.Join(dir, "in"))}, Destination: dataset.Destination(filepath.Join(dir, "out") + "/"),
		Operation: encryptOp(t), Manifest: manifest,
	}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for line := range strings.Lines(string(b)) {
		var rec struct {
			Time   time.Time
			Status string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Time.Before(start.Add(-time.Second)) {
			t.Errorf("line written at %v: %s", rec.Time, line)
		}
		if rec.Status == "done" {
			done++
		}
	}
	if done != 2 {
		t.Errorf("%d done lines:\n%s", done, b)
	}
}
