package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlseal/mlseal/internal/testserver/minio"
	"github.com/mlseal/mlseal/s3io"
)

// s3env is a test environment with a MinIO server and a bucket.
type s3env struct {
	*env
	srv    *minio.Server
	raw    *s3.Client
	bucket string
}

func newS3Env(t *testing.T) *s3env {
	t.Helper()
	e := newEnv(t)
	srv := minio.Start(t)
	s := &s3env{env: e, srv: srv, raw: srv.Client(), bucket: srv.MakeBucket(t, "cli")}
	s.ok(nil, "keygen", "-o", "k.key")
	return s
}

// cmd returns the command for mlseal args, pointed at MinIO through the
// standard AWS environment variables.
func (s *s3env) cmd(stdin []byte, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Dir = s.dir
	home := filepath.Join(filepath.Dir(s.dir), "home")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+s.config,
		"AWS_CONFIG_FILE="+filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"))
	cmd.Env = append(cmd.Env, s.srv.Env()...)
	cmd.Stdin = bytes.NewReader(stdin)
	return cmd
}

func (s *s3env) run(stdin []byte, args ...string) result {
	s.t.Helper()
	return s.runCmd(s.cmd(stdin, args...), args)
}

func (s *s3env) runCmd(cmd *exec.Cmd, args []string) result {
	s.t.Helper()
	return runCmd(s.t, cmd, args)
}

