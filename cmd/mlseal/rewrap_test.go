package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	kmstest "github.com/mlseal/mlseal/internal/testserver/kms"
)

func TestRewrapCLI(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"old.key", "new.key", "new2.key"} {
		e.ok(nil, "keygen", "-o", k)
	}
	plain := randomBytes(t, 300000)
	e.write("data.csv", plain)
	e.ok(nil, "encrypt", "-k", "old.key", "-c", "dataset=train", "-o", "data.csv.enc", "data.csv")

	// File to file, to two new keys; the old key no longer opens it.
	e.ok(nil, "rewrap", "--old-key", "old.key", "-k", "new.key", "-k", "new2.key", "-c", "dataset=train", "-o", "re.enc", "data.csv.enc")
	for _, k := range []string{"new.key", "new2.key"} {
		if got := e.ok(nil, "decrypt", "-k", k, "-c", "dataset=train", "re.enc").stdout; !bytes.Equal(got, plain) {
			t.Fatalf("decrypt with %s after rewrap: wrong plaintext", k)
		}
	}
	e.fail(3, nil, "decrypt", "-k", "old.key", "re.enc")
	old, re := e.read("data.csv.enc"), e.read("re.enc")
	if !bytes.Equal(old[len(old)-250000:], re[len(re)-250000:]) {
		t.Error("the body was not copied unchanged")
	}

	// The wrong old key or context: exit 3 and a hint; nothing written.
	r := e.fail(3, nil, "rewrap", "--old-key", "new.key", "-k", "new.key", "-o", "x.enc", "data.csv.enc")
	if !strings.Contains(r.stderr, "--old-key") || e.exists("x.enc") {
		t.Errorf("wrong old key: %s", r.stderr)
	}
	e.fail(3, nil, "rewrap", "--old-key", "old.key", "-k", "new.key", "-c", "dataset=test", "-o", "x.enc", "data.csv.enc")

	// No --old-key and no default key: the hint names --old-key.
	r = e.fail(1, nil, "rewrap", "-k", "new.key", "-o", "x.enc", "data.csv.enc")
	if !strings.Contains(r.stderr, "hint: pass --old-key") {
		t.Errorf("no default key: %s", r.stderr)
	}

	// Usage errors.
	e.fail(2, nil, "rewrap", "--old-key", "old.key", "-o", "x.enc", "data.csv.enc")
	e.fail(2, nil, "rewrap", "--old-key", "old.key", "-k", "new.key", "--in-place", "-o", "x.enc", "data.csv.enc")
	e.fail(2, nil, "rewrap", "--old-key", "old.key", "-k", "new.key", "--allow-legacy", "-o", "x.enc", "data.csv.enc")
	e.fail(2, old, "rewrap", "--old-key", "old.key", "-k", "new.key", "--in-place", "-")
	// An existing output needs --force.
	e.fail(1, nil, "rewrap", "--old-key", "old.key", "-k", "new.key", "-c", "dataset=train", "-o", "re.enc", "data.csv.enc")

	// A tampered body is copied, and found by decrypt.
	bad := bytes.Clone(old)
	bad[len(bad)-1000] ^= 1
	e.write("bad.enc", bad)
	e.ok(nil, "rewrap", "--old-key", "old.key", "-k", "new.key", "-c", "dataset=train", "-o", "bad2.enc", "bad.enc")
	e.fail(3, nil, "decrypt", "-k", "new.key", "-c", "dataset=train", "bad2.enc")
}

