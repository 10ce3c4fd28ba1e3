package siv

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestCipherFormatRedactsKeys checks that printing a Cipher with any verb
// shows none of its key schedule or subkeys.
func TestCipherFormatRedactsKeys(t *testing.T) {
	c, err := New(bytes.Repeat([]byte{0xab}, 64))
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		out := fmt.Sprintf(verb, c)
		if out != "siv.Cipher{[redacted]}" || strings.Contains(out, "0x") {
			t.Errorf("%s prints %s", verb, out)
		}
	}
}
