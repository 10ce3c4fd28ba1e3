package rawaes_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
)

var ctx = context.Background()

// The suites the round trip covers: both committing suites mlseal writes,
// and a legacy HKDF and a legacy identity-KDF suite of each data key size
// it must still read.
var roundTripSuites = []envelope.SuiteID{
	envelope.AES256GCMHKDFSHA512CommitKey,          // 0x0478
	envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384, // 0x0578
	envelope.AES256GCMIV12Tag16HKDFSHA256,          // 0x0178
	envelope.AES128GCMIV12Tag16NoKDF,               // 0x0014
}

// patternKey returns n distinctive key bytes, so that a leak of them into
// printed output is easy to spot.
func patternKey(n int) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = byte(0xA0 + i)
	}
	return k
}

func mustNew(t *testing.T, namespace, name string, key []byte) *rawaes.Keyring {
	t.Helper()
	kr, err := rawaes.New(namespace, name, key)
	if err != nil {
		t.Fatalf("New(%q, %q, %d-byte key): %v", namespace, name, len(key), err)
	}
	return kr
}

// serializeContext is the specification's encryption context serialization
// (framework/structures.md#serialization), written out here rather than
// borrowed from the implementation, for contexts whose keys the caller
// lists in ascending byte order.
func serializeContext(t *testing.T, sortedKeys []string, c map[string]string) []byte {
	t.Helper()
	if len(sortedKeys) == 0 {
		return nil
	}
	b := binary.BigEndian.AppendUint16(nil, uint16(len(sortedKeys)))
	for i, k := range sortedKeys {
		if i > 0 && sortedKeys[i-1] >= k {
			t.Fatalf("keys %q are not in ascending order", sortedKeys)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(c[k])))
		b = append(b, c[k]...)
	}
	return b
}

// providerInfo is the raw AES keyring's key provider information
// (framework/raw-aes-keyring.md): key name || tag length in bits as a
// uint32 || IV length as a uint32 || IV.
func providerInfo(name string, iv []byte) []byte {
	b := append([]byte(name), 0, 0, 0, 128, 0, 0, 0, 12)
	return append(b, iv...)
}

func gcm(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return aead
}

var testContext = map[string]string{"dataset": "train", "owner": "ml-team"}

func TestRoundTrip(t *testing.T) {
	for _, keyLen := range []int{16, 24, 32} {
		for _, suite := range roundTripSuites {
			t.Run(fmt.Sprintf("key%d/%v", keyLen*8, suite), func(t *testing.T) {
				key := make([]byte, keyLen)
				rand.Read(key)
				c := map[string]string{"dataset": "train"}
				if suite.Signed() {
					// Envelope adds the verification key before the keyrings run.
					c["aws-crypto-public-key"] = "A1B2C3"
				}
				enc := mustNew(t, "mlseal-test", "wrapping-key", key)
				em := &envelope.EncryptionMaterials{Suite: suite, Context: c}
				if err := enc.OnEncrypt(ctx, em); err != nil {
					t.Fatalf("OnEncrypt: %v", err)
				}
				if len(em.DataKey) != suite.DataKeyLen() {
					t.Fatalf("generated a %d-byte data key, suite needs %d", len(em.DataKey), suite.DataKeyLen())
				}
				if len(em.EncryptedDataKeys) != 1 {
					t.Fatalf("%d encrypted data keys, want 1", len(em.EncryptedDataKeys))
				}
				if got, want := len(em.EncryptedDataKeys[0].Ciphertext), suite.DataKeyLen()+16; got != want {
					t.Fatalf("ciphertext is %d bytes, want data key + 16-byte tag = %d", got, want)
				}

				// A keyring built separately from the same key, namespace and
				// name unwraps it, as another ESDK would.
				dec := mustNew(t, "mlseal-test", "wrapping-key", bytes.Clone(key))
				dm := &envelope.DecryptionMaterials{Suite: suite, Context: c}
				if err := dec.OnDecrypt(ctx, dm, em.EncryptedDataKeys); err != nil {
					t.Fatalf("OnDecrypt: %v", err)
				}
				if !bytes.Equal(dm.DataKey, em.DataKey) {
					t.Fatal("unwrapped data key differs from the generated one")
				}
			})
		}
	}
}

