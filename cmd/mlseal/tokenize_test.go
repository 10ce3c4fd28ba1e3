package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

const tokCSV = `customer_id,name,email,ssn,birth_date,notes
C-1,Ada Lovelace,ada@example.com,524-71-3352,1990-03-01,"mail ada@example.com"
C-2,"Turing, Alan",alan@example.org,301-22-9871,1985-12-24,"line one
line two"
`

const tokPolicy = `{
  "version": 1,
  "fields": [
    {"name": "name", "op": "deterministic"},
    {"name": "email", "op": "deterministic", "domain": "email"},
    {"name": "ssn", "op": "fpe", "alphabet": "digits", "separators": "-"},
    {"name": "birth_date", "op": "date-shift", "entity": "customer_id"},
    {"name": "notes", "op": "scan"}
  ]
}`

func TestTokenizeCLI(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "team.key")
	r := e.ok(nil, "tokenize", "keygen", "--key", "team.key", "-o", "tok.keyset")
	if !strings.Contains(r.stderr, "PRF keys:") {
		t.Errorf("keygen says:\n%s", r.stderr)
	}
	if m := e.mode("tok.keyset"); m != 0o600 {
		t.Errorf("keyset mode %o", m)
	}
	e.write("policy.json", []byte(tokPolicy))
	e.write("customers.csv", []byte(tokCSV))
	e.ok(nil, "tokenize", "--policy", "policy.json", "--keyset", "tok.keyset", "--key", "team.key", "-o", "tok.csv", "customers.csv")
	out := string(e.read("tok.csv"))
	for _, leak := range []string{"Ada", "ada@example.com", "524-71-3352", "1990-03-01"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q in the tokenized output:\n%s", leak, out)
		}
	}
	if _, err := csv.NewReader(strings.NewReader(out)).ReadAll(); err != nil {
		t.Errorf("output is not CSV: %v", err)
	}
	// Stdin to stdout, with the format given: the same tokens.
	r = e.ok([]byte(tokCSV), "tokenize", "--format", "csv", "--policy", "policy.json", "--keyset", "tok.keyset", "-k", "team.key")
	if string(r.stdout) != out {
		t.Errorf("stdin run differs from the file run")
	}
	e.ok(nil, "detokenize", "--policy", "policy.json", "--keyset", "tok.keyset", "--key", "team.key", "-o", "back.csv", "tok.csv")
	back := string(e.read("back.csv"))
	for _, want := range []string{"Ada Lovelace", `"Turing, Alan"`, "ada@example.com", "524-71-3352", "mail ada@example.com"} {
		if !strings.Contains(back, want) {
			t.Errorf("%q not restored:\n%s", want, back)
		}
	}
	if strings.Contains(back, "1990-03-01") {
		t.Error("date-shift is one-way but came back")
	}

	// Rotation: the old deterministic tokens still detokenize; fpe needs
	// the PRF key pinned.
	e.ok(nil, "tokenize", "rotate", "--keyset", "tok.keyset", "--key", "team.key", "-o", "tok2.keyset")
	r = e.fail(1, nil, "detokenize", "--policy", "policy.json", "--keyset", "tok2.keyset", "--key", "team.key", "-o", "back2.csv", "tok.csv")
	if !strings.Contains(r.stderr, "prf_key_id") || e.exists("back2.csv") {
		t.Errorf("unpinned fpe after rotation:\n%s", r.stderr)
	}
	// Tokenizing with it would make FF1 tokens of an unrecorded key.
	r = e.fail(1, nil, "tokenize", "--policy", "policy.json", "--keyset", "tok2.keyset", "--key", "team.key", "-o", "tok2.csv", "customers.csv")
	if !strings.Contains(r.stderr, "set prf_key_id in the policy") || e.exists("tok2.csv") {
		t.Errorf("unpinned fpe after rotation, tokenizing:\n%s", r.stderr)
	}
	e.noTempFiles(".")
}

