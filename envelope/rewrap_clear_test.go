package envelope_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/mlseal/mlseal/envelope"
)

// TestRewrapClearsDataKey: Rewrap with a Keyring (materials made for the
// one message) leaves the data key its keyring unwrapped zeroed, as
// Decrypt does (TestDataKeyClearedOnceDerived).
func TestRewrapClearsDataKey(t *testing.T) {
	old := testKeyring(t, "old")
	msg, err := envelope.EncryptBytes(ctx, []byte("data"), envelope.EncryptOptions{Keyring: old})
	if err != nil {
		t.Fatal(err)
	}
	kr := &recordingKeyring{Keyring: old}
	opts := envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: kr}, Keyring: testKeyring(t, "new")}
	if _, err := envelope.Rewrap(ctx, io.Discard, bytes.NewReader(msg), opts); err != nil {
		t.Fatal(err)
	}
	if len(kr.keys) != 1 {
		t.Fatalf("%d data keys recorded, want 1", len(kr.keys))
	}
	if k := kr.keys[0]; len(k) != 32 || !bytes.Equal(k, make([]byte, 32)) {
		t.Error("the data key is still in memory after the rewrap")
	}
}
