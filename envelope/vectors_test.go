package envelope_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
	"github.com/mlseal/mlseal/envelope/keyring/rawrsa"
)

// The decryption test vectors of the AWS Encryption SDK (manifest type
// awses-decrypt, version 4; keys manifest version 3), written by the
// AWS Encryption SDK for .NET. See testdata/esdk/README.md.

type vectorKey struct {
	Type     string `json:"type"`
	Key      string `json:"key"`
	Provider string `json:"provider-id"`
	Alg      string `json:"encryption-algorithm"`
	Padding  string `json:"padding-algorithm"`
	Hash     string `json:"padding-hash"`
}

type vectorTest struct {
	Ciphertext string            `json:"ciphertext"`
	MasterKeys []vectorKey       `json:"master-keys"`
	CMM        string            `json:"cmm"`
	Context    map[string]string `json:"encryption-context"`
	Result     struct {
		Output *struct {
			Plaintext string `json:"plaintext"`
		} `json:"output"`
	} `json:"result"`
}

type vectorSet struct {
	files map[string]*zip.File
	keys  map[string]struct {
		Type     string `json:"type"`
		Material string `json:"material"`
		Alg      string `json:"algorithm"`
	}
	tests map[string]vectorTest
}

func loadVectors(t *testing.T, name string) *vectorSet {
	t.Helper()
	zr, err := zip.OpenReader("testdata/esdk/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zr.Close() })
	vs := &vectorSet{files: map[string]*zip.File{}}
	for _, f := range zr.File {
		vs.files[f.Name] = f
	}
	var manifest struct {
		Manifest struct {
			Type    string `json:"type"`
			Version int    `json:"version"`
		} `json:"manifest"`
		Tests map[string]vectorTest `json:"tests"`
	}
	if err := json.Unmarshal(vs.read(t, "manifest.json"), &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest.Manifest.Type != "awses-decrypt" || manifest.Manifest.Version != 4 {
		t.Fatalf("manifest %+v: want awses-decrypt version 4", manifest.Manifest)
	}
	vs.tests = manifest.Tests
	var keys struct {
		Keys map[string]struct {
			Type     string `json:"type"`
			Material string `json:"material"`
			Alg      string `json:"algorithm"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(vs.read(t, "keys.json"), &keys); err != nil {
		t.Fatal(err)
	}
	vs.keys = keys.Keys
	return vs
}

func (vs *vectorSet) read(t *testing.T, name string) []byte {
	t.Helper()
	f, ok := vs.files[strings.TrimPrefix(name, "file://")]
	if !ok {
		t.Fatalf("%s not in the vector zip", name)
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keyring builds the keyring a test's master keys describe. It returns
// false when a key needs AWS KMS, which cannot be reached here.
func (vs *vectorSet) keyring(t *testing.T, mks []vectorKey) (envelope.Keyring, bool) {
	t.Helper()
	var krs []envelope.Keyring
	for _, mk := range mks {
		if mk.Type != "raw" {
			return nil, false
		}
		key := vs.keys[mk.Key]
		switch mk.Alg {
		case "aes":
			material, err := base64.StdEncoding.DecodeString(key.Material)
			if err != nil {
				t.Fatal(err)
			}
			kr, err := rawaes.New(mk.Provider, mk.Key, material)
			if err != nil {
				t.Fatal(err)
			}
			krs = append(krs, kr)
		case "rsa":
			padding, err := rawrsa.ParsePadding("oaep-" + mk.Hash)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode([]byte(key.Material))
			var pub *rsa.PublicKey
			var priv *rsa.PrivateKey
			if key.Type == "private" {
				k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				priv = k.(*rsa.PrivateKey)
			} else {
				k, err := x509.ParsePKIXPublicKey(block.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				pub = k.(*rsa.PublicKey)
			}
			kr, err := rawrsa.New(mk.Provider, mk.Key, pub, priv, padding)
			if err != nil {
				t.Fatal(err)
			}
			krs = append(krs, kr)
		default:
			t.Fatalf("unknown master key algorithm %q", mk.Alg)
		}
	}
	kr, err := multi.New(krs[0], krs[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return kr, true
}

func sortedNames(m map[string]vectorTest) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func legacyOK(workers int) envelope.DecryptOptions {
	return envelope.DecryptOptions{CommitmentPolicy: envelope.RequireEncryptAllowDecrypt, Workers: workers}
}

func TestVectorsValid(t *testing.T) {
	for _, set := range []string{"valid-Net-4.0.0.zip", "v4-Net-4.0.1.zip"} {
		vs := loadVectors(t, set)
		decrypted, headersOnly := 0, 0
		for _, name := range sortedNames(vs.tests) {
			tc := vs.tests[name]
			ct := vs.read(t, tc.Ciphertext)
			kr, ok := vs.keyring(t, tc.MasterKeys)
			if !ok {
				// AWS KMS is out of reach here: the header must still parse.
				h, err := envelope.ParseHeader(bytes.NewReader(ct))
				if err != nil {
					t.Errorf("%s/%s: header: %v", set, name, err)
				} else if h.EncryptedDataKeys[0].ProviderID != "aws-kms" {
					t.Errorf("%s/%s: provider %q, want aws-kms", set, name, h.EncryptedDataKeys[0].ProviderID)
				}
				headersOnly++
				continue
			}
			want := vs.read(t, tc.Result.Output.Plaintext)
			for _, workers := range []int{1, 3} {
				opts := legacyOK(workers)
				opts.Keyring = kr
				opts.Context = tc.Context
				got, err := envelope.DecryptBytes(context.Background(), ct, opts)
				if err != nil {
					t.Errorf("%s/%s (workers %d): %v", set, name, workers, err)
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s/%s: plaintext differs", set, name)
				}
			}
			decrypted++
		}
		t.Logf("%s: %d decrypted, %d KMS headers parsed", set, decrypted, headersOnly)
		if decrypted == 0 {
			t.Errorf("%s: no vector decrypted", set)
		}
	}
}

func TestVectorsLegacyNeedPolicy(t *testing.T) {
	vs := loadVectors(t, "valid-Net-4.0.0.zip")
	for _, name := range sortedNames(vs.tests) {
		tc := vs.tests[name]
		ct := vs.read(t, tc.Ciphertext)
		kr, _ := vs.keyring(t, tc.MasterKeys)
		h, err := envelope.ParseHeader(bytes.NewReader(ct))
		if err != nil {
			t.Fatal(err)
		}
		_, err = envelope.DecryptBytes(context.Background(), ct, envelope.DecryptOptions{Keyring: kr, Context: tc.Context})
		if h.Suite.Committing() != (err == nil) {
			t.Errorf("%s (%s): default policy gave %v", name, h.Suite, err)
		}
		if !h.Suite.Committing() && !errors.Is(err, envelope.ErrPolicy) {
			t.Errorf("%s: error %v, want ErrPolicy", name, err)
		}
		// Without the required context, the header cannot authenticate.
		opts := legacyOK(1)
		opts.Keyring = kr
		if _, err := envelope.DecryptBytes(context.Background(), ct, opts); !errors.Is(err, envelope.ErrAuthentication) && !errors.Is(err, envelope.ErrNoDataKey) {
			t.Errorf("%s without the required context: %v, want an authentication failure", name, err)
		}
	}
}

func TestVectorsInvalid(t *testing.T) {
	vs := loadVectors(t, "invalid-Net-4.0.0.zip")
	rejected, compat := 0, 0
	for _, name := range sortedNames(vs.tests) {
		tc := vs.tests[name]
		ct := vs.read(t, tc.Ciphertext)
		kr, ok := vs.keyring(t, tc.MasterKeys)
		if !ok {
			t.Fatalf("%s needs KMS", name)
		}
		opts := legacyOK(1)
		opts.Keyring = kr
		opts.Context = tc.Context
		if _, err := envelope.DecryptBytes(context.Background(), ct, opts); err == nil {
			t.Errorf("%s: decrypted by default, want rejection", name)
		} else if !envelope.IsIntegrityError(err) {
			t.Errorf("%s: %v, want an integrity error", name, err)
		} else {
			rejected++
		}
		// The compatibility option opens them as AWS's SDKs do.
		opts.AllowNetV400Messages = true
		got, err := envelope.DecryptBytes(context.Background(), ct, opts)
		if err != nil {
			t.Errorf("%s with AllowNetV400Messages: %v", name, err)
			continue
		}
		if tc.Result.Output != nil && !bytes.Equal(got, vs.read(t, tc.Result.Output.Plaintext)) {
			t.Errorf("%s with AllowNetV400Messages: plaintext differs", name)
		}
		compat++
	}
	t.Logf("%d rejected by default, %d opened with AllowNetV400Messages", rejected, compat)
	if rejected != len(vs.tests) {
		t.Errorf("rejected %d of %d", rejected, len(vs.tests))
	}
}