func TestTokenizeCLIErrors(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "team.key")
	e.ok(nil, "keygen", "-o", "other.key")
	e.ok(nil, "tokenize", "keygen", "-k", "team.key", "-o", "tok.keyset")
	e.write("policy.json", []byte(tokPolicy))
	e.write("bad.csv", []byte(tokCSV+"C-3,x,y,12-345-678X,,\n"))
	e.write("customers.csv", []byte(tokCSV))

	r := e.fail(1, nil, "tokenize", "--policy", "policy.json", "--keyset", "tok.keyset", "-k", "team.key", "-o", "out.csv", "bad.csv")
	if !strings.Contains(r.stderr, `bad.csv: record 3 (line 5), field "ssn"`) || !strings.Contains(r.stderr, "mlseal: hint: ") {
		t.Errorf("bad record:\n%s", r.stderr)
	}
	if e.exists("out.csv") {
		t.Error("output left behind after a failure")
	}
	r = e.ok(nil, "tokenize", "--policy", "policy.json", "--keyset", "tok.keyset", "-k", "team.key", "-o", "out.csv", "--rejects", "rej.csv", "bad.csv")
	if !strings.Contains(r.stderr, "1 of 3 records rejected") || !strings.HasSuffix(string(e.read("rej.csv")), "C-3,x,y,12-345-678X,,\n") {
		t.Errorf("rejects:\n%s\n%s", r.stderr, e.read("rej.csv"))
	}
	// Wrong envelope key for the keyset.
	r = e.fail(1, nil, "tokenize", "--policy", "policy.json", "--keyset", "tok.keyset", "-k", "other.key", "-o", "o2.csv", "customers.csv")
	if !strings.Contains(r.stderr, "the keyset was created with") {
		t.Errorf("wrong key:\n%s", r.stderr)
	}
	// Usage errors.
	e.fail(2, nil, "tokenize", "--keyset", "tok.keyset", "customers.csv")
	e.fail(2, nil, "tokenize", "--policy", "policy.json", "--keyset", "tok.keyset", "-k", "team.key", "data.txt")
	e.write("p2.json", []byte(`{"version":1,"fields":[{"name":"nope","op":"hash"}]}`))
	r = e.fail(1, nil, "tokenize", "--policy", "p2.json", "--keyset", "tok.keyset", "-k", "team.key", "customers.csv")
	if !strings.Contains(r.stderr, `"nope"`) {
		t.Errorf("missing column:\n%s", r.stderr)
	}
	e.fail(1, nil, "tokenize", "keygen", "-k", "team.key", "-o", "tok.keyset")
	e.noTempFiles(".")
}

func TestScanCLI(t *testing.T) {
	e := newEnv(t)
	e.write("customers.csv", []byte(tokCSV))
	r := e.ok(nil, "scan", "--write-policy", "starter.json", "customers.csv")
	for _, want := range []string{"email", "EMAIL_ADDRESS", "US_SSN", "DATE_OF_BIRTH"} {
		if !strings.Contains(string(r.stdout), want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	// The starter policy works with a keyset.
	e.ok(nil, "keygen", "-o", "team.key")
	e.ok(nil, "tokenize", "keygen", "-k", "team.key", "-o", "tok.keyset")
	e.ok(nil, "tokenize", "--policy", "starter.json", "--keyset", "tok.keyset", "-k", "team.key", "-o", "tok.csv", "customers.csv")
	if strings.Contains(string(e.read("tok.csv")), "524-71-3352") {
		t.Error("the starter policy left an SSN")
	}
	r = e.ok([]byte(`{"a":"x@example.com"}`+"\n"), "scan", "--json", "--format", "jsonl")
	if !strings.Contains(string(r.stdout), `"type": "EMAIL_ADDRESS"`) {
		t.Errorf("json report:\n%s", r.stdout)
	}
	e.fail(1, nil, "scan", "--write-policy", "starter.json", "customers.csv")
}

func TestTokenizeParquetCLI(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "team.key")
	e.ok(nil, "tokenize", "keygen", "-k", "team.key", "-o", "tok.keyset")
	e.write("policy.json", []byte(`{"version":1,"fields":[{"name":"email","op":"deterministic"}]}`))
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[struct {
		ID    int64  `parquet:"id"`
		Email string `parquet:"email"`
	}](&buf)
	w.Write([]struct {
		ID    int64  `parquet:"id"`
		Email string `parquet:"email"`
	}{{1, "ada@example.com"}, {2, "alan@example.org"}})
	w.Close()
	e.write("in.parquet", buf.Bytes())
	e.ok(nil, "tokenize", "--policy", "policy.json", "--keyset", "tok.keyset", "-k", "team.key", "-o", "tok.parquet", "in.parquet")
	if bytes.Contains(e.read("tok.parquet"), []byte("ada@example.com")) {
		t.Error("email left in the Parquet output")
	}
	// From stdin (spooled), back to the input.
	r := e.ok(e.read("tok.parquet"), "detokenize", "--format", "parquet", "--policy", "policy.json", "--keyset", "tok.keyset", "-k", "team.key")
	if !bytes.Contains(r.stdout, []byte("ada@example.com")) || !bytes.Contains(r.stdout, []byte("alan@example.org")) {
		t.Error("detokenized Parquet lacks the emails")
	}
}

func TestScanParquetCLI(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	type row struct {
		Email string `parquet:"email"`
	}
	w := parquet.NewGenericWriter[row](&buf)
	w.Write([]row{{"ada@example.com"}, {"alan@example.org"}})
	w.Close()
	e.write("in.parquet", buf.Bytes())
	r := e.ok(nil, "scan", "in.parquet")
	if !strings.Contains(string(r.stdout), "EMAIL_ADDRESS") {
		t.Errorf("report:\n%s", r.stdout)
	}
	e.write("bad.parquet", []byte("not parquet"))
	e.fail(1, nil, "scan", "bad.parquet")
}

// TestKeygenTokenKeyset: 'mlseal keygen --kind token-keyset' makes the same
// keyset as 'mlseal tokenize keygen', usable by tokenize and detokenize.
func TestKeygenTokenKeyset(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "team.key")
	e.ok(nil, "keygen", "--kind", "token-keyset", "--key", "team.key", "-o", "tok.keyset")
	if m := e.mode("tok.keyset"); m != 0o600 {
		t.Errorf("keyset mode %o", m)
	}
	e.fail(1, nil, "keygen", "--kind", "token-keyset", "--key", "team.key", "-o", "tok.keyset")
	e.write("policy.json", []byte(tokPolicy))
	e.write("customers.csv", []byte(tokCSV))
	e.ok(nil, "tokenize", "--policy", "policy.json", "--keyset", "tok.keyset", "-k", "team.key", "-o", "tok.csv", "customers.csv")
	e.ok(nil, "detokenize", "--policy", "policy.json", "--keyset", "tok.keyset", "-k", "team.key", "-o", "back.csv", "tok.csv")
	if !strings.Contains(string(e.read("back.csv")), "ada@example.com") {
		t.Errorf("detokenized output lacks the original email:\n%s", e.read("back.csv"))
	}
}

