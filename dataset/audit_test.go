package dataset_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/internal/testserver/minio"
	"github.com/mlseal/mlseal/s3io"
)

func readAudit(t *testing.T, data []byte) []dataset.AuditRecord {
	t.Helper()
	var recs []dataset.AuditRecord
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var r dataset.AuditRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestAudit(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{}
	for i := range 5 {
		files[fmt.Sprintf("f%d.csv", i)] = []byte(strings.Repeat("SECRET-PLAINTEXT-MARKER,", i+1))
	}
	writeTree(t, filepath.Join(dir, "in"), files)
	ctx := context.Background()
	audit := filepath.Join(dir, "audit.jsonl")
	enc := encryptOp(t)
	enc.Options.Context = map[string]string{"dataset": "ctx-value-marker"}
	run := func(op dataset.Operation, in, out string, values bool) error {
		_, err := dataset.Run(ctx, dataset.Options{
			Sources: []dataset.Source{dataset.Source(filepath.Join(dir, in))}, Destination: dataset.Destination(filepath.Join(dir, out)),
			Operation: op, Audit: audit, AuditContextValues: values,
		})
		return err
	}
	if err := run(enc, "in", "enc", false); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(audit); fi.Mode().Perm() != 0o600 {
		t.Errorf("audit trail mode %v, want 0600", fi.Mode().Perm())
	}
	key := bytes.Repeat([]byte{7}, 32) // testKeyring's
	for _, secret := range []string{"SECRET-PLAINTEXT-MARKER", "ctx-value-marker", hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), string(key)} {
		if bytes.Contains(data, []byte(secret)) {
			t.Fatalf("the audit trail holds %q", secret)
		}
	}
	recs := readAudit(t, data)
	if len(recs) != 5 {
		t.Fatalf("%d audit lines, want 5", len(recs))
	}
	for _, r := range recs {
		if r.Operation != "encrypt" || r.Result != "done" || r.Run != recs[0].Run || len(r.Run) != 16 ||
			!strings.HasPrefix(r.Input, filepath.Join(dir, "in")) || r.Output != filepath.Join(dir, "enc", filepath.Base(r.Input)+".enc") ||
			r.InputSize == 0 || r.OutputSize <= r.InputSize || len(r.MessageID) != 64 || r.Suite != "AES_256_GCM_HKDF_SHA512_COMMIT_KEY" ||
			!slices.Equal(r.WrappingKeys, []dataset.AuditKey{{Provider: "dataset-test", Key: "key"}}) ||
			!slices.Equal(r.ContextKeys, []string{"dataset"}) || r.Context != nil || time.Since(r.Time) > time.Hour {
			t.Errorf("audit record %+v", r)
		}
	}

	// A second job appends: a decrypt with the wrong context fails every
	// item, with the values recorded this time.
	dec := decryptOp(t)
	if err := run(dec, "enc", "dec", true); err == nil {
		t.Fatal("decrypt with the wrong context succeeded")
	}
	data, _ = os.ReadFile(audit)
	recs = readAudit(t, data)
	if len(recs) != 10 {
		t.Fatalf("%d audit lines after the second job, want 10", len(recs))
	}
	for _, r := range recs[5:] {
		if r.Operation != "decrypt" || r.Result != "failed" || r.ErrorClass != dataset.ClassIntegrity || r.Error == "" || r.Run == recs[0].Run {
			t.Errorf("failed item's audit record %+v", r)
		}
	}
	// Values when asked for: a verify with the right context.
	ver := &dataset.Verify{Options: dec.Options}
	ver.Options.Context = enc.Options.Context
	if err := run(ver, "enc", "", true); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(audit)
	recs = readAudit(t, data)
	for _, r := range recs[10:] {
		if r.Operation != "verify" || r.Result != "done" || r.Context["dataset"] != "ctx-value-marker" || r.Output != "" {
			t.Errorf("verify audit record %+v", r)
		}
	}
}

func TestAuditKeyNames(t *testing.T) {
	arn := "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	aesInfo := hex.EncodeToString(append([]byte("team-key"), 0, 0, 0, 128, 0, 0, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12))
	r := &dataset.Result{Op: "encrypt", Status: dataset.StatusDone, WrappingKeys: []string{"aws-kms " + arn, "mlseal " + aesInfo, "ns rsa-key", "ns 00ff"}}
	got := dataset.NewAuditRecord(r, true).WrappingKeys
	want := []dataset.AuditKey{{"aws-kms", arn}, {"mlseal", "team-key"}, {"ns", "rsa-key"}, {"ns", "00ff"}}
	if !slices.Equal(got, want) {
		t.Errorf("wrapping keys %v, want %v", got, want)
	}
}

func TestAuditS3(t *testing.T) {
	srv := minio.Start(t)
	bucket := srv.MakeBucket(t, "audit")
	c := s3io.New(srv.Client(), s3io.Options{})
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "in"), map[string][]byte{"a": []byte("a"), "b": []byte("b")})
	ctx := context.Background()
	for range 2 {
		_, err := dataset.Run(ctx, dataset.Options{
			Sources: []dataset.Source{dataset.Source(filepath.Join(dir, "in"))}, Destination: dataset.Destination("s3://" + bucket + "/enc/"),
			Operation: encryptOp(t), Audit: "s3://" + bucket + "/audit/job.jsonl", S3: c, Overwrite: true,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	obj, err := c.Get(ctx, bucket, "audit/job.jsonl", s3io.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	var buf bytes.Buffer
	buf.ReadFrom(obj)
	recs := readAudit(t, buf.Bytes())
	outputs, runs := map[string]int{}, map[string]int{}
	for _, r := range recs {
		outputs[r.Output]++
		runs[r.Run]++
	}
	if len(recs) != 4 || outputs["s3://"+bucket+"/enc/a.enc"] != 2 || len(runs) != 2 {
		t.Fatalf("S3 audit trail: %+v, want 4 records from two runs", recs)
	}
}

// A batch that stops early ends its audit trail with a line that says why.
func TestAuditStopped(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{}
	for i := range 20 {
		files[fmt.Sprintf("f%02d", i)] = []byte("x")
	}
	writeTree(t, filepath.Join(dir, "in"), files)
	audit := filepath.Join(dir, "audit.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := dataset.Run(ctx, dataset.Options{
		Sources: []dataset.Source{dataset.Source(filepath.Join(dir, "in"))}, Destination: dataset.Destination(filepath.Join(dir, "out")),
		Operation: encryptOp(t), Jobs: 1, Audit: audit,
		Events: func(e dataset.Event) {
			if e.Kind == dataset.EventItem {
				cancel()
			}
		},
	})
	if err == nil {
		t.Fatal("a cancelled batch succeeded")
	}
	data, _ := os.ReadFile(audit)
	recs := readAudit(t, data)
	last := recs[len(recs)-1]
	if len(recs) >= 21 || last.Result != "stopped" || last.Operation != "encrypt" || last.ErrorClass != dataset.ClassCanceled || last.Run != recs[0].Run {
		t.Fatalf("audit trail of a stopped batch ends with %+v (%d lines)", last, len(recs))
	}
}
