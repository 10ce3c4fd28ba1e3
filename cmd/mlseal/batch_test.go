package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kmstest "github.com/mlseal/mlseal/internal/testserver/kms"
)

// TestBatchSharesDataKeys encrypts and decrypts a directory of small files
// with a KMS key at --jobs 1, 4 and 16: parallel items share one cached
// data key, so each batch costs 1 GenerateDataKey and its decryption 1
// Decrypt, whatever the parallelism. The test server holds each answer
// for 100 ms, so that parallel items all miss the cache while the first
// call is in flight.
func TestBatchSharesDataKeys(t *testing.T) {
	e := newKMSEnv(t)
	arn := e.srv.CreateKey("us-east-1")
	const files = 64
	if err := os.Mkdir(e.path("in"), 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		e.write(filepath.Join("in", fmt.Sprintf("f%03d.csv", i)), []byte(strings.Repeat("x", 4096)))
	}
	e.srv.SetLatency(100 * time.Millisecond)
	for _, jobs := range []string{"1", "4", "16"} {
		enc, dec := "enc"+jobs, "dec"+jobs
		e.srv.ResetCalls()
		e.ok(nil, "encrypt", "-k", "kms:"+arn, "--jobs", jobs, "-o", enc, "in")
		gdk := e.srv.Calls(kmstest.OpGenerateDataKey)
		e.srv.ResetCalls()
		e.ok(nil, "decrypt", "-k", "kms:"+arn, "--jobs", jobs, "-o", dec, enc)
		d := e.srv.Calls(kmstest.OpDecrypt)
		t.Logf("--jobs %s, %d files: %d GenerateDataKey, %d Decrypt", jobs, files, gdk, d)
		if gdk != 1 || d != 1 {
			t.Errorf("--jobs %s: %d GenerateDataKey and %d Decrypt calls for %d files, want 1 and 1", jobs, gdk, d, files)
		}
	}
}

// TestBatchStopsOnDeadKMS encrypts 100 files with a KMS endpoint that
// accepts connections and never answers: the batch stops after the first
// item that runs out of --kms-timeout, and says why, instead of waiting
// out the timeout once per file.
func TestBatchStopsOnDeadKMS(t *testing.T) {
	e := newKMSEnv(t)
	arn := e.srv.CreateKey("us-east-1")
	const files = 100
	if err := os.Mkdir(e.path("in"), 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		e.write(filepath.Join("in", fmt.Sprintf("f%03d.csv", i)), []byte("data"))
	}
	start := time.Now()
	r := e.run(nil, "encrypt", "--kms-endpoint", silentListener(t), "--kms-timeout", "2s", "-k", "kms:"+arn, "--jobs", "4", "-o", "out", "in")
	t.Logf("%d files, --kms-timeout 2s, --jobs 4, KMS never answers: exit %d after %v", files, r.code, time.Since(start).Round(time.Millisecond))
	if r.code != exitBatch {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitBatch, r.stderr)
	}
	done, skipped, failed, total := summary(t, r.stderr)
	if done != 0 || skipped != 0 || failed > 4 || total != files || !strings.Contains(r.stderr, "stopped before the other inputs") {
		t.Errorf("summary: %d done, %d skipped, %d failed of %d\n%s", done, skipped, failed, total, r.stderr)
	}
	if ents, _ := os.ReadDir(e.path("out")); len(ents) != 0 {
		t.Errorf("%d outputs written", len(ents))
	}
}