func (s *s3env) ok(stdin []byte, args ...string) result {
	s.t.Helper()
	r := s.run(stdin, args...)
	if r.code != 0 {
		s.t.Fatalf("mlseal %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

func (s *s3env) fail(code int, stdin []byte, args ...string) result {
	s.t.Helper()
	r := s.run(stdin, args...)
	if r.code != code {
		s.t.Fatalf("mlseal %s: exit %d, want %d\n%s", strings.Join(args, " "), r.code, code, r.stderr)
	}
	if !strings.Contains(r.stderr, "mlseal: error: ") {
		s.t.Errorf("mlseal %s: stderr has no error line:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

func (s *s3env) url(key string) string { return "s3://" + s.bucket + "/" + key }

// get returns an object's bytes and metadata.
func (s *s3env) get(key string) ([]byte, map[string]string) {
	s.t.Helper()
	out, err := s.raw.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		s.t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return b, out.Metadata
}

func (s *s3env) put(key string, data []byte) {
	s.t.Helper()
	_, err := s.raw.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	if err != nil {
		s.t.Fatal(err)
	}
}

// keys lists the keys under prefix.
func (s *s3env) keys(prefix string) []string {
	s.t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.raw, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			s.t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, *o.Key)
		}
	}
	return keys
}

func (s *s3env) pendingUploads() int {
	s.t.Helper()
	out, err := s.raw.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		s.t.Fatal(err)
	}
	return len(out.Uploads)
}

// tree writes n files of various sizes in nested directories under dir
// and returns their contents by path relative to dir.
func (s *s3env) tree(dir string, n int) map[string][]byte {
	s.t.Helper()
	files := map[string][]byte{}
	for i := range n {
		rel := fmt.Sprintf("part-%02d.csv", i)
		if i%3 == 1 {
			rel = fmt.Sprintf("sub/a/%02d.bin", i)
		} else if i%3 == 2 {
			rel = fmt.Sprintf("sub/%02d.txt", i)
		}
		data := randomBytes(s.t, i*7919%50000)
		p := filepath.Join(s.dir, dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			s.t.Fatal(err)
		}
		files[rel] = data
	}
	return files
}

// summary parses the final summary line.
var summaryRE = regexp.MustCompile(`(encrypted|decrypted) (\d+), skipped (\d+), failed (\d+) of (\d+) inputs`)

func summary(t *testing.T, stderr string) (done, skipped, failed, total int) {
	t.Helper()
	m := summaryRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary line in:\n%s", stderr)
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	return n(m[2]), n(m[3]), n(m[4]), n(m[5])
}

func TestS3SingleObjects(t *testing.T) {
	s := newS3Env(t)
	plain := randomBytes(t, 6<<20+123) // more than one 5 MiB part
	s.write("plain.bin", plain)

	// File to object and back.
	s.ok(nil, "encrypt", "-k", "k.key", "-c", "dataset=x", "-o", s.url("one/plain.bin.mlseal"), "plain.bin")
	ct, meta := s.get("one/plain.bin.mlseal")
	if meta[s3io.MetaFormat] != s3io.FormatESDK || meta[s3io.MetaSuite] != "0x0478" {
		t.Errorf("metadata %v", meta)
	}
	if bytes.Contains(ct, plain[:64]) {
		t.Fatal("plaintext stored")
	}
	s.ok(nil, "decrypt", "-k", "k.key", "-c", "dataset=x", "-o", "back.bin", s.url("one/plain.bin.mlseal"))
	if !bytes.Equal(s.read("back.bin"), plain) {
		t.Fatal("round trip differs")
	}
	// The object decrypts locally too: it is an ordinary message.
	s.write("local.mlseal", ct)
	s.ok(nil, "decrypt", "-k", "k.key", "-c", "dataset=x", "-o", "back2.bin", "local.mlseal")

	// Stdin to object, object to stdout.
	s.ok(plain[:1000], "encrypt", "-k", "k.key", "-o", s.url("one/stdin.mlseal"), "-")
	r := s.ok(nil, "decrypt", "-k", "k.key", s.url("one/stdin.mlseal"))
	if !bytes.Equal(r.stdout, plain[:1000]) {
		t.Fatal("stdout differs")
	}

	// Object to object: decrypt into a plaintext object.
	s.ok(nil, "decrypt", "-k", "k.key", "-c", "dataset=x", "-o", s.url("one/plain.bin"), s.url("one/plain.bin.mlseal"))
	if b, _ := s.get("one/plain.bin"); !bytes.Equal(b, plain) {
		t.Fatal("S3 to S3 differs")
	}

	// Existing outputs are kept without --force.
	r = s.fail(1, nil, "encrypt", "-k", "k.key", "-o", s.url("one/plain.bin.mlseal"), "plain.bin")
	if !strings.Contains(r.stderr, "already exists") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("stderr: %s", r.stderr)
	}
	if b, _ := s.get("one/plain.bin.mlseal"); !bytes.Equal(b, ct) {
		t.Error("object replaced without --force")
	}
	s.ok(nil, "encrypt", "-k", "k.key", "--force", "-o", s.url("one/plain.bin.mlseal"), "plain.bin")
}

func TestS3Errors(t *testing.T) {
	s := newS3Env(t)
	s.write("p.bin", []byte("hello"))
	s.ok(nil, "encrypt", "-k", "k.key", "-o", s.url("p.enc"), "p.bin")

	// A missing bucket.
	r := s.fail(1, nil, "encrypt", "-k", "k.key", "-o", "s3://no-such-bucket-x/p.enc", "p.bin")
	if !strings.Contains(r.stderr, `bucket "no-such-bucket-x" does not exist`) {
		t.Errorf("missing bucket: %s", r.stderr)
	}
	// A missing object, with a hint for prefixes.
	r = s.fail(1, nil, "decrypt", "-k", "k.key", "-o", "x", s.url("nothing"))
	if !strings.Contains(r.stderr, "no such object") || !strings.Contains(r.stderr, s.url("nothing")+"/") {
		t.Errorf("missing object: %s", r.stderr)
	}

	// Wrong credentials.
	cmd := s.cmd(nil, "decrypt", "-k", "k.key", "-o", "out.bin", s.url("p.enc"))
	cmd.Env = append(cmd.Env, "AWS_SECRET_ACCESS_KEY=wrong")
	r = s.runCmd(cmd, nil)
	if r.code != 1 || !strings.Contains(r.stderr, "AWS credentials") {
		t.Errorf("wrong credentials: exit %d: %s", r.code, r.stderr)
	}

	// A tampered object: exit 3, nothing written, locally or in S3.
	ct, _ := s.get("p.enc")
	ct[len(ct)-20] ^= 1
	s.put("bad.enc", ct)
	s.fail(3, nil, "decrypt", "-k", "k.key", "-o", "out.bin", s.url("bad.enc"))
	if s.exists("out.bin") {
		t.Error("a tampered object left an output file")
	}
	s.noTempFiles(".")
	s.fail(3, nil, "decrypt", "-k", "k.key", "-o", s.url("bad.plain"), s.url("bad.enc"))
	if keys := s.keys("bad.plain"); len(keys) != 0 {
		t.Errorf("a tampered object left %v", keys)
	}
	if n := s.pendingUploads(); n != 0 {
		t.Errorf("%d multipart uploads left behind", n)
	}

	// Plain http to another machine is refused.
	cmd = s.cmd(nil, "decrypt", "-k", "k.key", "-o", "out.bin", "s3://b/k")
	cmd.Env = append(cmd.Env, "AWS_ENDPOINT_URL_S3=http://10.1.2.3:9000")
	if r := s.runCmd(cmd, nil); r.code != 1 || !strings.Contains(r.stderr, "plain http") {
		t.Errorf("remote http endpoint: exit %d: %s", r.code, r.stderr)
	}
}

// TestS3Tree encrypts a directory tree into a prefix, decrypts the prefix
// into another prefix and into a directory, and checks the mirrored trees.
func TestS3Tree(t *testing.T) {
	s := newS3Env(t)
	files := s.tree("data", 24)
	r := s.ok(nil, "encrypt", "-k", "k.key", "--jobs", "6", "-o", s.url("enc/"), "data")
	if d, sk, f, n := summary(t, r.stderr); d != 24 || sk != 0 || f != 0 || n != 24 {
		t.Errorf("summary: %s", r.stderr)
	}
	var want []string
	for rel := range files {
		want = append(want, "enc/"+rel+".enc")
	}
	slices.Sort(want)
	if got := s.keys("enc/"); !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}

	// Prefix to prefix (the suffix removed), then prefix to directory.
	s.ok(nil, "decrypt", "-k", "k.key", "-o", s.url("plain"), s.url("enc/"))
	for rel, data := range files {
		if b, _ := s.get("plain/" + rel); !bytes.Equal(b, data) {
			t.Fatalf("plain/%s differs", rel)
		}
	}
	s.ok(nil, "decrypt", "-k", "k.key", "-o", "out", s.url("enc/"))
	for rel, data := range files {
		if !bytes.Equal(s.read(filepath.Join("out", filepath.FromSlash(rel))), data) {
			t.Fatalf("out/%s differs", rel)
		}
	}
	// S3 to S3 encryption, with another suffix.
	s.ok(nil, "encrypt", "-k", "k.key", "--suffix", ".enc", "-o", s.url("enc2/"), s.url("plain/"))
	if got := s.keys("enc2/sub/a/"); len(got) != 8 || !strings.HasSuffix(got[0], ".bin.enc") {
		t.Errorf("enc2 keys %v", got)
	}

	// A second run without --force: every output exists, every input fails.
	r = s.fail(4, nil, "encrypt", "-k", "k.key", "-o", s.url("enc/"), "data")
	if d, _, f, _ := summary(t, r.stderr); d != 0 || f != 24 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("rerun: %s", r.stderr)
	}
}

