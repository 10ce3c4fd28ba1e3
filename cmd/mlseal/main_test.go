package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// binary is the mlseal command built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mlseal-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mlseal")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mlseal:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a working directory and a home of its own for one test.
type env struct {
	t      *testing.T
	dir    string // working directory of the command
	config string // XDG_CONFIG_HOME
}

func newEnv(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	root := t.TempDir()
	e := &env{t: t, dir: filepath.Join(root, "work"), config: filepath.Join(root, "config")}
	for _, d := range []string{e.dir, e.config, filepath.Join(root, "home")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// defaultKey is where keyfile.DefaultPath puts the default key for e.
func (e *env) defaultKey() string { return filepath.Join(e.config, "mlseal", "default.key") }

type result struct {
	code   int
	stdout []byte
	stderr string
}

// run runs mlseal in e with stdin and the arguments.
func (e *env) run(stdin []byte, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = e.dir
	home := filepath.Join(filepath.Dir(e.dir), "home")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+e.config, "AppData="+e.config)
	cmd.Stdin = bytes.NewReader(stdin)
	return runCmd(e.t, cmd, args)
}

// runCmd runs an mlseal command and returns its exit code and output; it
// fails the test if the command cannot be run at all.
func runCmd(t testing.TB, cmd *exec.Cmd, args []string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("mlseal %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: stdout.Bytes(), stderr: stderr.String()}
}

// ok runs mlseal and fails the test unless it exits 0.
func (e *env) ok(stdin []byte, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("mlseal %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// fail runs mlseal and fails the test unless it exits with code.
func (e *env) fail(code int, stdin []byte, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != code {
		e.t.Fatalf("mlseal %s: exit %d, want %d\n%s", strings.Join(args, " "), r.code, code, r.stderr)
	}
	if !strings.Contains(r.stderr, "mlseal: error: ") {
		e.t.Errorf("mlseal %s: stderr has no error line:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

func (e *env) path(name string) string { return filepath.Join(e.dir, name) }

func (e *env) write(name string, data []byte) {
	e.t.Helper()
	if err := os.WriteFile(e.path(name), data, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) read(name string) []byte {
	e.t.Helper()
	b, err := os.ReadFile(e.path(name))
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) exists(name string) bool {
	_, err := os.Lstat(e.path(name))
	return err == nil
}

// noTempFiles fails if a temporary output file was left in dir.
func (e *env) noTempFiles(dir string) {
	e.t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.dir, dir))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ent := range ents {
		if strings.Contains(ent.Name(), ".tmp-") {
			e.t.Errorf("temporary file %s left behind", ent.Name())
		}
	}
}

func (e *env) mode(name string) os.FileMode {
	e.t.Helper()
	fi, err := os.Stat(e.path(name))
	if err != nil {
		e.t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// sealed makes a key k.key, a plaintext plain.bin of several small frames
// and its encryption msg.mlseal with extra encrypt flags.
func (e *env) sealed(flags ...string) []byte {
	e.t.Helper()
	plain := randomBytes(e.t, 10_000)
	e.ok(nil, "keygen", "-o", "k.key")
	e.write("plain.bin", plain)
	args := append([]string{"encrypt", "--key", "k.key", "--frame-length", "1024", "-o", "msg.mlseal"}, flags...)
	e.ok(nil, append(args, "plain.bin")...)
	return plain
}

func TestRoundTripFiles(t *testing.T) {
	e := newEnv(t)
	plain := e.sealed("--context", "purpose=test")
	if e.mode("k.key") != 0o600 {
		t.Errorf("key file mode %v, want 0600", e.mode("k.key"))
	}
	r := e.ok(nil, "decrypt", "--key", "k.key", "--context", "purpose=test", "-o", "out.bin", "msg.mlseal")
	if len(r.stdout) != 0 {
		t.Errorf("decrypt to a file wrote %d bytes to stdout", len(r.stdout))
	}
	if !bytes.Equal(e.read("out.bin"), plain) {
		t.Fatal("decrypted file differs from the plaintext")
	}
	if m := e.mode("out.bin"); m != 0o600 {
		t.Errorf("plaintext output mode %v, want 0600", m)
	}
	e.noTempFiles(".")

	// An empty plaintext, and the --suite names and ids.
	e.write("empty", nil)
	for _, suite := range []string{"AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", "0x0478"} {
		e.ok(nil, "encrypt", "--key", "k.key", "--suite", suite, "-o", "empty.mlseal", "--force", "empty")
		r := e.ok(nil, "decrypt", "--key", "k.key", "empty.mlseal")
		if len(r.stdout) != 0 {
			t.Errorf("suite %s: empty plaintext decrypts to %d bytes", suite, len(r.stdout))
		}
	}
}

func TestRoundTripStdio(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k.key")
	plain := randomBytes(t, 300_000)
	r := e.ok(plain, "encrypt", "--key", "k.key")
	if len(r.stdout) <= len(plain) {
		t.Fatalf("ciphertext of %d bytes for %d bytes of plaintext", len(r.stdout), len(plain))
	}
	r = e.ok(r.stdout, "decrypt", "--key", "k.key", "-o", "-", "-")
	if !bytes.Equal(r.stdout, plain) {
		t.Fatal("stdin/stdout round trip differs")
	}
	if strings.TrimSpace(r.stderr) != "" {
		t.Errorf("decrypt printed on stderr: %s", r.stderr)
	}
}

func TestDefaultKey(t *testing.T) {
	e := newEnv(t)
	r := e.ok([]byte("hello"), "encrypt")
	msg := r.stdout
	if !strings.Contains(r.stderr, e.defaultKey()) || !strings.Contains(r.stderr, "loses") {
		t.Errorf("creating the default key printed:\n%s", r.stderr)
	}
	fi, err := os.Stat(e.defaultKey())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("default key mode %v, want 0600", fi.Mode().Perm())
	}
	r = e.ok([]byte("again"), "encrypt")
	if strings.Contains(r.stderr, "created") {
		t.Errorf("second encrypt created the default key again:\n%s", r.stderr)
	}
	r = e.ok(msg, "decrypt")
	if string(r.stdout) != "hello" {
		t.Errorf("decrypt with the default key: %q", r.stdout)
	}
	e.ok(msg, "verify")
}

func TestDecryptWithoutDefaultKey(t *testing.T) {
	e := newEnv(t)
	e.sealed()
	for _, cmd := range []string{"decrypt", "verify"} {
		r := e.fail(1, nil, cmd, "msg.mlseal")
		if !strings.Contains(r.stderr, "mlseal: hint: ") {
			t.Errorf("%s without a key gives no hint:\n%s", cmd, r.stderr)
		}
		if _, err := os.Stat(e.defaultKey()); err == nil {
			t.Fatalf("%s created the default key", cmd)
		}
	}
}

func TestExitCodes(t *testing.T) {
	e := newEnv(t)
	e.sealed("--context", "purpose=test")
	msg := e.read("msg.mlseal")
	e.ok(nil, "keygen", "-o", "other.key")

	flipped := bytes.Clone(msg)
	flipped[len(flipped)/2] ^= 1 // in the body: the header is a few hundred bytes
	e.write("flipped.mlseal", flipped)
	tail := bytes.Clone(msg)
	tail[len(tail)-3] ^= 0x80 // the final frame's tag
	e.write("tail.mlseal", tail)
	e.write("short.mlseal", msg[:len(msg)-10])
	e.write("half.mlseal", msg[:len(msg)/2])
	e.write("garbage", []byte("this is not a message at all"))

	tests := []struct {
		name string
		code int
		args []string
		hint string // part of the hint, if any
	}{
		{"ok", 0, []string{"decrypt", "-k", "k.key", "-c", "purpose=test", "msg.mlseal"}, ""},
		{"missing input", 1, []string{"decrypt", "-k", "k.key", "nonexistent.mlseal"}, ""},
		{"missing key file", 1, []string{"decrypt", "-k", "nonexistent.key", "msg.mlseal"}, "check the path"},
		{"unknown flag", 2, []string{"decrypt", "--bogus", "msg.mlseal"}, "--help"},
		{"unknown command", 2, []string{"decrypy"}, "decrypt"},
		{"bad context", 2, []string{"encrypt", "-k", "k.key", "-c", "novalue", "plain.bin"}, ""},
		{"reserved context", 2, []string{"encrypt", "-k", "k.key", "-c", "aws-crypto-public-key=x", "plain.bin"}, ""},
		{"unknown key scheme", 2, []string{"decrypt", "-k", "kms:alias/foo", "msg.mlseal"}, ""},
		{"unknown suite", 2, []string{"encrypt", "-k", "k.key", "--suite", "ROT13", "plain.bin"}, ""},
		{"legacy suite", 2, []string{"encrypt", "-k", "k.key", "--suite", "0x0178", "plain.bin"}, "COMMIT_KEY"},
		// Several inputs make -o a directory (output_test.go); stdin
		// cannot be one of them.
		{"stdin among several inputs", 2, []string{"encrypt", "-k", "k.key", "-o", "x", "-", "plain.bin"}, ""},
		{"flipped body byte", 3, []string{"decrypt", "-k", "k.key", "-c", "purpose=test", "flipped.mlseal"}, ""},
		{"flipped tag byte", 3, []string{"decrypt", "-k", "k.key", "-c", "purpose=test", "tail.mlseal"}, ""},
		{"wrong key", 3, []string{"decrypt", "-k", "other.key", "-c", "purpose=test", "msg.mlseal"}, "tried other.key"},
		{"wrong context", 3, []string{"decrypt", "-k", "k.key", "-c", "purpose=prod", "msg.mlseal"}, "context"},
		{"truncated end", 3, []string{"decrypt", "-k", "k.key", "short.mlseal"}, ""},
		{"truncated half", 3, []string{"decrypt", "-k", "k.key", "half.mlseal"}, ""},
		{"not a message", 3, []string{"decrypt", "-k", "k.key", "garbage"}, ""},
		{"verify flipped", 3, []string{"verify", "-k", "k.key", "flipped.mlseal"}, ""},
	}
	for _, tt := range tests {
		r := e.run(nil, tt.args...)
		if r.code != tt.code {
			t.Errorf("%s: mlseal %s: exit %d, want %d\n%s", tt.name, strings.Join(tt.args, " "), r.code, tt.code, r.stderr)
			continue
		}
		if tt.code != 0 && !strings.HasPrefix(r.stderr, "mlseal: error: ") {
			t.Errorf("%s: stderr does not start with an error line:\n%s", tt.name, r.stderr)
		}
		if tt.hint != "" && (!strings.Contains(r.stderr, "mlseal: hint: ") || !strings.Contains(r.stderr, tt.hint)) {
			t.Errorf("%s: stderr lacks a hint with %q:\n%s", tt.name, tt.hint, r.stderr)
		}
		// Frames before the damage may be released on stdout, but a
		// damaged message never decrypts whole.
		if tt.code == 3 && bytes.Equal(r.stdout, e.read("plain.bin")) {
			t.Errorf("%s: the whole plaintext was released", tt.name)
		}
	}
	if e.exists("x") {
		t.Error("a usage error created an output file")
	}
}

func TestNoPartialOutput(t *testing.T) {
	e := newEnv(t)
	e.sealed()
	msg := e.read("msg.mlseal")
	msg[len(msg)-3] ^= 1 // the last frame: every earlier frame is authentic
	e.write("bad.mlseal", msg)
	e.fail(3, nil, "decrypt", "-k", "k.key", "-o", "out.bin", "bad.mlseal")
	if e.exists("out.bin") {
		t.Fatal("a failed decrypt left its output file")
	}
	e.noTempFiles(".")

	// Nor does a failed encrypt, e.g. of a directory.
	if err := os.Mkdir(e.path("adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.fail(1, nil, "encrypt", "-k", "k.key", "-o", "out.mlseal", "adir")
	if e.exists("out.mlseal") {
		t.Fatal("a failed encrypt left its output file")
	}
	e.noTempFiles(".")
}

func TestNoOverwrite(t *testing.T) {
	e := newEnv(t)
	plain := e.sealed()
	e.write("out.bin", []byte("precious"))
	r := e.fail(1, nil, "decrypt", "-k", "k.key", "-o", "out.bin", "msg.mlseal")
	if !strings.Contains(r.stderr, "--force") {
		t.Errorf("no hint about --force:\n%s", r.stderr)
	}
	if string(e.read("out.bin")) != "precious" {
		t.Fatal("existing output overwritten without --force")
	}
	e.fail(1, nil, "encrypt", "-k", "k.key", "-o", "out.bin", "plain.bin")
	if string(e.read("out.bin")) != "precious" {
		t.Fatal("existing output overwritten by encrypt without --force")
	}
	e.ok(nil, "decrypt", "-k", "k.key", "--force", "-o", "out.bin", "msg.mlseal")
	if !bytes.Equal(e.read("out.bin"), plain) {
		t.Fatal("--force did not replace the output")
	}
	e.noTempFiles(".")
}

func TestKeygen(t *testing.T) {
	e := newEnv(t)
	r := e.ok(nil, "keygen", "-o", "a.key", "--name", "alice")
	if !strings.Contains(r.stderr, "alice") {
		t.Errorf("keygen did not name the key:\n%s", r.stderr)
	}
	if m := e.mode("a.key"); m != 0o600 {
		t.Errorf("key file mode %v, want 0600", m)
	}
	before := e.read("a.key")
	e.fail(1, nil, "keygen", "-o", "a.key")
	if !bytes.Equal(e.read("a.key"), before) {
		t.Fatal("keygen overwrote a key file")
	}
	e.fail(2, nil, "keygen")
	e.fail(2, nil, "keygen", "--kind", "raw-des", "-o", "d.key")
	e.fail(2, nil, "keygen", "--public-out", "p.key", "-o", "d.key")
	if e.exists("d.key") || e.exists("p.key") {
		t.Fatal("a refused keygen wrote a file")
	}

	// A raw-rsa pair: the public-only copy encrypts but cannot decrypt.
	e.ok(nil, "keygen", "--kind", "raw-rsa", "--bits", "2048", "-o", "rsa.key", "--public-out", "rsa.pub")
	if m := e.mode("rsa.key"); m != 0o600 {
		t.Errorf("rsa key file mode %v, want 0600", m)
	}
	plain := []byte("for the private key's eyes only")
	msg := e.ok(plain, "encrypt", "-k", "rsa.pub").stdout
	if got := e.ok(msg, "decrypt", "-k", "rsa.key").stdout; !bytes.Equal(got, plain) {
		t.Fatalf("raw-rsa round trip: %q", got)
	}
	e.fail(3, msg, "decrypt", "-k", "rsa.pub")
}

func TestFlagsAfterPositionals(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k.key")
	plain := []byte("order does not matter")
	e.write("p.txt", plain)
	e.ok(nil, "encrypt", "p.txt", "-o", "p.mlseal", "--key", "k.key", "--context", "a=b=c")
	r := e.ok(nil, "decrypt", "p.mlseal", "--context", "a=b=c", "--key", "k.key")
	if !bytes.Equal(r.stdout, plain) {
		t.Fatalf("got %q", r.stdout)
	}
	// The context splits at the first "=": "a" is "b=c", not "b".
	e.fail(3, nil, "decrypt", "p.mlseal", "--context", "a=b", "--key", "k.key")
}

func TestInspectJSON(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k.key", "--namespace", "acme", "--name", "backup-key")
	e.write("p.txt", []byte("inspect me"))
	e.ok(nil, "encrypt", "-k", "k.key", "-c", "tenant=t1", "-c", "secret-ish=kept", "--require-context-key", "secret-ish",
		"--frame-length", "4096", "-o", "p.mlseal", "p.txt")
	r := e.ok(nil, "inspect", "--json", "p.mlseal")
	var h struct {
		Authenticated     bool              `json:"authenticated"`
		Version           int               `json:"version"`
		Suite             string            `json:"suite"`
		MessageID         string            `json:"message_id"`
		Context           map[string]string `json:"encryption_context"`
		ContentType       string            `json:"content_type"`
		FrameLength       int               `json:"frame_length"`
		EncryptedDataKeys []struct {
			ProviderID      string `json:"provider_id"`
			ProviderInfo    string `json:"provider_info"`
			ProviderInfoHex string `json:"provider_info_hex"`
		} `json:"encrypted_data_keys"`
	}
	if err := json.Unmarshal(r.stdout, &h); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
	}
	if h.Authenticated || h.Version != 2 || h.Suite != "AES_256_GCM_HKDF_SHA512_COMMIT_KEY" ||
		len(h.MessageID) != 64 || h.ContentType != "framed" || h.FrameLength != 4096 {
		t.Errorf("inspect --json: %s", r.stdout)
	}
	if h.Context["tenant"] != "t1" {
		t.Errorf("stored context %v lacks tenant=t1", h.Context)
	}
	if _, ok := h.Context["secret-ish"]; ok {
		t.Errorf("required context key shown as stored: %v", h.Context)
	}
	if len(h.EncryptedDataKeys) != 1 || h.EncryptedDataKeys[0].ProviderID != "acme" ||
		!strings.Contains(h.EncryptedDataKeys[0].ProviderInfoHex, hex.EncodeToString([]byte("backup-key"))) {
		t.Errorf("wrapped keys: %+v", h.EncryptedDataKeys)
	}

	r = e.ok(nil, "inspect", "p.mlseal")
	for _, want := range []string{"tenant", "t1", "acme", "NOT authenticated", "framed", "4096"} {
		if !strings.Contains(string(r.stdout), want) {
			t.Errorf("inspect output lacks %q:\n%s", want, r.stdout)
		}
	}
	e.fail(3, []byte("not a message"), "inspect")
}

func TestVerify(t *testing.T) {
	e := newEnv(t)
	e.sealed()
	r := e.ok(nil, "verify", "-k", "k.key", "msg.mlseal")
	if len(r.stdout) != 0 || !strings.Contains(r.stderr, "OK") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("verify: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	msg := e.read("msg.mlseal")
	msg[len(msg)/2] ^= 0x10
	r = e.fail(3, msg, "verify", "-k", "k.key")
	if strings.Contains(r.stderr, "OK") {
		t.Errorf("verify of a tampered message says OK:\n%s", r.stderr)
	}

	// A signed message is verified to its signature.
	e.ok(nil, "encrypt", "-k", "k.key", "--suite", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", "-o", "signed.mlseal", "plain.bin")
	e.ok(nil, "verify", "-k", "k.key", "signed.mlseal")
	signed := e.read("signed.mlseal")
	signed[len(signed)-5] ^= 1 // the signature
	e.fail(3, signed, "verify", "-k", "k.key")
}

func TestMultipleKeys(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"a.key", "b.key", "c.key"} {
		e.ok(nil, "keygen", "-o", k)
	}
	plain := []byte("two keys can open this")
	msg := e.ok(plain, "encrypt", "--key", "a.key", "--key", "b.key").stdout
	for _, k := range []string{"a.key", "b.key"} {
		if got := e.ok(msg, "decrypt", "--key", k).stdout; !bytes.Equal(got, plain) {
			t.Errorf("decrypt with %s alone: %q", k, got)
		}
	}
	if got := e.ok(msg, "decrypt", "--key", "c.key", "--key", "b.key").stdout; !bytes.Equal(got, plain) {
		t.Errorf("decrypt with c.key and b.key: %q", got)
	}
	r := e.fail(3, msg, "decrypt", "--key", "c.key")
	if !strings.Contains(r.stderr, "tried c.key") {
		t.Errorf("wrong key: no hint naming the key tried:\n%s", r.stderr)
	}
}

func TestRequiredContext(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k.key")
	plain := []byte("needs its tenant")
	msg := e.ok(plain, "encrypt", "-k", "k.key", "-c", "tenant=t1", "-c", "app=x", "--require-context-key", "tenant").stdout
	r := e.fail(3, msg, "decrypt", "-k", "k.key")
	if !strings.Contains(r.stderr, "--context") {
		t.Errorf("no hint about --context:\n%s", r.stderr)
	}
	e.fail(3, msg, "decrypt", "-k", "k.key", "-c", "tenant=t2")
	if got := e.ok(msg, "decrypt", "-k", "k.key", "-c", "tenant=t1").stdout; !bytes.Equal(got, plain) {
		t.Errorf("decrypt with the required context: %q", got)
	}
	e.ok(msg, "verify", "-k", "k.key", "-c", "tenant=t1", "-c", "app=x")
	e.fail(2, nil, "encrypt", "-k", "k.key", "--require-context-key", "tenant")
}

func TestBatch(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k.key")
	for _, d := range []string{"enc", "dec"} {
		if err := os.Mkdir(e.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e.write("one.txt", []byte("first"))
	e.write("two.txt", []byte("second"))
	e.ok(nil, "encrypt", "-k", "k.key", "-o", "enc", "one.txt", "two.txt")

	bad := e.read("enc/two.txt.enc")
	bad[len(bad)-1] ^= 1
	e.write("enc/two.txt.enc", bad)
	r := e.fail(4, nil, "decrypt", "-k", "k.key", "-o", "dec", "enc/one.txt.enc", "enc/two.txt.enc")
	if !strings.Contains(r.stderr, "mlseal: error: enc/two.txt.enc: ") {
		t.Errorf("no error line for the bad item:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "one.txt.enc:") {
		t.Errorf("error line for the good item:\n%s", r.stderr)
	}
	if string(e.read("dec/one.txt")) != "first" {
		t.Error("the good item was not decrypted")
	}
	if e.exists("dec/two.txt") {
		t.Error("the bad item left an output")
	}
	e.noTempFiles("dec")

	// A missing input fails alone too, and an existing output is not
	// overwritten: they fail, the third item does not.
	e.write("three.txt", []byte("third"))
	r = e.fail(4, nil, "encrypt", "-k", "k.key", "-o", "enc", "one.txt", "missing.txt", "three.txt")
	if !strings.Contains(r.stderr, "2 of 3") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("batch summary:\n%s", r.stderr)
	}
	if !e.exists("enc/three.txt.enc") {
		t.Error("the good item of a failed batch was not encrypted")
	}
	e.ok(nil, "encrypt", "-k", "k.key", "-o", "enc", "--force", "one.txt", "two.txt")
	e.ok(nil, "decrypt", "-k", "k.key", "-o", "dec", "--force", "enc/one.txt.enc", "enc/two.txt.enc")
	if string(e.read("dec/two.txt")) != "second" {
		t.Error("batch with --force")
	}
}
