package main

import (
	"os"
	"strings"
	"testing"
)

// A rerun with a manifest resumes only the job it records: other keys or
// another encryption context are refused, with what differs, instead of
// skipping outputs that stay under the old settings.
func TestResumeRefusesOtherSettings(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "team.key")
	if err := os.Mkdir(e.path("in"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		e.write("in/"+n, []byte(n))
	}
	e.ok(nil, "encrypt", "-c", "k=v", "--manifest", "mt.jsonl", "-o", "out/", "in/")
	old := e.read("out/a.enc")
	r := e.ok(nil, "encrypt", "-c", "k=v", "--manifest", "mt.jsonl", "-o", "out/", "in/")
	if !strings.Contains(r.stderr, "skipped 3") {
		t.Errorf("the same rerun did not skip:\n%s", r.stderr)
	}

	r = e.fail(1, nil, "encrypt", "-k", "team.key", "-c", "k=v", "--manifest", "mt.jsonl", "-o", "out/", "in/")
	for _, want := range []string{"mt.jsonl", "keys:", "team", "--force", "new manifest"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("refusal of other keys does not say %q:\n%s", want, r.stderr)
		}
	}
	r = e.fail(1, nil, "encrypt", "-c", "k=w", "--manifest", "mt.jsonl", "-o", "out/", "in/")
	if !strings.Contains(r.stderr, "context") || strings.Contains(r.stderr, "keys:") {
		t.Errorf("refusal of another context does not say just that:\n%s", r.stderr)
	}
	if string(e.read("out/a.enc")) != string(old) {
		t.Error("a refused rerun changed an output")
	}
	if b, _ := os.ReadFile(e.path("mt.jsonl")); strings.Contains(string(b), `"v"`) {
		t.Errorf("the manifest holds a context value:\n%s", b)
	}

	// --force redoes the items under the new settings, and the manifest
	// then resumes that job.
	e.ok(nil, "encrypt", "-k", "team.key", "-c", "k=v", "--force", "--manifest", "mt.jsonl", "-o", "out/", "in/")
	e.ok(nil, "decrypt", "-k", "team.key", "-c", "k=v", "-o", "a.dec", "out/a.enc")
	r = e.ok(nil, "encrypt", "-k", "team.key", "-c", "k=v", "--manifest", "mt.jsonl", "-o", "out/", "in/")
	if !strings.Contains(r.stderr, "skipped 3") {
		t.Errorf("a rerun after --force did not skip:\n%s", r.stderr)
	}
}

// A manifest written before it recorded the job's settings still resumes.
func TestResumeOldManifest(t *testing.T) {
	e := newEnv(t)
	if err := os.Mkdir(e.path("in"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.write("in/a", []byte("a"))
	e.ok(nil, "encrypt", "--manifest", "mt.jsonl", "-o", "out/", "in/")
	var old []string
	for _, l := range strings.Split(string(e.read("mt.jsonl")), "\n") {
		if strings.Contains(l, `"status"`) {
			old = append(old, l)
		}
	}
	e.write("mt.jsonl", []byte(strings.Join(old, "\n")+"\n"))
	r := e.ok(nil, "encrypt", "--manifest", "mt.jsonl", "-o", "out/", "in/")
	if !strings.Contains(r.stderr, "skipped 1") {
		t.Errorf("an old manifest did not resume:\n%s", r.stderr)
	}
}

// A tokenize rerun under another policy is refused too: its outputs would
// mix the two policies' tokens.
func TestResumeRefusesOtherPolicy(t *testing.T) {
	e := newEnv(t)
	e.write("p1.json", []byte(`{"version":1,"fields":[{"name":"ssn","op":"fpe","alphabet":"digits","separators":"-"}]}`))
	e.write("p2.json", []byte(`{"version":1,"fields":[{"name":"ssn","op":"fpe","alphabet":"digits","separators":"-","on_invalid":"pass"}]}`))
	if err := os.Mkdir(e.path("in"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.write("in/a.csv", []byte("id,ssn\n1,123-45-6789\n"))
	e.write("in/b.csv", []byte("id,ssn\n2,987-65-4321\n"))
	e.ok(nil, "keygen", "-o", "team.key")
	e.ok(nil, "tokenize", "keygen", "-k", "team.key", "-o", "tok.keyset")
	args := []string{"tokenize", "--keyset", "tok.keyset", "-k", "team.key", "--manifest", "m.jsonl", "-o", "tok/", "in/", "--policy"}
	e.ok(nil, append(args, "p1.json")...)
	r := e.fail(1, nil, append(args, "p2.json")...)
	if !strings.Contains(r.stderr, "policy") {
		t.Errorf("refusal of another policy does not say so:\n%s", r.stderr)
	}
	r = e.ok(nil, append(args, "p1.json")...)
	if !strings.Contains(r.stderr, "skipped 2") {
		t.Errorf("rerun:\n%s", r.stderr)
	}
}

// A rewrap rerun to other new keys is refused too.
func TestResumeRefusesOtherRewrapKeys(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"old.key", "new1.key", "new2.key"} {
		e.ok(nil, "keygen", "-o", k)
	}
	if err := os.Mkdir(e.path("in"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.write("in/a", []byte("a"))
	e.write("in/b", []byte("b"))
	e.ok(nil, "encrypt", "-k", "old.key", "-o", "enc/", "in/")
	args := []string{"rewrap", "--old-key", "old.key", "--manifest", "m.jsonl", "-o", "re/", "enc/", "-k"}
	e.ok(nil, append(args, "new1.key")...)
	r := e.fail(1, nil, append(args, "new2.key")...)
	if !strings.Contains(r.stderr, "new2") {
		t.Errorf("refusal of other new keys does not name them:\n%s", r.stderr)
	}
}
