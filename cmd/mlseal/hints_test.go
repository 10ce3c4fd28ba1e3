package main

import (
	"os"
	"strings"
	"testing"
)

// A bad value in a directory tokenize does not hint at a flag that the
// directory cannot take: --rejects takes one input.
func TestTokenizeDirectoryRejectsHint(t *testing.T) {
	e := newEnv(t)
	e.write("p.json", []byte(`{"version":1,"fields":[{"name":"ssn","op":"fpe","alphabet":"digits","separators":"-"}]}`))
	if err := os.Mkdir(e.path("in"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.write("in/a.csv", []byte("id,ssn\n1,123-45-6789\n2,n/a\n"))
	e.write("in/b.csv", []byte("id,ssn\n1,123-45-6789\n"))
	e.ok(nil, "keygen", "-o", "team.key")
	e.ok(nil, "tokenize", "keygen", "-k", "team.key", "-o", "tok.keyset")
	r := e.fail(4, nil, "tokenize", "--policy", "p.json", "--keyset", "tok.keyset", "-k", "team.key", "-o", "tok/", "in/")
	if strings.Contains(r.stderr, "pass --rejects FILE") || !strings.Contains(r.stderr, "alone with --rejects") {
		t.Errorf("hint for a directory:\n%s", r.stderr)
	}
	r = e.fail(1, nil, "tokenize", "--policy", "p.json", "--keyset", "tok.keyset", "-k", "team.key", "-o", "a.csv", "in/a.csv")
	if !strings.Contains(r.stderr, "pass --rejects FILE") {
		t.Errorf("hint for one file:\n%s", r.stderr)
	}
}

// A missing key file hints at keygen only where a new key can help: on
// encrypt, not where a key must open what exists.
func TestMissingKeyHint(t *testing.T) {
	e := newEnv(t)
	e.sealed()
	for _, args := range [][]string{
		{"decrypt", "-k", "nonexist.key", "-o", "out", "msg.mlseal"},
		{"verify", "-k", "nonexist.key", "msg.mlseal"},
		{"rewrap", "--old-key", "nonexist.key", "-k", "k.key", "-o", "re.mlseal", "msg.mlseal"},
	} {
		r := e.run(nil, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "nonexist.key") || strings.Contains(r.stderr, "keygen") {
			t.Errorf("mlseal %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	r := e.fail(1, []byte("x"), "encrypt", "-k", "nonexist.key", "-o", "x.enc")
	if !strings.Contains(r.stderr, "mlseal keygen -o nonexist.key") {
		t.Errorf("encrypt with a missing key:\n%s", r.stderr)
	}
}