// TestTokenizeDirectory tokenizes a directory of CSV and JSON Lines files
// into another (formats from the names, --jobs at a time, a manifest), and
// detokenizes it back.
func TestTokenizeDirectory(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "keygen", "-o", "team.key")
	e.ok(nil, "tokenize", "keygen", "--key", "team.key", "-o", "tok.keyset")
	e.write("policy.json", []byte(tokPolicy))
	if err := os.MkdirAll(e.path("in/sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.write("in/a.csv", []byte(tokCSV))
	e.write("in/sub/b.csv", []byte(tokCSV))
	e.write("in/c.jsonl", []byte(`{"name":"Ada Lovelace","email":"ada@example.com"}`+"\n"))
	flags := []string{"--policy", "policy.json", "--keyset", "tok.keyset", "--key", "team.key"}
	r := e.ok(nil, append([]string{"tokenize", "--manifest", "tok.jsonl", "-o", "tok", "in"}, flags...)...)
	if !strings.Contains(r.stderr, "tokenized 3, skipped 0, failed 0 of 3 inputs") {
		t.Errorf("tokenize:\n%s", r.stderr)
	}
	for _, name := range []string{"tok/a.csv", "tok/sub/b.csv", "tok/c.jsonl"} {
		if out := string(e.read(name)); strings.Contains(out, "Ada") || strings.Contains(out, "ada@example.com") {
			t.Errorf("%s not tokenized:\n%s", name, out)
		}
	}
	// A rerun with the manifest has nothing to do.
	r = e.ok(nil, append([]string{"tokenize", "--manifest", "tok.jsonl", "-o", "tok", "in"}, flags...)...)
	if !strings.Contains(r.stderr, "tokenized 0, skipped 3") {
		t.Errorf("rerun:\n%s", r.stderr)
	}
	e.ok(nil, append([]string{"detokenize", "-o", "back", "tok"}, flags...)...)
	if back := string(e.read("back/sub/b.csv")); !strings.Contains(back, "Ada Lovelace") || !strings.Contains(back, "524-71-3352") {
		t.Errorf("not detokenized:\n%s", back)
	}
	// --rejects takes a single input.
	e.fail(2, nil, append([]string{"tokenize", "--rejects", "rej", "-o", "x", "in"}, flags...)...)
}
