package rawrsa

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mlseal/mlseal/envelope"
)

// RSA key generation is slow: the test binary makes two 2048-bit keys and
// shares them.
var (
	keyA = sync.OnceValue(func() *rsa.PrivateKey { return genKey(2048) })
	keyB = sync.OnceValue(func() *rsa.PrivateKey { return genKey(2048) })
)

func genKey(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

var oaepPaddings = []Padding{OAEPSHA1, OAEPSHA256, OAEPSHA384, OAEPSHA512}

func mustNew(t *testing.T, ns, name string, pub *rsa.PublicKey, priv *rsa.PrivateKey, p Padding) *Keyring {
	t.Helper()
	k, err := New(ns, name, pub, priv, p)
	if err != nil {
		t.Fatalf("New(%q, %q, %v): %v", ns, name, p, err)
	}
	return k
}

// wrap returns the encrypted data keys of a fresh data key wrapped by k.
func wrap(t *testing.T, k *Keyring, suite envelope.SuiteID) ([]byte, []envelope.EncryptedDataKey) {
	t.Helper()
	m := &envelope.EncryptionMaterials{Suite: suite}
	if err := k.OnEncrypt(context.Background(), m); err != nil {
		t.Fatalf("OnEncrypt: %v", err)
	}
	return m.DataKey, m.EncryptedDataKeys
}

func TestRoundTrip(t *testing.T) {
	priv := keyA()
	suites := []envelope.SuiteID{envelope.AES256GCMHKDFSHA512CommitKey, envelope.AES128GCMIV12Tag16HKDFSHA256, envelope.AES192GCMIV12Tag16NoKDF}
	for _, p := range oaepPaddings {
		for _, suite := range suites {
			t.Run(fmt.Sprintf("%v/%v", p, suite), func(t *testing.T) {
				enc := mustNew(t, "ns", "key", &priv.PublicKey, nil, p)
				dec := mustNew(t, "ns", "key", nil, priv, p)
				dk, edks := wrap(t, enc, suite)
				if len(dk) != suite.DataKeyLen() {
					t.Fatalf("generated data key is %d bytes, want %d", len(dk), suite.DataKeyLen())
				}
				if len(edks) != 1 {
					t.Fatalf("got %d encrypted data keys, want 1", len(edks))
				}
				e := edks[0]
				if e.ProviderID != "ns" || string(e.ProviderInfo) != "key" || len(e.Ciphertext) != priv.Size() {
					t.Fatalf("EDK = {%q, %q, %d bytes}, want {ns, key, %d bytes}", e.ProviderID, e.ProviderInfo, len(e.Ciphertext), priv.Size())
				}
				dm := &envelope.DecryptionMaterials{Suite: suite}
				if err := dec.OnDecrypt(context.Background(), dm, edks); err != nil {
					t.Fatalf("OnDecrypt: %v", err)
				}
				if !bytes.Equal(dm.DataKey, dk) {
					t.Fatal("unwrapped data key differs from the wrapped one")
				}
			})
		}
	}
}

func TestEncryptKeepsExistingDataKey(t *testing.T) {
	k := mustNew(t, "ns", "key", &keyA().PublicKey, keyA(), OAEPSHA256)
	dk := bytes.Repeat([]byte{7}, 32)
	prior := envelope.EncryptedDataKey{ProviderID: "other", ProviderInfo: []byte("x"), Ciphertext: []byte("y")}
	m := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, DataKey: dk, EncryptedDataKeys: []envelope.EncryptedDataKey{prior}}
	if err := k.OnEncrypt(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.DataKey, dk) || len(m.EncryptedDataKeys) != 2 || m.EncryptedDataKeys[0].ProviderID != "other" {
		t.Fatal("OnEncrypt replaced the data key or dropped an earlier encrypted data key")
	}
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}
	if err := k.OnDecrypt(context.Background(), dm, m.EncryptedDataKeys); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dm.DataKey, dk) {
		t.Fatal("unwrapped data key differs")
	}
}