// readManifest parses a manifest file.
func readManifest(t *testing.T, name string) []record {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r record
		if bytes.HasPrefix(sc.Bytes(), []byte(`{"time":`)) && bytes.Contains(sc.Bytes(), []byte(`"job":{`)) {
			continue // the job's settings, not an item's record
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("manifest line %q: %v", sc.Text(), err)
		}
		if r.Status == "committing" {
			continue // a local output about to be renamed: "done" follows
		}
		recs = append(recs, r)
	}
	return recs
}

// TestS3ResumeAfterFailure decrypts a prefix in which one object is
// tampered with: it fails (exit 4) and leaves nothing; once the object is
// replaced, a rerun with the manifest skips what was done and does the
// rest.
func TestS3ResumeAfterFailure(t *testing.T) {
	s := newS3Env(t)
	files := s.tree("data", 9)
	s.ok(nil, "encrypt", "-k", "k.key", "-o", s.url("enc/"), "data")
	good, _ := s.get("enc/part-00.csv.enc")
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	s.put("enc/part-00.csv.enc", bad)

	r := s.fail(4, nil, "decrypt", "-k", "k.key", "--manifest", "job.jsonl", "-o", "out", s.url("enc/"))
	if d, sk, f, n := summary(t, r.stderr); d != 8 || sk != 0 || f != 1 || n != 9 {
		t.Errorf("first run: %s", r.stderr)
	}
	if s.exists("out/part-00.csv") {
		t.Error("the failed object left an output")
	}
	recs := readManifest(t, s.path("job.jsonl"))
	if len(recs) != 9 {
		t.Fatalf("%d manifest records", len(recs))
	}
	for _, rec := range recs {
		switch {
		case rec.Status == "failed" && rec.Input == s.url("enc/part-00.csv.enc"):
			if rec.Error == "" {
				t.Error("failed record without error")
			}
		case rec.Status == "done":
			if len(rec.MessageID) != 64 || !strings.HasPrefix(rec.Source, "etag:") || rec.OutputSize <= 0 && rec.InputSize > 200 {
				t.Errorf("record %+v", rec)
			}
		default:
			t.Errorf("record %+v", rec)
		}
	}

	s.put("enc/part-00.csv.enc", good)
	r = s.ok(nil, "decrypt", "-k", "k.key", "--manifest", "job.jsonl", "-o", "out", s.url("enc/"))
	if d, sk, f, _ := summary(t, r.stderr); d != 1 || sk != 8 || f != 0 {
		t.Errorf("second run: %s", r.stderr)
	}
	for rel, data := range files {
		if !bytes.Equal(s.read(filepath.Join("out", filepath.FromSlash(rel))), data) {
			t.Fatalf("%s differs", rel)
		}
	}
	// A source that changed since it was done is done again, and its
	// existing output needs --force.
	s.ok(nil, "encrypt", "-k", "k.key", "--force", "-o", s.url("enc/sub/a/01.bin.enc"), "data/sub/a/01.bin")
	r = s.fail(4, nil, "decrypt", "-k", "k.key", "--manifest", "job.jsonl", "-o", "out", s.url("enc/"))
	if d, sk, f, _ := summary(t, r.stderr); d != 0 || sk != 8 || f != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("changed source: %s", r.stderr)
	}
	r = s.ok(nil, "decrypt", "-k", "k.key", "--force", "--manifest", "job.jsonl", "-o", "out", s.url("enc/"))
	if d, sk, _, _ := summary(t, r.stderr); d != 1 || sk != 8 {
		t.Errorf("changed source with --force: %s", r.stderr)
	}
}

