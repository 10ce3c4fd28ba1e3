package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestKeyHintsFitTheCause checks that a directory given as a key is not
// told to chmod 600, and that an unknown keygen kind lists every kind.
func TestKeyHintsFitTheCause(t *testing.T) {
	e := newEnv(t)
	e.write("data.bin", []byte("x"))
	r := e.fail(exitError, nil, "encrypt", "-k", "/tmp", "-o", "out.enc", "data.bin")
	if strings.Contains(r.stderr, "chmod") || !strings.Contains(r.stderr, "is a directory") || !strings.Contains(r.stderr, "mlseal keygen -o") {
		t.Errorf("-k /tmp:\n%s", r.stderr)
	}
	r = e.fail(exitUsage, nil, "keygen", "--kind", "nope", "-o", "k.key")
	for _, kind := range []string{"raw-aes", "raw-rsa", "token-keyset"} {
		if !strings.Contains(r.stderr, kind) {
			t.Errorf("keygen --kind nope does not list %s:\n%s", kind, r.stderr)
		}
	}
}

// TestInspectRawAESKeyName checks that inspect shows the name of a raw AES
// key as text when it is printable UTF-8, and as hex otherwise.
func TestInspectRawAESKeyName(t *testing.T) {
	e := newEnv(t)
	e.write("p.txt", []byte("x"))
	for i, name := range []string{"team", "équipe-données"} {
		key, msg := fmt.Sprintf("k%d.key", i), fmt.Sprintf("m%d.enc", i)
		e.ok(nil, "keygen", "--name", name, "-o", key)
		e.ok(nil, "encrypt", "-k", key, "-o", msg, "p.txt")
		r := e.ok(nil, "inspect", msg)
		if !strings.Contains(string(r.stdout), "key name:      "+name+" (raw AES, IV ") {
			t.Errorf("inspect of a message for key %q:\n%s", name, r.stdout)
		}
		r = e.ok(nil, "inspect", "--json", msg)
		var h struct {
			EDKs []inspectEDK `json:"encrypted_data_keys"`
		}
		if err := json.Unmarshal(r.stdout, &h); err != nil || len(h.EDKs) != 1 || h.EDKs[0].KeyName != name || len(h.EDKs[0].IV) != 24 {
			t.Errorf("inspect --json of a message for key %q: %v\n%s", name, err, r.stdout)
		}
	}
	// Other SDKs may name keys with any bytes.
	iv := bytes.Repeat([]byte{7}, 12)
	info := append([]byte("bad\x01name\xff"), 0, 0, 0, 128, 0, 0, 0, 12)
	name, gotIV, ok := rawAESInfo(append(info, iv...))
	if !ok || textOrHex(name) != "hex:"+hex.EncodeToString([]byte("bad\x01name\xff")) || !bytes.Equal(gotIV, iv) {
		t.Errorf("rawAESInfo: %q %x %v", name, gotIV, ok)
	}
	for _, other := range [][]byte{[]byte("arn:aws:kms:us-east-1:111122223333:key/x"), append([]byte("k"), make([]byte, 20)...), make([]byte, 20)} {
		if _, _, ok := rawAESInfo(other); ok {
			t.Errorf("rawAESInfo(%q) took it for a raw AES key", other)
		}
	}
}