func TestEncryptWrongDataKeyLength(t *testing.T) {
	k := mustNew(t, "ns", "key", &keyA().PublicKey, nil, OAEPSHA256)
	m := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, DataKey: make([]byte, 16)}
	if err := k.OnEncrypt(context.Background(), m); err == nil {
		t.Fatal("OnEncrypt accepted a 16-byte data key for a 32-byte suite")
	}
	if len(m.EncryptedDataKeys) != 0 {
		t.Fatal("failed OnEncrypt modified the materials")
	}
	m = &envelope.EncryptionMaterials{Suite: 0x9999}
	if err := k.OnEncrypt(context.Background(), m); err == nil || m.DataKey != nil {
		t.Fatalf("OnEncrypt with an unknown suite: err = %v, DataKey set = %v", err, m.DataKey != nil)
	}
}

func TestWrongKey(t *testing.T) {
	enc := mustNew(t, "ns", "key", &keyA().PublicKey, nil, OAEPSHA256)
	dec := mustNew(t, "ns", "key", nil, keyB(), OAEPSHA256)
	_, edks := wrap(t, enc, envelope.DefaultSuite)
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}
	err := dec.OnDecrypt(context.Background(), dm, edks)
	if !errors.Is(err, envelope.ErrNoDataKey) {
		t.Fatalf("OnDecrypt with the wrong key: %v, want ErrNoDataKey", err)
	}
	if dm.DataKey != nil {
		t.Fatal("failed OnDecrypt set a data key")
	}
	for _, want := range []string{"ns/key", "1 encrypted data key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestWrongPadding(t *testing.T) {
	enc := mustNew(t, "ns", "key", &keyA().PublicKey, nil, OAEPSHA256)
	dec := mustNew(t, "ns", "key", nil, keyA(), OAEPSHA1)
	_, edks := wrap(t, enc, envelope.DefaultSuite)
	err := dec.OnDecrypt(context.Background(), &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}, edks)
	if !errors.Is(err, envelope.ErrNoDataKey) {
		t.Fatalf("OnDecrypt with the wrong padding: %v, want ErrNoDataKey", err)
	}
}

func TestWrongUnwrappedLength(t *testing.T) {
	k := mustNew(t, "ns", "key", &keyA().PublicKey, keyA(), OAEPSHA256)
	_, edks := wrap(t, k, envelope.AES128GCMIV12Tag16HKDFSHA256) // 16-byte key
	err := k.OnDecrypt(context.Background(), &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}, edks)
	if !errors.Is(err, envelope.ErrNoDataKey) {
		t.Fatalf("OnDecrypt of a 16-byte key for a 32-byte suite: %v, want ErrNoDataKey", err)
	}
}

func TestSkipsOtherKeys(t *testing.T) {
	priv := keyA()
	right := mustNew(t, "ns", "key", &priv.PublicKey, priv, OAEPSHA256)
	// Same RSA key under other names: the keyring must not even try them.
	otherName := mustNew(t, "ns", "key2", &priv.PublicKey, nil, OAEPSHA256)
	otherNS := mustNew(t, "ns2", "key", &priv.PublicKey, nil, OAEPSHA256)
	_, e1 := wrap(t, otherName, envelope.DefaultSuite)
	_, e2 := wrap(t, otherNS, envelope.DefaultSuite)
	others := append(e1, e2...)

	err := right.OnDecrypt(context.Background(), &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}, others)
	if !errors.Is(err, envelope.ErrNoDataKey) {
		t.Fatalf("OnDecrypt of other keys' EDKs: %v, want ErrNoDataKey", err)
	}
	if !strings.Contains(err.Error(), "none of the message's 2 encrypted data keys") {
		t.Errorf("error %q does not say no EDK was addressed to the key", err)
	}

	// In order: skip others, try a corrupt one addressed to us, then the good one.
	dk, good := wrap(t, right, envelope.DefaultSuite)
	corrupt := envelope.EncryptedDataKey{ProviderID: "ns", ProviderInfo: []byte("key"), Ciphertext: bytes.Repeat([]byte{1}, priv.Size())}
	edks := append(append(others, corrupt), good...)
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}
	if err := right.OnDecrypt(context.Background(), dm, edks); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dm.DataKey, dk) {
		t.Fatal("unwrapped the wrong data key")
	}
}