// TestS3ResumeAfterKill kills an encrypt job once it has recorded some
// objects, and reruns it: what was recorded is skipped, the rest is done,
// and nothing partial is visible at any point.
func TestS3ResumeAfterKill(t *testing.T) {
	s := newS3Env(t)
	files := s.tree("data", 30)
	cmd := s.cmd(nil, "encrypt", "-k", "k.key", "--jobs", "1", "--manifest", "job.jsonl", "-o", s.url("enc/"), "data")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	// Wait for the first record, then kill.
	for running := true; running; {
		if b, _ := os.ReadFile(s.path("job.jsonl")); bytes.Contains(b, []byte(`"status":"done"`)) {
			break
		}
		select {
		case <-exited:
			running = false
		case <-time.After(5 * time.Millisecond):
		}
	}
	cmd.Process.Kill()
	<-exited
	recorded := 0
	for _, rec := range readManifest(t, s.path("job.jsonl")) {
		if rec.Status == "done" {
			recorded++
		}
	}
	if recorded == 0 {
		t.Fatal("nothing recorded")
	}
	r := s.run(nil, "encrypt", "-k", "k.key", "--manifest", "job.jsonl", "-o", s.url("enc/"), "data")
	d, sk, f, n := summary(t, r.stderr)
	t.Logf("killed after %d recorded; rerun: %d done, %d skipped, %d failed", recorded, d, sk, f)
	// An object may have been uploaded and not yet recorded when killed:
	// the rerun finds it existing, and fails it (exit status 4) rather
	// than overwrite it.
	if sk != recorded || d+sk+f != 30 || n != 30 || f > 1 || r.code != 4*f {
		t.Errorf("rerun: exit %d\n%s", r.code, r.stderr)
	}
	if f == 1 {
		// That object is the one the killed run wrote: --force redoes it.
		s.ok(nil, "encrypt", "-k", "k.key", "--force", "--manifest", "job.jsonl", "-o", s.url("enc/"), "data")
	}
	s.ok(nil, "decrypt", "-k", "k.key", "-o", "out", s.url("enc/"))
	for rel, data := range files {
		if !bytes.Equal(s.read(filepath.Join("out", filepath.FromSlash(rel))), data) {
			t.Fatalf("%s differs", rel)
		}
	}
}

