package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mlseal/mlseal/tokenize"
)

// TestTokenizeHintFormats checks that hints name --rejects only for the
// formats that have it.
func TestTokenizeHintFormats(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("x: %w", tokenize.ErrValue),
		fmt.Errorf("x: %w", tokenize.ErrMalformed),
	} {
		if h := tokenizeHint(err, false, true, true); strings.Contains(h, "--rejects") {
			t.Errorf("Parquet, %v: hint %q names --rejects", err, h)
		}
		if h := tokenizeHint(err, false, false, true); !strings.Contains(h, "--rejects") {
			t.Errorf("CSV, %v: hint %q does not name --rejects", err, h)
		}
	}
}

// TestTokenizePassedSummary checks that the run's summary counts, per
// field, the values on_invalid: pass left in the clear.
func TestTokenizePassedSummary(t *testing.T) {
	e := newEnv(t)
	e.write("p.json", []byte(`{"version":1,"fields":[{"name":"ssn","op":"fpe","alphabet":"digits","separators":"-","on_invalid":"pass"}]}`))
	e.write("in.csv", []byte("id,ssn\n1,123-45-6789\n2,n/a\n3,unknown\n"))
	e.ok(nil, "keygen", "-o", "team.key")
	e.ok(nil, "tokenize", "keygen", "-k", "team.key", "-o", "tok.keyset")
	r := e.ok(nil, "tokenize", "--policy", "p.json", "--keyset", "tok.keyset", "-k", "team.key", "-o", "tok.csv", "in.csv")
	if !strings.Contains(r.stderr, `2 values of field "ssn" left as they were`) {
		t.Errorf("stderr does not count the passed values:\n%s", r.stderr)
	}
}
