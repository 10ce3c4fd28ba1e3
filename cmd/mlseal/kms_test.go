package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	kmstest "github.com/mlseal/mlseal/internal/testserver/kms"
)

// kmsEnv is an env whose commands reach a KMS test server, with
// credentials and a region from the environment and no shared AWS files.
type kmsEnv struct {
	*env
	srv   *kmstest.Server
	extra []string // more environment variables, overriding the others
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
	cmd.Env = append(cmd.Env, e.extra...)
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
	if !strings.Contains(r.stderr, "kms:GenerateDataKey with key "+westID+": the key does not exist") || e.exists("w2.mlseal") {
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

	// A key that KMS will not use now is an error (1) that says why, not a
	// message that is not authentic (3).
	e.srv.SetKeyState(arn, kmstest.StateDisabled)
	r := e.fail(exitError, nil, "decrypt", "-k", "kms:"+arn, "-o", "out.bin", "m.mlseal")
	if !strings.Contains(r.stderr, "kms:Decrypt with key "+arn+": the key is disabled") || strings.Contains(r.stderr, "authentic") || strings.Contains(r.stderr, "--context") {
		t.Fatalf("disabled key:\n%s", r.stderr)
	}
	e.srv.SetKeyState(arn, kmstest.StatePendingDeletion)
	r = e.fail(exitError, nil, "verify", "-k", "kms:"+arn, "m.mlseal")
	if !strings.Contains(r.stderr, "pending deletion") {
		t.Fatalf("key pending deletion:\n%s", r.stderr)
	}
	e.srv.SetKeyState(arn, kmstest.StateEnabled)
	e.srv.Deny(arn, kmstest.OpDecrypt)
	r = e.fail(exitError, nil, "decrypt", "--discovery", "-o", "out.bin", "m.mlseal")
	if !strings.Contains(r.stderr, "access denied") {
		t.Fatalf("decrypt denied:\n%s", r.stderr)
	}
	e.srv.Deny(arn, kmstest.OpGenerateDataKey)
	r = e.fail(exitError, nil, "encrypt", "-k", "kms:"+arn, "-o", "n.mlseal", "data.bin")
	if !strings.Contains(r.stderr, "kms:GenerateDataKey with key "+arn+": access denied") || !strings.Contains(r.stderr, "AccessDeniedException") {
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

// silentListener accepts connections on a loopback port and never answers
// them, as a KMS endpoint behind a black-holing network would. It returns
// the endpoint URL.
func silentListener(t *testing.T) string {
	t.Helper()
	u, _ := countingSilentListener(t)
	return u
}

// countingSilentListener is a silentListener that also returns a function
// that counts the connections accepted.
func countingSilentListener(t *testing.T) (string, func() int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	accepted := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
	return "http://" + l.Addr().String(), accepted
}

// TestKMSTimeoutIsATotal checks that --kms-timeout bounds all the KMS work
// of a message, every key and every retry included, against an endpoint
// that accepts connections and never answers. Each key used to get the
// whole timeout, so a message with three KMS keys took three times as long:
// the key after the first opened a connection of its own once the first
// timed out. Now no request starts after the deadline, so each command
// opens exactly one connection. (The time each took is logged, not
// asserted: under load, process start-up alone can take a second.)
func TestKMSTimeoutIsATotal(t *testing.T) {
	e := newKMSEnv(t)
	a, b, c := e.srv.CreateKey("us-east-1"), e.srv.CreateKey("us-east-1"), e.srv.CreateKey("us-east-1")
	e.write("data.bin", []byte("payload"))
	e.ok(nil, "encrypt", "-k", "kms:"+a, "-k", "kms:"+b, "-k", "kms:"+c, "-o", "m.mlseal", "data.bin")
	silent, accepted := countingSilentListener(t)
	const timeout = 2 * time.Second
	for _, args := range [][]string{
		{"decrypt", "-k", "kms:" + a, "-k", "kms:" + b, "-k", "kms:" + c, "-o", "out.bin", "m.mlseal"},
		{"verify", "-k", "kms:" + a, "-k", "kms:" + b, "-k", "kms:" + c, "m.mlseal"},
		{"decrypt", "--discovery", "-o", "out.bin", "m.mlseal"},
		{"encrypt", "-k", "kms:" + a, "-k", "kms:" + b, "-o", "n.mlseal", "data.bin"},
	} {
		args = append([]string{args[0], "--kms-endpoint", silent, "--kms-timeout", timeout.String()}, args[1:]...)
		before := accepted()
		start := time.Now()
		r := e.run(nil, args...)
		took := time.Since(start)
		conns := accepted() - before
		t.Logf("%s %s against a silent endpoint with --kms-timeout %v: exit %d after %v, %d connections",
			args[0], args[len(args)-1], timeout, r.code, took.Round(time.Millisecond), conns)
		if r.code != exitError || !strings.Contains(r.stderr, "no answer before the deadline") {
			t.Errorf("mlseal %s: exit %d, want %d with a deadline error:\n%s", strings.Join(args, " "), r.code, exitError, r.stderr)
		}
		if conns != 1 {
			t.Errorf("mlseal %s opened %d connections to KMS, want 1: a request started after the deadline", strings.Join(args, " "), conns)
		}
	}
	if e.exists("out.bin") || e.exists("n.mlseal") {
		t.Fatal("a partial output was left behind")
	}
}

// TestKMSCommandsHaveADeadline checks that every command that may call
// KMS has a default deadline and says that it is a total.
func TestKMSCommandsHaveADeadline(t *testing.T) {
	e := newEnv(t)
	for _, c := range [][]string{{"encrypt"}, {"decrypt"}, {"verify"}, {"keygen"}, {"tokenize"}, {"detokenize"}, {"tokenize", "keygen"}, {"rewrap"}} {
		r := e.ok(nil, append(c, "--help")...)
		if !bytes.Contains(r.stdout, []byte("--kms-timeout DURATION")) || !bytes.Contains(r.stdout, []byte("every retry included (default 1m0s)")) {
			t.Errorf("mlseal %s --help does not give --kms-timeout a default that bounds the whole operation:\n%s", strings.Join(c, " "), r.stdout)
		}
	}
}

// TestKMSDiscoveryRegions checks that --discovery asks KMS in the
// configured region only, whatever region a message's header names, that
// --discovery-region chooses others, and that a multi-Region key opens
// through its replica in the region asked.
func TestKMSDiscoveryRegions(t *testing.T) {
	e := newKMSEnv(t) // AWS_REGION=us-east-1
	west := e.srv.CreateKey("us-west-2")
	mrk := e.srv.CreateMultiRegionKey("us-west-2", "us-east-1", "eu-west-1")
	e.write("data.bin", []byte("payload"))
	e.ok(nil, "encrypt", "-k", "kms:"+west, "-o", "west.mlseal", "data.bin")
	e.ok(nil, "encrypt", "-k", "kms:"+mrk[0], "-o", "mrk.mlseal", "data.bin")

	e.srv.ResetCalls()
	r := e.fail(exitIntegrity, nil, "decrypt", "--discovery", "-o", "out.bin", "west.mlseal")
	if !strings.Contains(r.stderr, "us-west-2") || e.srv.Calls("") != 0 || e.exists("out.bin") {
		t.Fatalf("--discovery in us-east-1 of a us-west-2 key: %d KMS calls\n%s", e.srv.Calls(""), r.stderr)
	}
	for _, regions := range [][]string{{"us-west-2"}, {"us-east-1", "us-west-2"}} {
		e.srv.ResetCalls()
		args := []string{"decrypt"}
		for _, reg := range regions {
			args = append(args, "--discovery-region", reg)
		}
		if r := e.ok(nil, append(args, "west.mlseal")...); string(r.stdout) != "payload" {
			t.Fatalf("%v: round trip", regions)
		}
		reqs := e.srv.Requests()
		if len(reqs) != 1 || reqs[0].Region != "us-west-2" || reqs[0].KeyID != west {
			t.Fatalf("%v: requests %+v", regions, reqs)
		}
	}
	// A multi-Region key: the replica in the configured region, or in the
	// region given with --region.
	for region, replica := range map[string]string{"us-east-1": mrk[1], "eu-west-1": mrk[2]} {
		e.srv.ResetCalls()
		if r := e.ok(nil, "decrypt", "--discovery", "--region", region, "mrk.mlseal"); string(r.stdout) != "payload" {
			t.Fatalf("MRK in %s: round trip", region)
		}
		if reqs := e.srv.Requests(); len(reqs) != 1 || reqs[0].Region != region || reqs[0].KeyID != replica {
			t.Fatalf("MRK in %s: requests %+v", region, reqs)
		}
	}
	// Strict keys keep the region of their ARN.
	e.srv.ResetCalls()
	e.ok(nil, "decrypt", "-k", "kms:"+west, "-o", "w.bin", "west.mlseal")
	if reqs := e.srv.Requests(); len(reqs) != 1 || reqs[0].Region != "us-west-2" {
		t.Fatalf("strict: requests %+v", reqs)
	}
	e.fail(exitUsage, nil, "decrypt", "--discovery-region", "", "west.mlseal")
	// An account filter takes the partition of the region asked.
	cn := e.srv.CreateKey("cn-north-1")
	e.ok(nil, "encrypt", "-k", "kms:"+cn, "-o", "cn.mlseal", "data.bin")
	e.ok(nil, "decrypt", "--discovery-region", "cn-north-1", "--discovery-account", kmstest.DefaultAccount, "-o", "cn.bin", "cn.mlseal")
	e.fail(exitIntegrity, nil, "decrypt", "--discovery-region", "cn-north-1", "--discovery-account", kmstest.DefaultAccount,
		"--discovery-partition", "aws", "-o", "cn2.bin", "cn.mlseal")
}

// TestKMSNoCredentials checks that a user with no AWS credentials anywhere
// gets one line that says what to do, and none of the SDK's log lines
// (such as its IMDSv1 warning) unless --debug asks for them. The instance
// metadata endpoint is a loopback server that knows no token and no role.
func TestKMSNoCredentials(t *testing.T) {
	e := newKMSEnv(t)
	arn := e.srv.CreateKey("us-east-1")
	imds := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(imds.Close)
	e.extra = []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_EC2_METADATA_DISABLED=false",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds.URL, "AWS_WEB_IDENTITY_TOKEN_FILE=", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI="}
	e.write("data.bin", []byte("x"))
	r := e.fail(exitError, nil, "encrypt", "-k", "kms:"+arn, "-o", "out.enc", "data.bin")
	const want = "no AWS credentials found: set AWS_PROFILE, run `aws sso login`, or set AWS_ACCESS_KEY_ID"
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], want) || strings.Contains(r.stderr, "IMDS") {
		t.Errorf("no credentials: want one line saying %q:\n%s", want, r.stderr)
	}
	r = e.fail(exitError, nil, "encrypt", "--debug", "-k", "kms:"+arn, "-o", "out.enc", "data.bin")
	if !strings.Contains(r.stderr, "WARN falling back to IMDSv1") {
		t.Errorf("--debug does not show the SDK's log:\n%s", r.stderr)
	}
	if e.exists("out.enc") || e.srv.Calls("") != 0 {
		t.Fatalf("output left behind, or %d unsigned KMS calls", e.srv.Calls(""))
	}
}

