package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/mlseal/mlseal/tokenize"
)

// TestScanCLIBOM: a CSV file that starts with a byte order mark and quotes
// its header gets a starter policy with the columns' names as they are,
// which tokenize then accepts.
func TestScanCLIBOM(t *testing.T) {
	e := newEnv(t)
	e.write("customers.csv", []byte("\ufeff\"customer_id\",\"email\",\"phone\"\r\n"+
		"C-1,ada@example.com,(415) 555-0134\r\nC-2,alan@example.org,+1 212-555-0199\r\n"))
	e.ok(nil, "scan", "--write-policy", "starter.json", "customers.csv")
	b := e.read("starter.json")
	if bytes.Contains(b, []byte("\ufeff")) || bytes.Contains(b, []byte(`\ufeff`)) {
		t.Errorf("the starter policy names a field with the byte order mark:\n%s", b)
	}
	p, err := tokenize.ParsePolicy(b)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range p.Fields {
		names = append(names, f.Name)
		if f.OnInvalid == "pass" {
			t.Errorf("field %s: on_invalid pass", f.Name)
		}
	}
	if strings.Join(names, ",") != "email,phone" {
		t.Errorf("starter policy fields %q, want email and phone", names)
	}
	e.ok(nil, "keygen", "-o", "team.key")
	e.ok(nil, "tokenize", "keygen", "-k", "team.key", "-o", "tok.keyset")
	e.ok(nil, "tokenize", "--policy", "starter.json", "--keyset", "tok.keyset", "-k", "team.key", "-o", "tok.csv", "customers.csv")
	if out := e.read("tok.csv"); bytes.Contains(out, []byte("ada@example.com")) || bytes.Contains(out, []byte("555-0134")) {
		t.Errorf("the starter policy left PII:\n%s", out)
	}
}

// TestScanCLIDirectory: scan takes one file; given a directory, with or
// without --format, it says so before reading anything and names a file of
// the directory to try.
func TestScanCLIDirectory(t *testing.T) {
	e := newEnv(t)
	for _, d := range []string{"csvs", "empty"} {
		if err := os.Mkdir(e.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.write("csvs/README", []byte("not data\n"))
	e.write("csvs/b.csv", []byte("email\nada@example.com\n"))
	e.write("csvs/a.CSV", []byte("email\nalan@example.org\n"))
	for _, args := range [][]string{{"scan", "csvs"}, {"scan", "--format", "csv", "csvs/"}} {
		r := e.fail(2, nil, args...)
		if !strings.Contains(r.stderr, "scan reads one file, and csvs") || !strings.Contains(r.stderr, "try: mlseal scan csvs/a.CSV") {
			t.Errorf("%q:\n%s", args, r.stderr)
		}
	}
	if r := e.fail(2, nil, "scan", "empty"); !strings.Contains(r.stderr, "name one of its CSV, JSON Lines or Parquet files") {
		t.Errorf("empty directory:\n%s", r.stderr)
	}
}
