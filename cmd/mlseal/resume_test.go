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
