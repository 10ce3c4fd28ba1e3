package interop_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"sync"
	"testing"
)

// A wrapKey is one raw wrapping key as every implementation under test
// sees it: the same namespace (provider id), name and key material.
type wrapKey struct {
	Kind      string // "aes" or "rsa"
	Namespace string
	Name      string
	AES       []byte          // Kind "aes": 16, 24 or 32 bytes
	RSA       *rsa.PrivateKey // Kind "rsa"
	// Padding is the RSA padding: "oaep-sha1", "oaep-sha256",
	// "oaep-sha384", "oaep-sha512" or "pkcs1".
	Padding string
}

func (k wrapKey) String() string {
	if k.Kind == "aes" {
		return fmt.Sprintf("aes%d", 8*len(k.AES))
	}
	return fmt.Sprintf("rsa%d-%s", k.RSA.N.BitLen(), k.Padding)
}

func (k wrapKey) publicPEM() string {
	der, err := x509.MarshalPKIXPublicKey(&k.RSA.PublicKey)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func (k wrapKey) privatePEM() string {
	der, err := x509.MarshalPKCS8PrivateKey(k.RSA)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// withPadding returns k with another RSA padding and a key name that
// says which, as an application that uses one RSA key pair with several
// paddings would have to name them.
func (k wrapKey) withPadding(p string) wrapKey {
	k.Padding = p
	k.Name = "rsa-" + p
	return k
}

// testKeys are the wrapping keys every test shares.
type testKeys struct {
	aes128, aes192, aes256, aes256Other wrapKey
	rsa2048, rsa2048Other               wrapKey
	rsa4096                             wrapKey
}

var (
	keysOnce sync.Once
	keySet   testKeys
)

const namespace = "mlseal-interop"

// keys returns the test's wrapping keys, made once per process: RSA key
// generation is slow, so the whole matrix shares two 2048-bit key pairs
// and one 4096-bit pair.
func keys(t testing.TB) *testKeys {
	t.Helper()
	keysOnce.Do(func() {
		aesKey := func(name string, n int) wrapKey {
			b := make([]byte, n)
			rand.Read(b)
			return wrapKey{Kind: "aes", Namespace: namespace, Name: name, AES: b}
		}
		rsaKey := func(bits int) wrapKey {
			k, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				panic(err)
			}
			return wrapKey{Kind: "rsa", Namespace: namespace, RSA: k}.withPadding("oaep-sha256")
		}
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); keySet.rsa2048 = rsaKey(2048) }()
		go func() { defer wg.Done(); keySet.rsa2048Other = rsaKey(2048) }()
		go func() { defer wg.Done(); keySet.rsa4096 = rsaKey(4096) }()
		keySet.aes128 = aesKey("aes-128", 16)
		keySet.aes192 = aesKey("aes-192", 24)
		keySet.aes256 = aesKey("aes-256", 32)
		keySet.aes256Other = aesKey("aes-256", 32) // same name, other key
		wg.Wait()
	})
	return &keySet
}