// TestKMSNoRegion checks the message for a key named without its region,
// and for discovery, when no region is configured.
func TestKMSNoRegion(t *testing.T) {
	e := newKMSEnv(t)
	arn := e.srv.CreateKey("us-east-1")
	e.write("data.bin", []byte("x"))
	e.ok(nil, "encrypt", "-k", "kms:"+arn, "-o", "m.enc", "data.bin")
	e.extra = []string{"AWS_REGION=", "AWS_DEFAULT_REGION="}
	id := arn[strings.LastIndex(arn, "/")+1:]
	for _, args := range [][]string{
		{"encrypt", "-k", "kms:" + id, "-o", "out.enc", "data.bin"},
		{"decrypt", "--discovery", "-o", "out.bin", "m.enc"},
	} {
		r := e.fail(exitError, nil, args...)
		if !strings.Contains(r.stderr, "no AWS region is configured: set AWS_REGION") {
			t.Errorf("mlseal %s:\n%s", strings.Join(args, " "), r.stderr)
		}
	}
}

// TestKMSBatchParallelJobs checks that parallel items share data keys: at
// --jobs 1, 4 and 16 a batch costs 1 GenerateDataKey, and decrypting 1
// Decrypt per distinct wrapped key. KMS answers after 100 ms, so that the
// parallel items all miss the cache while the first call is in flight.
func TestKMSBatchParallelJobs(t *testing.T) {
	e := newKMSEnv(t)
	arn := e.srv.CreateKey("us-east-1")
	e.srv.SetLatency(100 * time.Millisecond)
	var names []string
	for i := range 32 {
		n := fmt.Sprintf("f%02d.txt", i)
		e.write(n, []byte(n))
		names = append(names, n)
	}
	for _, jobs := range []string{"1", "4", "16"} {
		enc, dec := "enc"+jobs, "dec"+jobs
		for _, d := range []string{enc, dec} {
			if err := os.Mkdir(e.path(d), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		e.srv.ResetCalls()
		// Two batches of 16 files, each with its own context: two data keys.
		e.ok(nil, append([]string{"encrypt", "-j", jobs, "-k", "kms:" + arn, "-c", "half=a", "-o", enc + "/"}, names[:16]...)...)
		e.ok(nil, append([]string{"encrypt", "-j", jobs, "-k", "kms:" + arn, "-c", "half=b", "-o", enc + "/"}, names[16:]...)...)
		if got := e.srv.Calls(kmstest.OpGenerateDataKey); got != 2 {
			t.Fatalf("--jobs %s: %d GenerateDataKey calls for two batches, want 2", jobs, got)
		}
		e.srv.ResetCalls()
		e.ok(nil, "decrypt", "-j", jobs, "-k", "kms:"+arn, "-o", dec+"/", enc+"/")
		if got := e.srv.Calls(kmstest.OpDecrypt); got != 2 {
			t.Fatalf("--jobs %s: %d Decrypt calls for 32 files under 2 wrapped keys, want 2", jobs, got)
		}
		for _, n := range names {
			if string(e.read(filepath.Join(dec, n))) != n {
				t.Fatalf("--jobs %s: %s did not round-trip", jobs, n)
			}
		}
	}
}