// TestRoundTripThroughEnvelope runs each wrapping key size through Encrypt
// and Decrypt, for both suites mlseal writes.
func TestRoundTripThroughEnvelope(t *testing.T) {
	for _, keyLen := range []int{16, 24, 32} {
		for _, suite := range roundTripSuites[:2] {
			key := make([]byte, keyLen)
			rand.Read(key)
			kr := mustNew(t, "mlseal-test", "k", key)
			pt := []byte("a row of the training set")
			ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: kr, Suite: suite, Context: testContext})
			if err != nil {
				t.Fatal(err)
			}
			got, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr, Context: testContext})
			if err != nil {
				t.Fatalf("%d-byte key, %v: %v", keyLen, suite, err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatalf("%d-byte key, %v: plaintext differs", keyLen, suite)
			}
		}
	}
}

// TestProviderInfoLayout checks the encrypted data key OnEncrypt writes
// field by field, and opens it with crypto/cipher alone: AAD is the
// serialized encryption context, the IV is the one stored in the provider
// information.
func TestProviderInfoLayout(t *testing.T) {
	key := patternKey(32)
	kr := mustNew(t, "my-namespace", "my-key-name", key)
	var ivs [][]byte
	for range 2 {
		em := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, Context: testContext}
		if err := kr.OnEncrypt(ctx, em); err != nil {
			t.Fatal(err)
		}
		edk := em.EncryptedDataKeys[0]
		if edk.ProviderID != "my-namespace" {
			t.Fatalf("provider id %q, want the key namespace", edk.ProviderID)
		}
		info := edk.ProviderInfo
		name := "my-key-name"
		if len(info) != len(name)+4+4+12 {
			t.Fatalf("provider info is %d bytes, want name + 4 + 4 + 12 = %d", len(info), len(name)+20)
		}
		if string(info[:len(name)]) != name {
			t.Fatalf("provider info starts %q, want the key name %q", info[:len(name)], name)
		}
		if got := hex.EncodeToString(info[len(name) : len(name)+8]); got != "000000800000000c" {
			t.Fatalf("tag and IV length fields are %s, want 00000080 (128 bits) 0000000c (12 bytes)", got)
		}
		iv := info[len(name)+8:]
		ivs = append(ivs, bytes.Clone(iv))

		aad := serializeContext(t, []string{"dataset", "owner"}, testContext)
		got, err := gcm(t, key).Open(nil, iv, edk.Ciphertext, aad)
		if err != nil {
			t.Fatalf("crypto/cipher cannot open the wrapped key with AAD = serialized context: %v", err)
		}
		if !bytes.Equal(got, em.DataKey) {
			t.Fatal("the wrapped key opens to something other than the data key")
		}
	}
	if bytes.Equal(ivs[0], ivs[1]) {
		t.Fatal("two wraps used the same IV: it must be random")
	}
}

// TestKnownAnswer builds an encrypted data key by hand, as the
// specification describes one, from a fixed wrapping key, IV, context and
// data key, and checks that OnDecrypt unwraps it. This pins the AAD (the
// serialized encryption context) and the provider information layout
// independently of OnEncrypt.
func TestKnownAnswer(t *testing.T) {
	wrappingKey, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	iv, _ := hex.DecodeString("a0a1a2a3a4a5a6a7a8a9aaab")
	dataKey, _ := hex.DecodeString("f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100")
	c := map[string]string{"purpose": "test", "a": "b"}
	// Count 2, then ("a","b") before ("purpose","test"): sorted by key bytes.
	aad, _ := hex.DecodeString("0002" + "0001" + "61" + "0001" + "62" + "0007" + "707572706f7365" + "0004" + "74657374")
	if !bytes.Equal(aad, serializeContext(t, []string{"a", "purpose"}, c)) {
		t.Fatal("test helper serializes the context differently from the literal bytes")
	}
	info, _ := hex.DecodeString(hex.EncodeToString([]byte("kat-key")) + "00000080" + "0000000c" + "a0a1a2a3a4a5a6a7a8a9aaab")
	if !bytes.Equal(info, providerInfo("kat-key", iv)) {
		t.Fatal("test helper lays out the provider info differently from the literal bytes")
	}
	ciphertext := gcm(t, wrappingKey).Seal(nil, iv, dataKey, aad)

	edk := envelope.EncryptedDataKey{ProviderID: "kat-namespace", ProviderInfo: info, Ciphertext: ciphertext}
	kr := mustNew(t, "kat-namespace", "kat-key", wrappingKey)
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: c}
	if err := kr.OnDecrypt(ctx, dm, []envelope.EncryptedDataKey{edk}); err != nil {
		t.Fatalf("OnDecrypt of the hand-built key: %v", err)
	}
	if !bytes.Equal(dm.DataKey, dataKey) {
		t.Fatalf("unwrapped %x, want %x", dm.DataKey, dataKey)
	}

	// An empty context is an empty AAD, not a zero count.
	ciphertext = gcm(t, wrappingKey).Seal(nil, iv, dataKey, nil)
	edk.Ciphertext = ciphertext
	dm = &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}
	if err := kr.OnDecrypt(ctx, dm, []envelope.EncryptedDataKey{edk}); err != nil {
		t.Fatalf("OnDecrypt with an empty context: %v", err)
	}
	if !bytes.Equal(dm.DataKey, dataKey) {
		t.Fatal("empty context: wrong data key")
	}
}

