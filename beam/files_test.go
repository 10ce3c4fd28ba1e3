package beam

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlseal/mlseal/dataset"
	kmstest "github.com/mlseal/mlseal/internal/testserver/kms"
	"github.com/mlseal/mlseal/internal/testserver/minio"
)

// writeTree writes a small dataset: nested files of several sizes, an
// empty one, and one over a frame.
func writeTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{
		"train/part-0.csv":  []byte("id,label\n1,cat\n2,dog\n"),
		"train/part-1.csv":  bytes.Repeat([]byte("3,bird\n"), 1000),
		"test/empty.jsonl":  {},
		"images/blob.bin":   make([]byte, 700<<10),
		"README":            []byte("a dataset\n"),
		"deep/a/b/c/d.json": []byte(`{"k": 1}`),
	}
	rand.Read(files["images/blob.bin"])
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// checkTree checks that dir holds exactly the files, with their contents.
func checkTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	seen := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		want, ok := files[filepath.ToSlash(rel)]
		got, _ := os.ReadFile(p)
		switch {
		case !ok:
			t.Errorf("%s: unexpected file", p)
		case !bytes.Equal(got, want):
			t.Errorf("%s: %d bytes, want %d", p, len(got), len(want))
		}
		seen++
		return nil
	})
	if seen != len(files) {
		t.Errorf("%s holds %d files, want %d", dir, seen, len(files))
	}
}

// runFiles runs one file transform over the input names and returns its
// results.
func runFiles(t *testing.T, transform func(beam.Scope, beam.PCollection) beam.PCollection, names ...string) []dataset.Result {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	out := filepath.Join(t.TempDir(), "results.jsonl")
	writeResults(s, transform(s, beam.CreateList(s, names)), out)
	runPipeline(t, p)
	return readResults(t, out)
}

func statuses(rs []dataset.Result) map[dataset.Status]int {
	m := map[dataset.Status]int{}
	for _, r := range rs {
		m[r.Status]++
	}
	return m
}

func allDone(t *testing.T, rs []dataset.Result, n int) {
	t.Helper()
	if st := statuses(rs); st[dataset.StatusDone] != n || len(rs) != n {
		for _, r := range rs {
			t.Logf("%s %s: %s %s", r.Op, r.Input, r.Status, r.Error)
		}
		t.Fatalf("statuses %v, want %d done", st, n)
	}
}

// TestEncryptRewrapDecryptFiles encrypts a directory tree through Beam and
// decrypts it with the mlseal command; rewraps it through Beam to a new key,
// which then decrypts it (and the old key no longer does); and decrypts
// the rewrapped tree through Beam.
func TestEncryptRewrapDecryptFiles(t *testing.T) {
	dir := t.TempDir()
	in, enc, rew := filepath.Join(dir, "in"), filepath.Join(dir, "enc"), filepath.Join(dir, "rew")
	files := writeTree(t, in)
	oldKey, _, _ := testKey(t, filepath.Join(dir, "old"))
	newKey, _, _ := testKey(t, filepath.Join(dir, "new"))
	ctx := map[string]string{"dataset": "train"}

	rs := runFiles(t, func(s beam.Scope, names beam.PCollection) beam.PCollection {
		return EncryptFiles(s, names, EncryptOptions{Files: Files{Output: enc}, Keys: Keys{Refs: []string{oldKey}}, Context: ctx})
	}, in)
	allDone(t, rs, len(files))
	for _, r := range rs {
		if r.MessageID == "" || !strings.HasSuffix(r.Output, ".enc") || r.OutputSize <= r.InputSize {
			t.Errorf("result %+v", r)
		}
	}
	back := filepath.Join(dir, "back")
	run(t, "decrypt", "-k", oldKey, "-c", "dataset=train", "-o", back+"/", enc)
	checkTree(t, back, files)

	rs = runFiles(t, func(s beam.Scope, names beam.PCollection) beam.PCollection {
		return RewrapFiles(s, names, RewrapOptions{Files: Files{Output: rew}, OldKeys: Keys{Refs: []string{oldKey}},
			NewKeys: Keys{Refs: []string{newKey}}, Context: ctx})
	}, enc)
	allDone(t, rs, len(files))
	back = filepath.Join(dir, "back-new")
	run(t, "decrypt", "-k", newKey, "-c", "dataset=train", "-o", back+"/", rew)
	checkTree(t, back, files)
	if _, err := runErr(t, "decrypt", "-k", oldKey, "-c", "dataset=train", "-o", filepath.Join(dir, "x"), filepath.Join(rew, "README.enc")); err == nil {
		t.Error("the old key still decrypts a rewrapped message")
	}

	back = filepath.Join(dir, "back-beam")
	rs = runFiles(t, func(s beam.Scope, names beam.PCollection) beam.PCollection {
		return DecryptFiles(s, names, DecryptOptions{Files: Files{Output: back}, Keys: Keys{Refs: []string{newKey}}, Context: ctx})
	}, rew)
	allDone(t, rs, len(files))
	checkTree(t, back, files)
}

