//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// minioPID finds the process of the test's MinIO server by the address in
// its command line, so that a test can pause it as an unresponsive server.
func (s *s3env) minioPID() int {
	s.t.Helper()
	addr := strings.TrimPrefix(s.srv.Endpoint, "http://")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte("server")) || !bytes.Contains(b, []byte("\x00"+addr+"\x00")) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			return pid
		}
	}
	s.t.Fatalf("no MinIO process listening on %s", addr)
	return 0
}

// pause stops the MinIO process (SIGSTOP) until the returned function
// continues it; the test's cleanup continues it too.
func (s *s3env) pause() (resume func()) {
	pid := s.minioPID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		s.t.Fatal(err)
	}
	resume = func() { syscall.Kill(pid, syscall.SIGCONT) }
	s.t.Cleanup(resume)
	return resume
}

// startUpload starts mlseal encrypting stdin into the object key with
// 5 MiB parts, and returns once its multipart upload exists, with the
// command still waiting for input.
func (s *s3env) startUpload(key string, extra ...string) (cmd *exec.Cmd, stderr *bytes.Buffer, exited chan error) {
	s.t.Helper()
	args := append([]string{"encrypt", "-k", "k.key", "--s3-part-size", "5242880", "--s3-concurrency", "1", "-o", s.url(key)}, extra...)
	cmd = s.cmd(nil, append(args, "-")...)
	cmd.Stdin = nil
	stdin, err := cmd.StdinPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	stderr = &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { stdin.Close(); cmd.Process.Kill() })
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if _, err := stdin.Write(bytes.Repeat([]byte("x"), 11<<20)); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.pendingUploads() == 0 {
		if time.Now().After(deadline) {
			s.t.Fatalf("no multipart upload started:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd, stderr, exited
}

// TestS3SignalsAbortUploads: TERM, HUP and QUIT, like INT, abort the
// multipart upload in flight before mlseal leaves with 128 + the signal.
func TestS3SignalsAbortUploads(t *testing.T) {
	s := newS3Env(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT} {
		cmd, stderr, exited := s.startUpload("sig.enc")
		cmd.Process.Signal(sig)
		err := <-exited
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(sig) {
			t.Fatalf("%v: %v, want exit status %d\n%s", sig, err, 128+int(sig), stderr)
		}
		if n := s.pendingUploads(); n != 0 {
			t.Errorf("%v: %d multipart uploads left", sig, n)
		}
		if keys := s.keys(""); len(keys) != 0 {
			t.Errorf("%v: objects %v", sig, keys)
		}
	}
}

// TestS3InterruptWhileUnresponsive: with S3 paused, an interrupt cannot
// abort the upload; a second interrupt leaves at once, and mlseal prints
// the bucket, key and upload id of the upload left behind.
func TestS3InterruptWhileUnresponsive(t *testing.T) {
	s := newS3Env(t)
	cmd, stderr, exited := s.startUpload("paused.enc")
	ids := s.uploadIDs("paused.enc")
	if len(ids) != 1 {
		t.Fatalf("%d uploads pending, want 1", len(ids))
	}
	resume := s.pause()
	cmd.Process.Signal(os.Interrupt)
	time.Sleep(200 * time.Millisecond) // let the first interrupt start aborting
	cmd.Process.Signal(os.Interrupt)
	err := <-exited
	resume()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("%v, want exit status 130\n%s", err, stderr)
	}
	// (Once MinIO runs again, the abort requests it held may still
	// remove the upload, so the test does not look for it afterwards.)
	for _, want := range []string{"--bucket " + s.bucket, "--key paused.enc", "--upload-id " + ids[0]} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestS3StalledServerFails: with the server paused, a decrypt fails after
// --stall-timeout with a message that says so, instead of waiting for
// ever. (dataset's tests pause a server in the middle of a transfer.)
func TestS3StalledServerFails(t *testing.T) {
	s := newS3Env(t)
	s.write("big.bin", randomBytes(t, 1<<20))
	s.ok(nil, "encrypt", "-k", "k.key", "-o", s.url("big.enc"), "big.bin")
	resume := s.pause()
	defer resume()
	r := s.fail(1, nil, "decrypt", "-k", "k.key", "--stall-timeout", "500ms", "-o", "out.bin", s.url("big.enc"))
	if !strings.Contains(r.stderr, "transfer stalled: no bytes moved for 500ms") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if s.exists("out.bin") {
		t.Error("a stalled download left an output")
	}
	s.noTempFiles(".")
}

// TestS3ResumeAfterKillFinishes kills an encrypt job (local to S3), then
// a decrypt job (S3 to local), several times at different points; the
// rerun with the manifest finishes (exit 0), counting the outputs a killed
// run wrote but did not record.
func TestS3ResumeAfterKillFinishes(t *testing.T) {
	s := newS3Env(t)
	files := s.tree("data", 30)
	s.killed(3, "encrypt", "-k", "k.key", "--jobs", "2", "--manifest", "job.jsonl", "-o", s.url("enc/"), "data")
	s.killed(3, "decrypt", "-k", "k.key", "--jobs", "2", "--manifest", "dec.jsonl", "-o", "out", s.url("enc/"))
	for rel, data := range files {
		if !bytes.Equal(s.read(filepath.Join("out", filepath.FromSlash(rel))), data) {
			t.Fatalf("%s differs", rel)
		}
	}
}

// killed runs mlseal args, killing it n times once its manifest has grown
// by a few more lines each time, then runs it to its end and checks that
// the rerun finished every input with exit 0.
func (s *s3env) killed(n int, args ...string) {
	t := s.t
	t.Helper()
	manifest := args[slices.Index(args, "--manifest")+1]
	for kill := 1; kill <= n; kill++ {
		cmd := s.cmd(nil, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		// Kill once the manifest has grown by kill*3 lines, or the run ends.
		want := kill * 3
	wait:
		for {
			if b, _ := os.ReadFile(s.path(manifest)); bytes.Count(b, []byte("\n")) >= want {
				break
			}
			select {
			case <-exited:
				break wait
			case <-time.After(2 * time.Millisecond):
			}
		}
		cmd.Process.Kill()
		<-exited
	}
	r := s.run(nil, args...)
	d, sk, f, total := summary(t, r.stderr)
	t.Logf("%s rerun after %d kills: %d done, %d skipped, %d failed of %d", args[0], n, d, sk, f, total)
	if r.code != 0 || f != 0 || d+sk != total || total == 0 {
		t.Fatalf("rerun: exit %d\n%s", r.code, r.stderr)
	}
}

// uploadIDs lists the ids of the multipart uploads of key.
func (s *s3env) uploadIDs(key string) []string {
	s.t.Helper()
	out, err := s.raw.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(key)})
	if err != nil {
		s.t.Fatal(err)
	}
	var ids []string
	for _, u := range out.Uploads {
		ids = append(ids, aws.ToString(u.UploadId))
	}
	return ids
}
