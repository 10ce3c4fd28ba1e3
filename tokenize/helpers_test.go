package tokenize

import (
	"sync"
	"testing"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyfile"
)

func testKeyring(t testing.TB) envelope.Keyring {
	t.Helper()
	f, err := keyfile.Generate(keyfile.GenerateOptions{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := f.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

var (
	sharedKeysetOnce sync.Once
	sharedKeyset     *Keyset
)

// testKeyset returns one keyset shared by the tests that need any.
func testKeyset(t testing.TB) *Keyset {
	t.Helper()
	sharedKeysetOnce.Do(func() {
		ks, err := NewKeyset()
		if err != nil {
			t.Fatal(err)
		}
		sharedKeyset = ks
	})
	return sharedKeyset
}

func ptr[T any](v T) *T { return &v }

// customersPolicy is the policy of the documented example.
func customersPolicy(t testing.TB) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(customersPolicyJSON))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const customersPolicyJSON = `{
  "version": 1,
  "fields": [
    {"name": "name", "op": "deterministic", "domain": "person-name"},
    {"name": "email", "op": "deterministic", "domain": "email"},
    {"name": "phone", "op": "hash", "length": 16},
    {"name": "ssn", "op": "fpe", "alphabet": "digits", "separators": "-"},
    {"name": "card_number", "op": "fpe", "alphabet": "digits", "separators": " -", "keep_last": 4},
    {"name": "birth_date", "op": "date-shift", "entity": "customer_id", "window_days": 90},
    {"name": "notes", "op": "scan"}
  ]
}`