func TestDecryptLeavesSetDataKey(t *testing.T) {
	k := mustNew(t, "ns", "key", nil, keyA(), OAEPSHA256)
	dk := []byte("already set")
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, DataKey: dk}
	if err := k.OnDecrypt(context.Background(), dm, nil); err != nil || !bytes.Equal(dm.DataKey, dk) {
		t.Fatalf("OnDecrypt with a data key set: err = %v, key changed = %v", err, !bytes.Equal(dm.DataKey, dk))
	}
}

func TestPKCS1DecryptOnly(t *testing.T) {
	priv := keyA()
	dk := bytes.Repeat([]byte{0x42}, 32)
	//lint:ignore SA1019 producing a legacy wrapped key as another SDK would.
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, dk)
	if err != nil {
		t.Fatal(err)
	}
	k := mustNew(t, "ns", "key", &priv.PublicKey, priv, PKCS1v15)
	edks := []envelope.EncryptedDataKey{{ProviderID: "ns", ProviderInfo: []byte("key"), Ciphertext: ct}}
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}
	if err := k.OnDecrypt(context.Background(), dm, edks); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dm.DataKey, dk) {
		t.Fatal("PKCS #1 v1.5 unwrap gave the wrong data key")
	}

	m := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite}
	err = k.OnEncrypt(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), "only decrypts") {
		t.Fatalf("OnEncrypt with pkcs1: %v, want a decrypt-only error", err)
	}
	if m.DataKey != nil || len(m.EncryptedDataKeys) != 0 {
		t.Fatal("failed OnEncrypt modified the materials")
	}
	if k.CanEncrypt() {
		t.Error("CanEncrypt is true for pkcs1")
	}
}

func TestPublicOnlyCannotDecrypt(t *testing.T) {
	k := mustNew(t, "ns", "key", &keyA().PublicKey, nil, OAEPSHA256)
	_, edks := wrap(t, k, envelope.DefaultSuite)
	err := k.OnDecrypt(context.Background(), &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}, edks)
	if !errors.Is(err, envelope.ErrNoDataKey) || !strings.Contains(err.Error(), "no private key") {
		t.Fatalf("public-only OnDecrypt: %v", err)
	}
	if !k.CanEncrypt() || k.CanDecrypt() {
		t.Error("CanEncrypt/CanDecrypt wrong for a public-only keyring")
	}
}

func TestPrivateOnlyCannotEncrypt(t *testing.T) {
	// The spec forbids deriving the public key from the private one.
	k := mustNew(t, "ns", "key", nil, keyA(), OAEPSHA256)
	m := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite}
	err := k.OnEncrypt(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), "no public key") {
		t.Fatalf("private-only OnEncrypt: %v", err)
	}
	if m.DataKey != nil || len(m.EncryptedDataKeys) != 0 {
		t.Fatal("failed OnEncrypt modified the materials")
	}
}

