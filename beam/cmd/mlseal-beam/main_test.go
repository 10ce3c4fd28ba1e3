package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/mlseal/mlseal/envelope/keyfile"
)

func TestMain(m *testing.M) { ptest.Main(m) }

// command sets the flags as a command line would and runs the pipeline.
func command(t *testing.T, args ...string) error {
	t.Helper()
	keys, oldKeys, contextPairs, requiredKeys = nil, nil, nil, nil
	for _, name := range []string{"op", "input", "output", "results", "force", "suffix"} {
		flag.Set(name, flag.Lookup(name).DefValue)
	}
	if err := flag.CommandLine.Parse(args); err != nil {
		t.Fatal(err)
	}
	return run(context.Background())
}

func newKey(t *testing.T, path string) string {
	t.Helper()
	f, err := keyfile.Generate(keyfile.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WriteNew(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEncryptDecrypt runs the command as the README does: a directory
// encrypted, decrypted back, a report written; a wrong key ends in the
// error that exits 4.
func TestEncryptDecrypt(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.MkdirAll(filepath.Join(in, "sub"), 0o755)
	files := map[string]string{"a.csv": "x,y\n1,2\n", "sub/b.jsonl": `{"k":1}` + "\n"}
	for name, data := range files {
		os.WriteFile(filepath.Join(in, name), []byte(data), 0o644)
	}
	key := newKey(t, filepath.Join(dir, "k.key"))
	other := newKey(t, filepath.Join(dir, "other.key"))
	enc, back := filepath.Join(dir, "enc"), filepath.Join(dir, "back")
	report := filepath.Join(dir, "report.jsonl")

	if err := command(t, "--op", "encrypt", "--key", key, "--context", "dataset=t", "--input", in, "--output", enc, "--results", report); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(report); strings.Count(string(data), `"status":"done"`) != 2 {
		t.Errorf("report:\n%s", data)
	}
	if err := command(t, "--op", "decrypt", "--key", key, "--context", "dataset=t", "--input", enc, "--output", back); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		if got, _ := os.ReadFile(filepath.Join(back, name)); !bytes.Equal(got, []byte(want)) {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}

	err := command(t, "--op", "decrypt", "--key", other, "--context", "dataset=t", "--input", filepath.Join(enc, "*.enc"), "--output", filepath.Join(dir, "wrong"))
	var failed *failedItems
	if !errors.As(err, &failed) || failed.n != 1 {
		t.Errorf("wrong key: %v, want 1 failed item", err)
	}
	if err := command(t, "--op", "shred", "--key", key, "--input", in, "--output", enc); err == nil || !strings.Contains(err.Error(), "unknown --op") {
		t.Errorf("unknown op: %v", err)
	}
}