// TestS3Shards runs a job as three shards: together they do every input
// once.
func TestS3Shards(t *testing.T) {
	s := newS3Env(t)
	files := s.tree("data", 30)
	s.ok(nil, "encrypt", "-k", "k.key", "-o", s.url("enc/"), "data")
	total := 0
	for i := range 3 {
		r := s.ok(nil, "decrypt", "-k", "k.key", "--shard", fmt.Sprintf("%d/3", i), "-o", s.url("plain/"), s.url("enc/"))
		d, _, _, n := summary(t, r.stderr)
		if d != n || n == 0 || n == 30 {
			t.Errorf("shard %d: %s", i, r.stderr)
		}
		total += d
	}
	if total != 30 || len(s.keys("plain/")) != len(files) {
		t.Errorf("shards did %d inputs, %d objects", total, len(s.keys("plain/")))
	}
	s.fail(2, nil, "decrypt", "-k", "k.key", "--shard", "3/3", "-o", "x", s.url("enc/"))
	s.fail(2, nil, "decrypt", "-k", "k.key", "--shard", "1", "-o", "x", s.url("enc/"))
}

func TestShardOfIsStable(t *testing.T) {
	// The shard of a name must never change between releases, since the
	// workers of one job may run different builds: FNV-1a 64 of the name.
	for name, want := range map[string]uint64{
		"s3://bucket/train/part-00000.parquet": 205,
		"s3://bucket/train/part-00001.parquet": 178,
		"data/a.csv":                           467,
	} {
		if got := shardOf(name, 1000); got != want {
			t.Errorf("shardOf(%q, 1000) = %d, want %d", name, got, want)
		}
	}
	counts := make([]int, 4)
	for i := range 4000 {
		counts[shardOf(fmt.Sprintf("s3://bucket/train/part-%05d.parquet", i), 4)]++
	}
	for i, c := range counts {
		if c < 800 || c > 1200 {
			t.Errorf("shard %d has %d of 4000", i, c)
		}
	}
}

// TestS3InterruptAbortsUpload: an interrupt during an upload aborts its
// multipart upload before mlseal leaves: no parts are left behind and no
// object appears.
func TestS3InterruptAbortsUpload(t *testing.T) {
	s := newS3Env(t)
	cmd := s.cmd(nil, "encrypt", "-k", "k.key", "--s3-part-size", "5242880", "--s3-concurrency", "1", "-o", s.url("big.enc"), "-")
	cmd.Stdin = nil
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Feed two parts' worth, keep the input open, and wait until the
	// multipart upload exists: the upload is then in flight, waiting for
	// more input.
	if _, err := stdin.Write(bytes.Repeat([]byte("x"), 11<<20)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.pendingUploads() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no multipart upload started:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err = <-exited
	stdin.Close()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("interrupted upload: %v, want exit status 130\n%s", err, stderr.String())
	}
	if n := s.pendingUploads(); n != 0 {
		t.Errorf("%d multipart uploads left after the interrupt", n)
	}
	if keys := s.keys(""); len(keys) != 0 {
		t.Errorf("objects after the interrupt: %v", keys)
	}
}
