package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kmstest "github.com/mlseal/mlseal/internal/testserver/kms"
)

// kmsEnv is an env whose commands reach a KMS test server, with
// credentials and a region from the environment and no shared AWS files.
type kmsEnv struct {
	*env
	srv *kmstest.Server
}

func newKMSEnv(t *testing.T) *kmsEnv {
	e := newEnv(t)
	srv := kmstest.New()
	t.Cleanup(srv.Close)
	return &kmsEnv{env: e, srv: srv}
}

func (e *kmsEnv) run(stdin []byte, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = e.dir
	home := filepath.Join(filepath.Dir(e.dir), "home")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+e.config, "AppData="+e.config,
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE="+filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_KMS=")
	cmd.Stdin = bytes.NewReader(stdin)
	return runCmd(e.t, cmd, args)
}

func (e *kmsEnv) ok(stdin []byte, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, e.endpoint(args)...)
	if r.code != 0 {
		e.t.Fatalf("mlseal %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

func (e *kmsEnv) fail(code int, stdin []byte, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, e.endpoint(args)...)
	if r.code != code {
		e.t.Fatalf("mlseal %s: exit %d, want %d\n%s", strings.Join(args, " "), r.code, code, r.stderr)
	}
	if !strings.Contains(r.stderr, "mlseal: error: ") {
		e.t.Errorf("mlseal %s: stderr has no error line:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

// endpoint adds --kms-endpoint to encrypt, decrypt and verify.
func (e *kmsEnv) endpoint(args []string) []string {
	if len(args) > 0 && (args[0] == "encrypt" || args[0] == "decrypt" || args[0] == "verify") {
		return append([]string{args[0], "--kms-endpoint", e.srv.URL}, args[1:]...)
	}
	return args
}

func TestKMSKeys(t *testing.T) {
	e := newKMSEnv(t)
	arn := e.srv.CreateKey("us-east-1")
	e.srv.CreateAlias("alias/training", arn)
	west := e.srv.CreateKey("us-west-2")
	data := randomBytes(t, 10000)
	e.write("data.bin", data)

	e.ok(nil, "encrypt", "-k", "kms:alias/training", "-c", "dataset=a", "-o", "a.mlseal", "data.bin")
	if e.srv.Calls(kmstest.OpGenerateDataKey) != 1 {
		t.Fatalf("GenerateDataKey calls %d", e.srv.Calls(kmstest.OpGenerateDataKey))
	}
	r := e.ok(nil, "inspect", "--json", "a.mlseal")
	if !bytes.Contains(r.stdout, []byte(arn)) || !bytes.Contains(r.stdout, []byte("aws-kms")) {
		t.Fatalf("inspect does not show the key ARN:\n%s", r.stdout)
	}
	r = e.ok(nil, "decrypt", "-k", "kms:"+arn, "a.mlseal")
	if !bytes.Equal(r.stdout, data) {
		t.Fatal("round trip")
	}
	e.ok(nil, "verify", "-k", "kms:"+arn, "a.mlseal")
	// Strict decrypt names keys by ARN.
	r = e.fail(exitUsage, nil, "decrypt", "-k", "kms:alias/training", "a.mlseal")
	if !strings.Contains(r.stderr, "needs a key ARN") || !strings.Contains(r.stderr, "--discovery") {
		t.Fatalf("alias on decrypt:\n%s", r.stderr)
	}
	// Discovery, with and without a filter.
	r = e.ok(nil, "decrypt", "--discovery", "a.mlseal")
	if !bytes.Equal(r.stdout, data) {
		t.Fatal("discovery round trip")
	}
	e.ok(nil, "decrypt", "--discovery", "--discovery-account", kmstest.DefaultAccount, "--discovery-partition", "aws", "-o", "d.bin", "a.mlseal")
	r = e.fail(exitIntegrity, nil, "decrypt", "--discovery", "--discovery-account", "999999999999", "-o", "x.bin", "a.mlseal")
	if e.exists("x.bin") {
		t.Fatal("output left behind")
	}
	e.fail(exitUsage, nil, "decrypt", "--discovery-account", "1", "a.mlseal")
	e.fail(exitUsage, nil, "decrypt", "--discovery", "--discovery-partition", "aws", "a.mlseal")
	// Another key: no data key.
	r = e.fail(exitIntegrity, nil, "decrypt", "-k", "kms:"+west, "a.mlseal")
	if !strings.Contains(r.stderr, "no data key wrapped by "+west) {
		t.Fatalf("another key:\n%s", r.stderr)
	}
	// Key ids resolve in --region.
	westID := west[strings.LastIndex(west, "/")+1:]
	e.ok(nil, "encrypt", "-k", "kms:"+westID, "--region", "us-west-2", "-o", "w.mlseal", "data.bin")
	e.ok(nil, "decrypt", "-k", "kms:"+west, "-o", "w.bin", "w.mlseal")
	r = e.fail(exitError, nil, "encrypt", "-k", "kms:"+westID, "-o", "w2.mlseal", "data.bin")
	if !strings.Contains(r.stderr, "kms:GenerateDataKey with key "+westID+": NotFoundException") || e.exists("w2.mlseal") {
		t.Fatalf("key id in the wrong region:\n%s", r.stderr)
	}
	e.fail(exitUsage, nil, "encrypt", "-k", "kms:", "data.bin")
	e.fail(exitUsage, nil, "encrypt", "--kms-endpoint", "http://10.1.2.3", "-k", "kms:alias/training", "-o", "z", "data.bin")
}

func TestKMSAndLocalKey(t *testing.T) {
	e := newKMSEnv(t)
	arn := e.srv.CreateKey("us-east-1")
	e.ok(nil, "keygen", "-o", "local.key")
	e.write("data.bin", []byte("either key opens this"))
	e.ok(nil, "encrypt", "-k", "kms:"+arn, "-k", "local.key", "-o", "m.mlseal", "data.bin")
	for _, k := range []string{"kms:" + arn, "local.key"} {
		if r := e.ok(nil, "decrypt", "-k", k, "m.mlseal"); string(r.stdout) != "either key opens this" {
			t.Fatalf("decrypt with %s", k)
		}
	}
}

func TestKMSFaults(t *testing.T) {
	e := newKMSEnv(t)
	arn := e.srv.CreateKey("us-east-1")
	e.write("data.bin", []byte("payload"))
	e.ok(nil, "encrypt", "-k", "kms:"+arn, "-o", "m.mlseal", "data.bin")

	e.srv.SetKeyState(arn, kmstest.StateDisabled)
	r := e.fail(exitIntegrity, nil, "decrypt", "-k", "kms:"+arn, "-o", "out.bin", "m.mlseal")
	if !strings.Contains(r.stderr, "kms:Decrypt with key "+arn+": DisabledException") {
		t.Fatalf("disabled key:\n%s", r.stderr)
	}
	e.srv.SetKeyState(arn, kmstest.StateEnabled)
	e.srv.Deny(arn, kmstest.OpGenerateDataKey)
	r = e.fail(exitError, nil, "encrypt", "-k", "kms:"+arn, "-o", "n.mlseal", "data.bin")
	if !strings.Contains(r.stderr, "kms:GenerateDataKey with key "+arn+": AccessDeniedException") {
		t.Fatalf("access denied:\n%s", r.stderr)
	}
	// An outage is an error (1), not a message that cannot be opened (3).
	e.srv.Fail("", -1, "KMSInternalException", 500)
	r = e.fail(exitError, nil, "decrypt", "-k", "kms:"+arn, "--kms-timeout", "2s", "-o", "out.bin", "m.mlseal")
	if !strings.Contains(r.stderr, "kms:Decrypt with key "+arn) {
		t.Fatalf("outage:\n%s", r.stderr)
	}
	e.srv.ClearFaults()
	e.srv.SetHang(true)
	r = e.fail(exitError, nil, "decrypt", "-k", "kms:"+arn, "--kms-timeout", "300ms", "-o", "out.bin", "m.mlseal")
	if !strings.Contains(r.stderr, "deadline") || !strings.Contains(r.stderr, arn) {
		t.Fatalf("hanging KMS:\n%s", r.stderr)
	}
	r = e.fail(exitError, nil, "encrypt", "-k", "kms:"+arn, "--kms-timeout", "300ms", "-o", "n.mlseal", "data.bin")
	if !strings.Contains(r.stderr, "kms:GenerateDataKey with key "+arn) {
		t.Fatalf("hanging KMS on encrypt:\n%s", r.stderr)
	}
	if e.exists("out.bin") || e.exists("n.mlseal") {
		t.Fatal("a partial output was left behind")
	}
	e.noTempFiles(".")
}

func TestKMSBatchUsesCache(t *testing.T) {
	e := newKMSEnv(t)
	arn := e.srv.CreateKey("us-east-1")
	var names []string
	for i := range 20 {
		n := fmt.Sprintf("f%02d.txt", i)
		e.write(n, []byte(n))
		names = append(names, n)
	}
	for _, d := range []string{"enc", "dec"} {
		if err := os.Mkdir(e.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e.ok(nil, append([]string{"encrypt", "-k", "kms:" + arn, "-c", "job=1", "-o", "enc"}, names...)...)
	if got := e.srv.Calls(kmstest.OpGenerateDataKey); got != 1 {
		t.Fatalf("20 files: %d GenerateDataKey calls, want 1", got)
	}
	var enc []string
	for _, n := range names {
		enc = append(enc, filepath.Join("enc", n+".enc"))
	}
	e.ok(nil, append([]string{"decrypt", "-k", "kms:" + arn, "-o", "dec"}, enc...)...)
	if got := e.srv.Calls(kmstest.OpDecrypt); got != 1 {
		t.Fatalf("20 files: %d Decrypt calls, want 1", got)
	}
	for _, n := range names {
		if string(e.read(filepath.Join("dec", n))) != n {
			t.Fatalf("%s did not round-trip", n)
		}
	}
	// One file at a time: one call each.
	e.srv.ResetCalls()
	e.ok(nil, "decrypt", "-k", "kms:"+arn, enc[0])
	e.ok(nil, "decrypt", "-k", "kms:"+arn, enc[1])
	if got := e.srv.Calls(kmstest.OpDecrypt); got != 2 {
		t.Fatalf("%d Decrypt calls, want 2", got)
	}
}

// TestKMSMeasure10000Files measures a CLI batch of 10,000 files of 4 KiB
// against the KMS test server: KMS calls and wall time to encrypt them into
// a directory and decrypt them back. It runs only with
// MLSEAL_KMS_MEASURE=1, since it takes seconds and writes 80 MB.
func TestKMSMeasure10000Files(t *testing.T) {
	if os.Getenv("MLSEAL_KMS_MEASURE") != "1" {
		t.Skip("set MLSEAL_KMS_MEASURE=1 to measure")
	}
	e := newKMSEnv(t)
	arn := e.srv.CreateKey("us-east-1")
	for _, d := range []string{"in", "enc", "dec"} {
		if err := os.Mkdir(e.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	data := randomBytes(t, 4<<10)
	var in, enc []string
	for i := range 10000 {
		n := fmt.Sprintf("f%05d", i)
		if err := os.WriteFile(e.path(filepath.Join("in", n)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		in = append(in, filepath.Join("in", n))
		enc = append(enc, filepath.Join("enc", n+".enc"))
	}
	start := time.Now()
	e.ok(nil, append([]string{"encrypt", "-k", "kms:" + arn, "-c", "job=measure", "-o", "enc"}, in...)...)
	encTime := time.Since(start)
	encCalls := e.srv.Calls("")
	start = time.Now()
	e.ok(nil, append([]string{"decrypt", "-k", "kms:" + arn, "-o", "dec"}, enc...)...)
	decTime := time.Since(start)
	t.Logf("CLI batch, 10,000 files of 4 KiB: encrypt %v with %d KMS calls; decrypt %v with %d KMS calls",
		encTime.Round(time.Millisecond), encCalls, decTime.Round(time.Millisecond), e.srv.Calls("")-encCalls)

	// Without the cache: one process per file would add process start-up,
	// so measure single-file runs on a sample and scale.
	e.srv.ResetCalls()
	start = time.Now()
	for i := range 200 {
		e.ok(nil, "encrypt", "-k", "kms:"+arn, "-c", "job=measure", "--force", "-o", filepath.Join("enc", "one.enc"), in[i])
	}
	t.Logf("CLI, one run per file (200 sampled): %v per file, %d KMS calls for 200 files", (time.Since(start) / 200).Round(time.Microsecond), e.srv.Calls(""))
}
