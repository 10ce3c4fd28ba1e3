package envelope_test

import (
	"testing"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
)

func multiOf(t testing.TB, krs ...envelope.Keyring) envelope.Keyring {
	t.Helper()
	m, err := multi.New(krs[0], krs[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