func TestRewrapCLIDirInPlaceAudit(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "old.key")
	e.ok(nil, "keygen", "-o", "new.key")
	for _, d := range []string{"enc/sub", "sub"} {
		if err := os.MkdirAll(e.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{"a.csv": []byte("alpha"), "sub/b.csv": []byte("beta")}
	for name, data := range files {
		e.write(name+".plain", data)
		e.ok(nil, "encrypt", "-k", "old.key", "-o", "enc/"+name+".enc", name+".plain")
	}
	e.write("signed.plain", []byte("signed"))
	e.ok(nil, "encrypt", "-k", "old.key", "--suite", "0x0578", "-o", "signed.enc", "signed.plain")

	// In place over a directory, with a manifest and an audit trail; a
	// rerun skips what is done.
	e.ok(nil, "rewrap", "--old-key", "old.key", "-k", "new.key", "--in-place", "--manifest", "job.jsonl", "--audit", "audit.jsonl", "enc")
	for name, data := range files {
		if got := e.ok(nil, "decrypt", "-k", "new.key", "enc/"+name+".enc").stdout; !bytes.Equal(got, data) {
			t.Fatalf("%s after an in-place rewrap: %q", name, got)
		}
	}
	r := e.ok(nil, "rewrap", "--old-key", "old.key", "-k", "new.key", "--in-place", "--manifest", "job.jsonl", "enc")
	if !strings.Contains(r.stderr, "skipped 2") {
		t.Errorf("rerun: %s", r.stderr)
	}
	var lines int
	for line := range strings.Lines(string(e.read("audit.jsonl"))) {
		var rec struct {
			Operation    string
			Result       string
			WrappingKeys []struct{ Provider, Key string } `json:"wrapping_keys"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Operation != "rewrap" || rec.Result != "done" || len(rec.WrappingKeys) != 1 || rec.WrappingKeys[0].Key == "" {
			t.Errorf("audit line %s", line)
		}
		lines++
	}
	if lines != 2 {
		t.Errorf("%d audit lines, want 2", lines)
	}

	// A signed message is refused, with the way out in the hint.
	r = e.fail(1, nil, "rewrap", "--old-key", "old.key", "-k", "new.key", "-o", "s2.enc", "signed.enc")
	if !strings.Contains(r.stderr, "signed") || !strings.Contains(r.stderr, "--reencrypt") {
		t.Errorf("signed message: %s", r.stderr)
	}
	e.ok(nil, "rewrap", "--reencrypt", "--old-key", "old.key", "-k", "new.key", "-o", "s2.enc", "signed.enc")
	if got := e.ok(nil, "decrypt", "-k", "new.key", "s2.enc").stdout; string(got) != "signed" {
		t.Fatalf("re-encrypted signed message: %q", got)
	}
	if r := e.ok(nil, "inspect", "--json", "s2.enc"); !bytes.Contains(r.stdout, []byte("0578")) && !bytes.Contains(r.stdout, []byte("ECDSA")) {
		t.Errorf("the re-encrypted message is not signed: %s", r.stdout)
	}
}

func TestRewrapCLIS3(t *testing.T) {
	s := newS3Env(t)
	s.ok(nil, "keygen", "-o", "new.key")
	plain := randomBytes(t, 7<<20)
	s.write("big.bin", plain)
	s.ok(nil, "encrypt", "-k", "k.key", "-c", "dataset=train", "-o", s.url("enc/big.bin.enc"), "big.bin")
	s.ok(nil, "rewrap", "--old-key", "k.key", "-k", "new.key", "-c", "dataset=train", "--in-place", "--audit", s.url("audit.jsonl"), s.url("enc/"))
	if got := s.ok(nil, "decrypt", "-k", "new.key", "-c", "dataset=train", s.url("enc/big.bin.enc")).stdout; !bytes.Equal(got, plain) {
		t.Fatal("the object rewrapped in place does not decrypt to its plaintext")
	}
	s.fail(3, nil, "decrypt", "-k", "k.key", "-c", "dataset=train", s.url("enc/big.bin.enc"))
	audit, _ := s.get("audit.jsonl")
	if !bytes.Contains(audit, []byte(`"operation":"rewrap"`)) || !bytes.Contains(audit, []byte(s.url("enc/big.bin.enc"))) || bytes.Contains(audit, []byte("train")) {
		t.Errorf("audit trail in S3: %s", audit)
	}
}

// TestRewrapCLIKMS rewraps a batch from one KMS key to another: the batch
// was written under one cached data key, so the rewrap costs one Decrypt
// and one Encrypt, and the audit trail names the keys by ARN.
func TestRewrapCLIKMS(t *testing.T) {
	e := newKMSEnv(t)
	oldARN, newARN := e.srv.CreateKey("us-east-1"), e.srv.CreateKey("us-east-1")
	var names []string
	for i := range 20 {
		n := fmt.Sprintf("f%02d.txt", i)
		e.write(n, []byte(n))
		names = append(names, n)
	}
	if err := os.Mkdir(e.path("enc"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.ok(nil, append([]string{"encrypt", "-k", "kms:" + oldARN, "-c", "job=1", "-o", "enc"}, names...)...)
	e.srv.ResetCalls()
	e.ok(nil, "rewrap", "--kms-endpoint", e.srv.URL, "--old-key", "kms:"+oldARN, "-k", "kms:"+newARN, "-c", "job=1",
		"-o", "re", "--audit", "audit.jsonl", "enc")
	if d, enc, gen := e.srv.Calls(kmstest.OpDecrypt), e.srv.Calls(kmstest.OpEncrypt), e.srv.Calls(kmstest.OpGenerateDataKey); d != 1 || enc != 1 || gen != 0 {
		t.Errorf("rewrap of 20 files under one data key: %d Decrypt, %d Encrypt, %d GenerateDataKey calls; want 1, 1, 0", d, enc, gen)
	}
	for _, n := range names {
		if got := e.ok(nil, "decrypt", "-k", "kms:"+newARN, "-c", "job=1", "re/"+n+".enc").stdout; string(got) != n {
			t.Fatalf("%s after rewrap: %q", n, got)
		}
	}
	e.fail(exitIntegrity, nil, "decrypt", "-k", "kms:"+oldARN, "-c", "job=1", "re/f00.txt.enc")
	audit := string(e.read("audit.jsonl"))
	if strings.Count(audit, `"wrapping_keys":[{"provider":"aws-kms","key":"`+newARN+`"}]`) != 20 {
		t.Errorf("audit trail does not name the new key's ARN on each line:\n%s", audit)
	}
}