func TestNewRefuses(t *testing.T) {
	a, b := keyA(), keyB()
	small := genKey(1024)
	tests := []struct {
		name     string
		ns, key  string
		pub      *rsa.PublicKey
		priv     *rsa.PrivateKey
		padding  Padding
		contains string
	}{
		{"aws-kms", "aws-kms", "k", &a.PublicKey, a, OAEPSHA256, "reserved"},
		{"empty namespace", "", "k", &a.PublicKey, nil, OAEPSHA256, "empty key namespace"},
		{"empty name", "ns", "", &a.PublicKey, nil, OAEPSHA256, "empty key name"},
		{"bad utf-8", "ns", "\xff", &a.PublicKey, nil, OAEPSHA256, "UTF-8"},
		{"long name", "ns", strings.Repeat("n", 1<<16), &a.PublicKey, nil, OAEPSHA256, "bytes long"},
		{"no keys", "ns", "k", nil, nil, OAEPSHA256, "no key given"},
		{"padding zero", "ns", "k", &a.PublicKey, nil, 0, "unknown padding"},
		{"padding too big", "ns", "k", &a.PublicKey, nil, PKCS1v15 + 1, "unknown padding"},
		{"pkcs1 public only", "ns", "k", &a.PublicKey, nil, PKCS1v15, "only decrypts"},
		{"mismatched pair", "ns", "k", &a.PublicKey, b, OAEPSHA256, "does not belong"},
		{"small public", "ns", "k", &small.PublicKey, nil, OAEPSHA256, "1024 bits"},
		{"small private", "ns", "k", nil, small, OAEPSHA256, "1024 bits"},
		{"no modulus", "ns", "k", &rsa.PublicKey{E: 65537}, nil, OAEPSHA256, "no modulus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.ns, tt.key, tt.pub, tt.priv, tt.padding)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if !strings.HasPrefix(err.Error(), "rawrsa: ") || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("error %q, want it to contain %q", err, tt.contains)
			}
		})
	}
}

func TestNewDoesNotModifyPrivateKey(t *testing.T) {
	src := keyA()
	// A key as a parser might hand it over: no precomputed CRT values.
	bare := &rsa.PrivateKey{PublicKey: src.PublicKey, D: src.D, Primes: src.Primes}
	k := mustNew(t, "ns", "key", &bare.PublicKey, bare, OAEPSHA256)
	if bare.Precomputed.Dp != nil {
		t.Fatal("New precomputed the caller's key")
	}
	dk, edks := wrap(t, k, envelope.DefaultSuite)
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}
	if err := k.OnDecrypt(context.Background(), dm, edks); err != nil || !bytes.Equal(dm.DataKey, dk) {
		t.Fatalf("round trip with a bare key: %v", err)
	}
	broken := &rsa.PrivateKey{PublicKey: src.PublicKey, Primes: src.Primes} // no private exponent
	if _, err := New("ns", "key", nil, broken, OAEPSHA256); err == nil {
		t.Fatal("New accepted a private key without a private exponent")
	}
}

func TestPadding(t *testing.T) {
	for p := OAEPSHA1; p <= PKCS1v15; p++ {
		got, err := ParsePadding(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePadding(%q) = %v, %v", p.String(), got, err)
		}
	}
	if p, err := ParsePadding(" OAEP-SHA256 "); err != nil || p != OAEPSHA256 {
		t.Errorf("ParsePadding is not case-insensitive: %v, %v", p, err)
	}
	for _, s := range []string{"", "oaep", "pkcs1v15", "oaep-sha224", "Padding(1)"} {
		if _, err := ParsePadding(s); err == nil {
			t.Errorf("ParsePadding(%q) succeeded", s)
		}
	}
	if s := Padding(0).String(); s != "Padding(0)" {
		t.Errorf("Padding(0).String() = %q", s)
	}
}