// TestOnlyMatchingKeysTried: the keyring attempts an encrypted data key if
// and only if namespace, name, tag length (128) and IV length (12) match;
// among those it takes the first that unwraps.
func TestOnlyMatchingKeysTried(t *testing.T) {
	key := patternKey(32)
	kr := mustNew(t, "ns", "name", key)
	dataKey := bytes.Repeat([]byte{7}, 32)
	iv := bytes.Repeat([]byte{9}, 12)
	good := gcm(t, key).Seal(nil, iv, dataKey, nil)
	withLengths := func(tagBits, ivLen uint32, ivBytes []byte) []byte {
		b := append([]byte("name"), binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, tagBits), ivLen)...)
		return append(b, ivBytes...)
	}
	for _, tc := range []struct {
		what string
		edk  envelope.EncryptedDataKey
	}{
		{"tag length 96", envelope.EncryptedDataKey{ProviderID: "ns", ProviderInfo: withLengths(96, 12, iv), Ciphertext: good}},
		{"IV length 16", envelope.EncryptedDataKey{ProviderID: "ns", ProviderInfo: withLengths(128, 16, append(bytes.Clone(iv), 0, 0, 0, 0)), Ciphertext: good}},
		{"IV shorter than its length", envelope.EncryptedDataKey{ProviderID: "ns", ProviderInfo: withLengths(128, 12, iv[:11]), Ciphertext: good}},
		{"name prefix", envelope.EncryptedDataKey{ProviderID: "ns", ProviderInfo: providerInfo("nam", append([]byte("e"), iv...)), Ciphertext: good}},
		{"info truncated", envelope.EncryptedDataKey{ProviderID: "ns", ProviderInfo: []byte("name"), Ciphertext: good}},
		{"empty info", envelope.EncryptedDataKey{ProviderID: "ns", Ciphertext: good}},
		{"other namespace", envelope.EncryptedDataKey{ProviderID: "ns2", ProviderInfo: providerInfo("name", iv), Ciphertext: good}},
	} {
		dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}
		err := kr.OnDecrypt(ctx, dm, []envelope.EncryptedDataKey{tc.edk})
		if !errors.Is(err, envelope.ErrNoDataKey) || dm.DataKey != nil {
			t.Errorf("%s: OnDecrypt = %v with data key %x; want ErrNoDataKey and no key", tc.what, err, dm.DataKey)
		}
	}

	// A corrupted key of ours first, then a good one: the good one wins.
	bad := bytes.Clone(good)
	bad[0] ^= 1
	edks := []envelope.EncryptedDataKey{
		{ProviderID: "other", ProviderInfo: []byte("x"), Ciphertext: []byte("y")},
		{ProviderID: "ns", ProviderInfo: providerInfo("name", iv), Ciphertext: bad},
		{ProviderID: "ns", ProviderInfo: providerInfo("name", iv), Ciphertext: good},
	}
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}
	if err := kr.OnDecrypt(ctx, dm, edks); err != nil {
		t.Fatalf("OnDecrypt past a corrupted key: %v", err)
	}
	if !bytes.Equal(dm.DataKey, dataKey) {
		t.Fatal("wrong data key")
	}

	// A key that unwraps but has the wrong length for the suite is refused.
	dm = &envelope.DecryptionMaterials{Suite: envelope.AES128GCMIV12Tag16NoKDF}
	err := kr.OnDecrypt(ctx, dm, edks[2:])
	if !errors.Is(err, envelope.ErrNoDataKey) || dm.DataKey != nil {
		t.Fatalf("32-byte key for a 16-byte suite: %v, key %x", err, dm.DataKey)
	}
}

