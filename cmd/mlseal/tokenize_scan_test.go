package main

import (
	"bytes"
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