// TestFailedItemsLeaveNoOutput: a tampered message and a wrong key are
// reported in the results, leave no output, and do not stop the others;
// with FailOnError the pipeline fails instead.
func TestFailedItemsLeaveNoOutput(t *testing.T) {
	dir := t.TempDir()
	in, enc := filepath.Join(dir, "in"), filepath.Join(dir, "enc")
	key, _, _ := testKey(t, filepath.Join(dir, "k"))
	other, _, _ := testKey(t, filepath.Join(dir, "other"))
	os.MkdirAll(in, 0o755)
	for i := range 3 {
		os.WriteFile(filepath.Join(in, fmt.Sprintf("f%d", i)), bytes.Repeat([]byte{byte(i)}, 100<<10), 0o644)
	}
	allDone(t, runFiles(t, func(s beam.Scope, names beam.PCollection) beam.PCollection {
		return EncryptFiles(s, names, EncryptOptions{Files: Files{Output: enc}, Keys: Keys{Refs: []string{key}}})
	}, in), 3)
	tampered := filepath.Join(enc, "f1.enc")
	data, _ := os.ReadFile(tampered)
	data[len(data)-200] ^= 1 // in the last frame: earlier frames decrypt first
	os.WriteFile(tampered, data, 0o644)

	out := filepath.Join(dir, "out")
	rs := runFiles(t, func(s beam.Scope, names beam.PCollection) beam.PCollection {
		return DecryptFiles(s, names, DecryptOptions{Files: Files{Output: out}, Keys: Keys{Refs: []string{key}}})
	}, filepath.Join(enc, "f0.enc"), tampered, filepath.Join(enc, "f2.enc"), filepath.Join(enc, "missing.enc"))
	for _, r := range rs {
		base := filepath.Base(r.Input)
		wantFail := base == "f1.enc" || base == "missing.enc"
		if failed := r.Status == dataset.StatusFailed; failed != wantFail {
			t.Errorf("%s: %s %s", base, r.Status, r.Error)
		}
		if base == "f1.enc" && r.ErrorClass != dataset.ClassIntegrity {
			t.Errorf("tampered item: class %q (%s)", r.ErrorClass, r.Error)
		}
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 2 {
		t.Errorf("output directory holds %d entries, want f0 and f2 only", len(entries))
	}

	wrong := filepath.Join(dir, "wrong")
	rs = runFiles(t, func(s beam.Scope, names beam.PCollection) beam.PCollection {
		return DecryptFiles(s, names, DecryptOptions{Files: Files{Output: wrong}, Keys: Keys{Refs: []string{other}}})
	}, enc)
	if st := statuses(rs); st[dataset.StatusFailed] != 3 {
		t.Errorf("decrypting with the wrong key: %v, want 3 failed", st)
	}
	if entries, _ := os.ReadDir(wrong); len(entries) != 0 {
		t.Errorf("the wrong key left %d outputs", len(entries))
	}

	p, s := beam.NewPipelineWithRoot()
	DecryptFiles(s, beam.Create(s, tampered), DecryptOptions{Files: Files{Output: filepath.Join(dir, "strict"), FailOnError: true}, Keys: Keys{Refs: []string{key}}})
	if err := runPipelineErr(p); err == nil || !strings.Contains(err.Error(), "f1.enc") {
		t.Errorf("FailOnError: pipeline error %v, want one naming f1.enc", err)
	}
}

// TestKMSDataKeyPerWorker: a worker makes one GenerateDataKey for a batch
// of files, and one Decrypt to read them back.
func TestKMSDataKeyPerWorker(t *testing.T) {
	srv := kmstest.New()
	t.Cleanup(srv.Close)
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_KMS": ""} {
		t.Setenv(k, v)
	}
	arn := srv.CreateKey("us-east-1")
	keys := Keys{Refs: []string{"kms:" + arn}, KMSEndpoint: srv.URL}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.MkdirAll(in, 0o755)
	const n = 20
	for i := range n {
		// Not empty: the cache serves only messages of known, non-zero
		// length (an empty file gets a data key of its own).
		os.WriteFile(filepath.Join(in, fmt.Sprintf("f%02d", i)), []byte(strings.Repeat("x", 1+i*100)), 0o644)
	}
	enc, back := filepath.Join(dir, "enc"), filepath.Join(dir, "back")
	allDone(t, runFiles(t, func(s beam.Scope, names beam.PCollection) beam.PCollection {
		return EncryptFiles(s, names, EncryptOptions{Files: Files{Output: enc}, Keys: keys, Context: map[string]string{"d": "1"}})
	}, in), n)
	allDone(t, runFiles(t, func(s beam.Scope, names beam.PCollection) beam.PCollection {
		return DecryptFiles(s, names, DecryptOptions{Files: Files{Output: back}, Keys: keys, Context: map[string]string{"d": "1"}})
	}, enc), n)
	// Prism runs one worker, in this process.
	if g, d := srv.Calls("GenerateDataKey"), srv.Calls("Decrypt"); g != 1 || d != 1 {
		t.Errorf("%d files cost %d GenerateDataKey and %d Decrypt calls, want 1 and 1", n, g, d)
	}
}

