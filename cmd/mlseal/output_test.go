package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestOutputToDevNull: /dev/null is a character device but no terminal,
// so encrypt writes to it as to a file.
func TestOutputToDevNull(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no /dev/null")
	}
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k")
	e.write("file", []byte("some data"))
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	args := []string{"encrypt", "-k", "k", "file"}
	cmd := exec.Command(binary, args...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+e.config)
	cmd.Stdout = null
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mlseal encrypt -k k file > /dev/null: %v\n%s", err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
}

// TestOutputDirCreated: the README's batch example works in a fresh
// directory: -o DIR/ with a trailing slash, or several inputs, creates
// DIR.
func TestOutputDirCreated(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "team.key")
	if err := os.Mkdir(e.path("shards"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.write("shards/a.csv", []byte("a,1\n"))
	e.write("shards/b.csv", []byte("b,2\n"))
	shards, _ := filepath.Glob(filepath.Join(e.dir, "shards", "*.csv"))
	for i := range shards {
		shards[i], _ = filepath.Rel(e.dir, shards[i])
	}

	// mlseal encrypt -k team.key -o encrypted/ shards/*.csv
	e.ok(nil, append([]string{"encrypt", "-k", "team.key", "-o", "encrypted/"}, shards...)...)
	// Several inputs without the slash, and the way back.
	e.ok(nil, "decrypt", "-k", "team.key", "-o", "plain", "encrypted/a.csv.enc", "encrypted/b.csv.enc")
	for _, n := range []string{"a.csv", "b.csv"} {
		if got, want := string(e.read("plain/"+n)), string(e.read("shards/"+n)); got != want {
			t.Errorf("plain/%s = %q, want %q", n, got, want)
		}
	}
	// One input into DIR/.
	e.ok(nil, "encrypt", "-k", "team.key", "-o", "one/", "shards/a.csv")
	if !e.exists("one/a.csv.enc") {
		t.Error("-o one/ with one input: no one/a.csv.enc")
	}
	// "FILE/" is no directory, even with --force.
	e.write("afile", []byte("kept"))
	e.fail(2, nil, "encrypt", "-k", "team.key", "--force", "-o", "afile/", "shards/a.csv")
	if string(e.read("afile")) != "kept" {
		t.Error("-o afile/ --force wrote over the file afile")
	}
	// A job that fails leaves no directory of its own behind.
	e.fail(1, nil, "encrypt", "-k", "team.key", "-o", "none/", "shards/missing.csv")
	e.fail(2, nil, "encrypt", "-k", "team.key", "-o", "none2/", "-", "shards/a.csv")
	for _, d := range []string{"none", "none2"} {
		if e.exists(d) {
			t.Errorf("failed job left %s behind", d)
		}
	}
	e.noTempFiles("encrypted")
}

// TestOutputErrorsNameTheOutput: an output that cannot be created is
// named as the user named it, never by its hidden temporary file.
func TestOutputErrorsNameTheOutput(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses /proc, where no file can be created")
	}
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k")
	e.write("in", []byte("data"))
	e.ok(nil, "encrypt", "-k", "k", "-o", "in.enc", "in")
	e.write("policy.json", []byte(`{"version":1,"fields":[{"name":"b","op":"hash"}]}`))
	e.write("in.csv", []byte("a,b\n1,2\n"))
	e.ok(nil, "tokenize", "keygen", "-k", "k", "-o", "tok.keyset")
	for _, c := range []struct {
		want string
		args []string
	}{
		{"creating /proc/mlseal-x", []string{"encrypt", "-k", "k", "-o", "/proc/mlseal-x", "in"}},
		{"creating /proc/mlseal-y", []string{"decrypt", "-k", "k", "-o", "/proc/mlseal-y", "in.enc"}},
		{"writing /proc/mlseal.key", []string{"keygen", "-o", "/proc/mlseal.key"}},
		{"creating /proc/mlseal-rej", []string{"tokenize", "--policy", "policy.json", "--keyset", "tok.keyset", "-k", "k", "-o", "out.csv", "--rejects", "/proc/mlseal-rej", "in.csv"}},
	} {
		r := e.fail(1, nil, c.args...)
		if !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, ".tmp-") {
			t.Errorf("mlseal %s:\n%swant %q and no temporary file", strings.Join(c.args, " "), r.stderr, c.want)
		}
	}
}

