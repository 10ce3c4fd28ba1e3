package envelope

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"testing"
)

// TestMaterialsFormatRedactsKeys checks that no fmt verb prints a
// materials' data key or signing key: materials travel through caches and
// keyrings, where a %v in a log or error line would leak them.
func TestMaterialsFormatRedactsKeys(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	sk, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enc := EncryptionMaterials{Suite: AES256GCMHKDFSHA512CommitKeyECDSAP384, Context: map[string]string{"a": "b"}, DataKey: key, SigningKey: sk}
	dec := DecryptionMaterials{Suite: enc.Suite, DataKey: key, VerificationKey: &sk.PublicKey}
	skBytes, err := sk.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	secretD := hex.EncodeToString(skBytes)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		for _, m := range []any{enc, &enc, dec, &dec} {
			out := fmt.Sprintf(verb, m)
			if strings.Contains(out, "abab") || strings.Contains(out, "171 171") || strings.Contains(out, "\\xab") || strings.Contains(out, secretD) || strings.Contains(out, new(big.Int).SetBytes(skBytes).String()) {
				t.Errorf("%s of %T prints key material: %s", verb, m, out)
			}
			if !strings.Contains(out, "redacted") {
				t.Errorf("%s of %T does not say the key is redacted: %s", verb, m, out)
			}
		}
	}
}