func TestFormatHidesKey(t *testing.T) {
	priv := keyA()
	k := mustNew(t, "ns", "key", &priv.PublicKey, priv, OAEPSHA384)
	secret := priv.D.String()
	secretHex := priv.D.Text(16)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x"} {
		out := fmt.Sprintf(verb, k)
		if strings.Contains(out, secret) || strings.Contains(out, secretHex) {
			t.Errorf("%s prints the private exponent", verb)
		}
		if !strings.Contains(out, "ns/key") {
			t.Errorf("%s prints %q, want the key's name", verb, out)
		}
	}
	if got, want := k.String(), "rawrsa ns/key oaep-sha384 encrypt+decrypt"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	k := mustNew(t, "ns", "key", &keyA().PublicKey, keyA(), OAEPSHA256)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 4 {
				m := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite}
				if err := k.OnEncrypt(context.Background(), m); err != nil {
					t.Error(err)
					return
				}
				dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}
				if err := k.OnDecrypt(context.Background(), dm, m.EncryptedDataKeys); err != nil || !bytes.Equal(dm.DataKey, m.DataKey) {
					t.Errorf("concurrent round trip: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// fixedWrapKeyring writes one encrypted data key for the key ns/key whose
// ciphertext wrap makes from the message's data key.
type fixedWrapKeyring struct{ wrap func(dataKey []byte) []byte }

func (k fixedWrapKeyring) OnEncrypt(_ context.Context, m *envelope.EncryptionMaterials) error {
	m.DataKey = make([]byte, m.Suite.DataKeyLen())
	rand.Read(m.DataKey)
	m.EncryptedDataKeys = append(m.EncryptedDataKeys, envelope.EncryptedDataKey{ProviderID: "ns", ProviderInfo: []byte("key"), Ciphertext: k.wrap(m.DataKey)})
	return nil
}

func (fixedWrapKeyring) OnDecrypt(context.Context, *envelope.DecryptionMaterials, []envelope.EncryptedDataKey) error {
	return envelope.ErrNoDataKey
}

// TestPKCS1FailuresIndistinguishable: with PKCS #1 v1.5, whoever sends a
// message and sees how decrypting it fails must not learn whether the
// padding of a wrapped key was valid: a bad padding, a valid padding around
// a payload of the wrong length, the wrong data key and a ciphertext of the
// wrong size fail with the same error text and the same errors.Is class (so
// the same exit code from the CLI).
func TestPKCS1FailuresIndistinguishable(t *testing.T) {
	priv := keyA()
	pkcs1 := func(b []byte) []byte {
		//lint:ignore SA1019 producing legacy wrapped keys as another SDK would.
		ct, err := rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, b)
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
	badPadding := make([]byte, priv.Size())
	rand.Read(badPadding[1:]) // below the modulus; almost surely a bad padding, and any key it held would be wrong anyway
	cases := map[string]func([]byte) []byte{
		"bad padding":      func([]byte) []byte { return badPadding },
		"16-byte payload":  func([]byte) []byte { return pkcs1(make([]byte, 16)) },
		"wrong data key":   func([]byte) []byte { return pkcs1(bytes.Repeat([]byte{7}, 32)) },
		"short ciphertext": func([]byte) []byte { return []byte("short") },
	}
	k := mustNew(t, "ns", "key", nil, priv, PKCS1v15)
	encrypt := func(wrap func([]byte) []byte, suite envelope.SuiteID) []byte {
		ct, err := envelope.EncryptBytes(context.Background(), []byte("secret"), envelope.EncryptOptions{Keyring: fixedWrapKeyring{wrap}, Suite: suite})
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
	for _, suite := range []envelope.SuiteID{envelope.AES256GCMHKDFSHA512CommitKey, envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384} {
		got, err := envelope.DecryptBytes(context.Background(), encrypt(pkcs1, suite), envelope.DecryptOptions{Keyring: k})
		if err != nil || string(got) != "secret" {
			t.Fatalf("suite %v, right key: %q, %v", suite, got, err)
		}
	}
	classes := []error{envelope.ErrAuthentication, envelope.ErrNoDataKey, envelope.ErrMalformed, envelope.ErrTruncated, envelope.ErrPolicy, envelope.ErrLimit}
	var first error
	var firstName string
	for name, wrap := range cases {
		if wrap == nil {
			continue
		}
		_, err := envelope.DecryptBytes(context.Background(), encrypt(wrap, envelope.AES256GCMHKDFSHA512CommitKey), envelope.DecryptOptions{Keyring: k})
		if err == nil {
			t.Fatalf("%s: decrypted", name)
		}
		if !envelope.IsIntegrityError(err) {
			t.Errorf("%s: %v is not an integrity error", name, err)
		}
		if first == nil {
			first, firstName = err, name
			continue
		}
		if err.Error() != first.Error() {
			t.Errorf("%s fails with %q, %s with %q", name, err, firstName, first)
		}
		for _, c := range classes {
			if errors.Is(err, c) != errors.Is(first, c) {
				t.Errorf("errors.Is(%s's error, %v) = %v, for %s it is %v", name, c, errors.Is(err, c), firstName, errors.Is(first, c))
			}
		}
	}
}