// TestFrameLengthFlag: --frame-length outside 1..64 MiB is a usage error.
func TestFrameLengthFlag(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "k")
	e.write("in", []byte("data"))
	for _, v := range []string{"0", "-1", "67108865", "99999999999"} {
		r := e.fail(2, nil, "encrypt", "-k", "k", "-o", "out", "--frame-length", v, "in")
		if !strings.Contains(r.stderr, "--frame-length "+v) {
			t.Errorf("--frame-length %s:\n%s", v, r.stderr)
		}
	}
	if e.exists("out") {
		t.Error("output written with a bad --frame-length")
	}
	e.ok(nil, "encrypt", "-k", "k", "-o", "out", "--frame-length", "67108864", "in")
}

// TestTokenizeAllRejected: with --rejects, a run that rejects every
// record says so and exits 4; the rejects are kept.
func TestTokenizeAllRejected(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "team.key")
	e.ok(nil, "tokenize", "keygen", "-k", "team.key", "-o", "tok.keyset")
	e.write("policy.json", []byte(`{"version":1,"fields":[{"name":"ssn","op":"fpe","alphabet":"digits","separators":"-"}]}`))
	e.write("bad.csv", []byte("id,ssn\n1,12-345-678X\n2,xx-yy\n"))
	args := []string{"tokenize", "--policy", "policy.json", "--keyset", "tok.keyset", "-k", "team.key", "-o", "out.csv", "--rejects", "rej.csv"}
	r := e.fail(4, nil, append(args, "bad.csv")...)
	if !strings.Contains(r.stderr, "every record of bad.csv was rejected (2 of 2), written to rej.csv") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if got := string(e.read("rej.csv")); got != "id,ssn\n1,12-345-678X\n2,xx-yy\n" {
		t.Errorf("rejects: %q", got)
	}
	// Some records kept: exit 0, as before.
	e.write("some.csv", []byte("id,ssn\n1,12-345-678X\n2,123-45-6789\n"))
	r = e.ok(nil, append(args, "--force", "some.csv")...)
	if !strings.Contains(r.stderr, "1 of 2 records rejected") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

// TestNamedOutput: errors about temporary files name the output instead,
// whatever the operation.
func TestNamedOutput(t *testing.T) {
	errNoSpace := errors.New("no space left on device")
	for _, c := range []struct {
		err  error
		want string
	}{
		{&fs.PathError{Op: "openat", Path: ".x.tmp-0a1b2c3d4e5f", Err: fs.ErrNotExist}, "creating dir/x: file does not exist"},
		{&fs.PathError{Op: "write", Path: "dir/.x.tmp-0a1b2c3d4e5f", Err: errNoSpace}, "writing dir/x: no space left on device"},
		{fmt.Errorf("keyfile: writing dir/x: %w", &fs.PathError{Op: "open", Path: "dir/.x.tmp-123456", Err: fs.ErrPermission}), "keyfile: writing dir/x: permission denied"},
		{&os.LinkError{Op: "rename", Old: "dir/.x.tmp-0a1b2c3d4e5f", New: "dir/x", Err: errNoSpace}, "writing dir/x: no space left on device"},
		{&fs.PathError{Op: "open", Path: "dir/x", Err: fs.ErrNotExist}, "open dir/x: file does not exist"},
	} {
		got := namedOutput(c.err, "dir/x")
		if got.Error() != c.want || !errors.Is(got, c.err) {
			t.Errorf("namedOutput(%q) = %q, want %q with its chain", c.err, got, c.want)
		}
	}
}