func wrapped(t *testing.T, kr *rawaes.Keyring, c map[string]string) *envelope.EncryptionMaterials {
	t.Helper()
	em := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, Context: c}
	if err := kr.OnEncrypt(ctx, em); err != nil {
		t.Fatal(err)
	}
	return em
}

func TestWrongContext(t *testing.T) {
	kr := mustNew(t, "ns", "name", patternKey(32))
	em := wrapped(t, kr, testContext)
	for _, c := range []map[string]string{
		nil,
		{"dataset": "train"},
		{"dataset": "test", "owner": "ml-team"},
		{"dataset": "train", "owner": "ml-team", "extra": "x"},
	} {
		dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: c}
		err := kr.OnDecrypt(ctx, dm, em.EncryptedDataKeys)
		if !errors.Is(err, envelope.ErrNoDataKey) {
			t.Errorf("context %v: %v, want ErrNoDataKey", c, err)
		}
		if dm.DataKey != nil {
			t.Errorf("context %v: the materials were changed on failure", c)
		}
	}
}

// TestWrongKey: other key material, another name or another namespace all
// fail with ErrNoDataKey and an error that names the key asked for.
func TestWrongKey(t *testing.T) {
	em := wrapped(t, mustNew(t, "ns", "name", patternKey(32)), testContext)
	for _, tc := range []struct {
		namespace, name string
		key             []byte
	}{
		{"ns", "name", bytes.Repeat([]byte{1}, 32)},
		{"ns", "name", patternKey(16)},
		{"ns", "other-name", patternKey(32)},
		{"other-ns", "name", patternKey(32)},
	} {
		kr := mustNew(t, tc.namespace, tc.name, tc.key)
		dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: testContext}
		err := kr.OnDecrypt(ctx, dm, em.EncryptedDataKeys)
		if !errors.Is(err, envelope.ErrNoDataKey) {
			t.Errorf("%s/%s: %v, want ErrNoDataKey", tc.namespace, tc.name, err)
			continue
		}
		if want := tc.namespace + "/" + tc.name; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name the key %s", err, want)
		}
		if dm.DataKey != nil {
			t.Errorf("%s/%s: the materials were changed on failure", tc.namespace, tc.name)
		}
	}
}

// TestExistingDataKey: OnEncrypt wraps a data key already in the materials
// rather than making a new one; OnDecrypt leaves one alone.
func TestExistingDataKey(t *testing.T) {
	kr := mustNew(t, "ns", "name", patternKey(32))
	dataKey := bytes.Repeat([]byte{0x5A}, 32)
	em := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, Context: testContext, DataKey: bytes.Clone(dataKey)}
	if err := kr.OnEncrypt(ctx, em); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(em.DataKey, dataKey) {
		t.Fatal("OnEncrypt replaced the data key it was given")
	}
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: testContext}
	if err := kr.OnDecrypt(ctx, dm, em.EncryptedDataKeys); err != nil || !bytes.Equal(dm.DataKey, dataKey) {
		t.Fatalf("the given data key was not the one wrapped: %v", err)
	}

	// Appends, never replaces, earlier wrappings.
	other := mustNew(t, "ns", "second", patternKey(24))
	if err := other.OnEncrypt(ctx, em); err != nil {
		t.Fatal(err)
	}
	if len(em.EncryptedDataKeys) != 2 || em.EncryptedDataKeys[0].ProviderID != "ns" || !bytes.HasPrefix(em.EncryptedDataKeys[1].ProviderInfo, []byte("second")) {
		t.Fatalf("encrypted data keys after a second keyring: %+v", em.EncryptedDataKeys)
	}

	preset := bytes.Repeat([]byte{0x11}, 32)
	dm = &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: testContext, DataKey: bytes.Clone(preset)}
	if err := kr.OnDecrypt(ctx, dm, em.EncryptedDataKeys); err != nil {
		t.Fatalf("OnDecrypt with a data key already set: %v", err)
	}
	if !bytes.Equal(dm.DataKey, preset) {
		t.Fatal("OnDecrypt replaced a data key that was already set")
	}
}