// TestS3 encrypts a prefix in MinIO into another through Beam, decrypts it
// with the mlseal command, rewraps it S3 to S3 through Beam and decrypts
// that with the new key; the S3 settings come from the environment
// (AWS_ENDPOINT_URL_S3 with an IP address, AWS_REGION), as on a worker.
func TestS3(t *testing.T) {
	srv := minio.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	bucket := srv.MakeBucket(t, "beam")
	dir := t.TempDir()
	files := writeTree(t, filepath.Join(dir, "src"))
	client := srv.Client()
	for name, data := range files {
		_, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("raw/" + name), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
	}
	oldKey, _, _ := testKey(t, filepath.Join(dir, "old"))
	newKey, _, _ := testKey(t, filepath.Join(dir, "new"))
	raw, enc, rew := "s3://"+bucket+"/raw/", "s3://"+bucket+"/enc/", "s3://"+bucket+"/rew/"

	allDone(t, runFiles(t, func(s beam.Scope, names beam.PCollection) beam.PCollection {
		return EncryptFiles(s, names, EncryptOptions{Files: Files{Output: enc}, Keys: Keys{Refs: []string{oldKey}}})
	}, raw), len(files))
	back := filepath.Join(dir, "back")
	run(t, "decrypt", "-k", oldKey, "-o", back+"/", enc)
	checkTree(t, back, files)

	allDone(t, runFiles(t, func(s beam.Scope, names beam.PCollection) beam.PCollection {
		return RewrapFiles(s, names, RewrapOptions{Files: Files{Output: rew}, OldKeys: Keys{Refs: []string{oldKey}}, NewKeys: Keys{Refs: []string{newKey}}})
	}, enc), len(files))
	back = filepath.Join(dir, "back-new")
	run(t, "decrypt", "-k", newKey, "-o", back+"/", rew)
	checkTree(t, back, files)

	// Tokenize objects with a keyset that is an object too: the same bytes
	// as the CLI's from local copies.
	keyFile, keyset, policyFile := tokenSetup(t, filepath.Join(dir, "tok"))
	put := func(key, file string) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	put("keys/customers.keyset", keyset)
	for _, name := range []string{"a.csv", "b.jsonl"} {
		writeRecords(t, filepath.Join(dir, "tok", name), 500, 3)
		put("records/"+name, filepath.Join(dir, "tok", name))
	}
	allDone(t, runFiles(t, func(s beam.Scope, names beam.PCollection) beam.PCollection {
		return TokenizeFiles(s, names, FileOptions{Files: Files{Output: "s3://" + bucket + "/tokenized/"}, Policy: testPolicyParsed(t),
			Keys: TokenKeys{Keyset: "s3://" + bucket + "/keys/customers.keyset", Keys: Keys{Refs: []string{keyFile}}}})
	}, "s3://"+bucket+"/records/"), 2)
	for _, name := range []string{"a.csv", "b.jsonl"} {
		want := run(t, "tokenize", "--policy", policyFile, "--keyset", keyset, "-k", keyFile, filepath.Join(dir, "tok", name))
		obj, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("tokenized/" + name)})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(obj.Body)
		obj.Body.Close()
		if buf.String() != want {
			t.Errorf("tokenized/%s: %d bytes differ from the CLI's %d", name, buf.Len(), len(want))
		}
	}

	// A failing item leaves no object: decrypting with the wrong key.
	rs := runFiles(t, func(s beam.Scope, names beam.PCollection) beam.PCollection {
		return DecryptFiles(s, names, DecryptOptions{Files: Files{Output: "s3://" + bucket + "/wrong/"}, Keys: Keys{Refs: []string{oldKey}}})
	}, rew+"README.enc")
	if st := statuses(rs); st[dataset.StatusFailed] != 1 {
		t.Errorf("wrong key: %v", st)
	}
	list, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("wrong/")})
	if err != nil || len(list.Contents) != 0 {
		t.Errorf("a failed item left objects: %v %v", list, err)
	}
	uploads, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String("wrong/README")})
	if err != nil || len(uploads.Uploads) != 0 {
		t.Errorf("a failed item left a multipart upload: %v %v", uploads, err)
	}
}