func TestNewRefuses(t *testing.T) {
	key := patternKey(32)
	if _, err := rawaes.New("aws-kms", "name", key); err == nil || !strings.Contains(err.Error(), "aws-kms") {
		t.Errorf("namespace aws-kms: %v, want a refusal naming it", err)
	}
	if _, err := rawaes.New("", "name", key); err == nil {
		t.Error("empty namespace accepted")
	}
	if _, err := rawaes.New("ns", "", key); err == nil {
		t.Error("empty key name accepted")
	}
	for _, n := range []int{0, 1, 8, 15, 17, 20, 23, 25, 31, 33, 48, 64} {
		if _, err := rawaes.New("ns", "name", make([]byte, n)); err == nil {
			t.Errorf("%d-byte wrapping key accepted", n)
		}
	}
	for _, n := range []int{16, 24, 32} {
		if _, err := rawaes.New("ns", "name", make([]byte, n)); err != nil {
			t.Errorf("%d-byte wrapping key refused: %v", n, err)
		}
	}
}

// TestKeyNotCopiedByReference: changing the caller's key slice after New
// does not change the keyring.
func TestKeyNotCopiedByReference(t *testing.T) {
	key := patternKey(32)
	kr := mustNew(t, "ns", "name", key)
	em := wrapped(t, kr, nil)
	clear(key)
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}
	if err := kr.OnDecrypt(ctx, dm, em.EncryptedDataKeys); err != nil {
		t.Fatalf("after the caller cleared its key slice: %v", err)
	}
}

// TestNoKeyInOutput: no way of printing a keyring, or its errors, shows the
// wrapping key.
func TestNoKeyInOutput(t *testing.T) {
	key := patternKey(32)
	kr := mustNew(t, "ns", "name", key)
	em := wrapped(t, kr, testContext)
	decErr := kr.OnDecrypt(ctx, &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}, em.EncryptedDataKeys)
	if decErr == nil {
		t.Fatal("OnDecrypt without the context succeeded")
	}
	forbidden := []string{
		string(key),
		hex.EncodeToString(key),
		strings.ToUpper(hex.EncodeToString(key)),
		base64.StdEncoding.EncodeToString(key),
		fmt.Sprint(key),
		fmt.Sprintf("%#v", key),
		hex.EncodeToString(key[:8]),
		fmt.Sprint(key[:8])[1 : len(fmt.Sprint(key[:8]))-1],
	}
	var printed []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q"} {
		printed = append(printed, fmt.Sprintf(verb, kr), fmt.Sprintf(verb, *kr), fmt.Sprintf(verb, []any{kr}), fmt.Sprintf(verb, decErr))
	}
	printed = append(printed, kr.String(), decErr.Error())
	for _, out := range printed {
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Fatalf("printed keyring %q contains the key (as %q)", out, f)
			}
		}
	}
	if got := fmt.Sprint(kr); !strings.Contains(got, "ns/name") {
		t.Errorf("%%v of a keyring = %q, want it to name ns/name", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	kr := mustNew(t, "ns", "name", patternKey(32))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for range 50 {
				em := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, Context: testContext}
				if err := kr.OnEncrypt(ctx, em); err != nil {
					errs <- err
					return
				}
				dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: testContext}
				if err := kr.OnDecrypt(ctx, dm, em.EncryptedDataKeys); err != nil || !bytes.Equal(dm.DataKey, em.DataKey) {
					errs <- fmt.Errorf("concurrent unwrap: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestInvalidContextRefused(t *testing.T) {
	kr := mustNew(t, "ns", "name", patternKey(32))
	bad := map[string]string{"k": "\xff\xfe"}
	if err := kr.OnEncrypt(ctx, &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, Context: bad}); err == nil {
		t.Error("OnEncrypt accepted a context value that is not UTF-8")
	}
	em := wrapped(t, kr, nil)
	if err := kr.OnDecrypt(ctx, &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: bad}, em.EncryptedDataKeys); err == nil {
		t.Error("OnDecrypt accepted a context value that is not UTF-8")
	}
}
