package keyfile

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/mlseal/mlseal/envelope"
)

// RSA key generation is slow: the test binary makes two 2048-bit keys and
// shares them.
var (
	rsaA = sync.OnceValue(func() *File {
		return mustGenerate(GenerateOptions{Kind: KindRawRSA, Namespace: "ns", Name: "rsa", Bits: 2048})
	})
	rsaB = sync.OnceValue(func() *File {
		return mustGenerate(GenerateOptions{Kind: KindRawRSA, Namespace: "ns", Name: "rsa", Bits: 2048})
	})
)

func mustGenerate(o GenerateOptions) *File {
	f, err := Generate(o)
	if err != nil {
		panic(err)
	}
	return f
}

// roundTrip checks that enc wraps a data key that dec unwraps.
func roundTrip(t *testing.T, enc, dec *File) {
	t.Helper()
	ek, err := enc.Keyring()
	if err != nil {
		t.Fatalf("Keyring: %v", err)
	}
	dk, err := dec.Keyring()
	if err != nil {
		t.Fatalf("Keyring: %v", err)
	}
	ctx := context.Background()
	em := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, Context: map[string]string{"purpose": "test"}}
	if err := ek.OnEncrypt(ctx, em); err != nil {
		t.Fatalf("OnEncrypt: %v", err)
	}
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: em.Context}
	if err := dk.OnDecrypt(ctx, dm, em.EncryptedDataKeys); err != nil {
		t.Fatalf("OnDecrypt: %v", err)
	}
	if !bytes.Equal(dm.DataKey, em.DataKey) {
		t.Fatal("unwrapped data key differs")
	}
}

func TestGenerateDefaults(t *testing.T) {
	f, err := Generate(GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != KindRawAES || f.Namespace != DefaultNamespace || f.Name != DefaultName || len(f.k.m.aes) != 32 {
		t.Fatalf("Generate(zero) = %v with %d key bytes, want raw-aes mlseal/default with 32", f, len(f.k.m.aes))
	}
	// Generating a 3072-bit key takes too long for a unit test: check the
	// defaults it would get.
	o := GenerateOptions{Kind: KindRawRSA}.withDefaults()
	if o.Bits != DefaultRSABits || o.Namespace != DefaultNamespace || o.Name != DefaultName {
		t.Fatalf("raw-rsa defaults = %+v", o)
	}
	if p := rsaA().k.m.padding; p != DefaultRSAPadding {
		t.Fatalf("generated RSA padding %v, want %v", p, DefaultRSAPadding)
	}
}

func TestGenerateRefuses(t *testing.T) {
	for _, o := range []GenerateOptions{
		{Kind: "aes"},
		{Bits: 512},
		{Kind: KindRawAES, Bits: 2048},
		{Kind: KindRawRSA, Bits: 1024},
		{Kind: KindRawRSA, Bits: 16384},
		{Namespace: "aws-kms"},
		{Name: "\xff"},
	} {
		if _, err := Generate(o); err == nil || !strings.HasPrefix(err.Error(), "keyfile: ") {
			t.Errorf("Generate(%+v) = %v, want a keyfile error", o, err)
		}
	}
}

func TestMarshalParseRoundTrip(t *testing.T) {
	files := map[string]*File{
		"aes128": mustGenerate(GenerateOptions{Bits: 128, Name: "a"}),
		"aes192": mustGenerate(GenerateOptions{Bits: 192, Name: "b"}),
		"aes256": mustGenerate(GenerateOptions{Namespace: "team", Name: "ключ"}),
		"rsa":    rsaA(),
	}
	for name, f := range files {
		t.Run(name, func(t *testing.T) {
			data, err := f.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(data, []byte("}\n")) || !bytes.Contains(data, []byte("\n  \"kind\": ")) {
				t.Fatalf("Marshal is not indented JSON with a trailing newline:\n%s", data)
			}
			g, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if g.Kind != f.Kind || g.Namespace != f.Namespace || g.Name != f.Name || !g.HasSecret() {
				t.Fatalf("Parse(Marshal(%v)) = %v", f, g)
			}
			again, err := g.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("Marshal(Parse(x)) != x:\n%s\n%s", data, again)
			}
			roundTrip(t, f, g)
			roundTrip(t, g, f)
		})
	}
}

func TestRSAFileFormat(t *testing.T) {
	data, err := rsaA().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m["padding"] != "oaep-sha256" || !strings.HasPrefix(m["public_key"], "-----BEGIN PUBLIC KEY-----\n") ||
		!strings.HasPrefix(m["private_key"], "-----BEGIN PRIVATE KEY-----\n") || len(m) != 6 {
		t.Fatalf("unexpected raw-rsa file:\n%s", data)
	}
}

func TestParsePKCS1PrivateKey(t *testing.T) {
	priv := rsaA().k.m.private
	j := rsaJSON(map[string]any{
		"public_key":  "",
		"private_key": pemString("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(priv)),
	})
	f, err := Parse(j)
	if err != nil {
		t.Fatal(err)
	}
	if f.k.m.public != nil {
		t.Fatal("a private-only file got a public key")
	}
	roundTrip(t, rsaA(), f)
}

func TestWriteNew(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "k.key")
	f := mustGenerate(GenerateOptions{})
	if err := f.WriteNew(path); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm != 0o600 {
			t.Errorf("key file mode %#o, want 0600", perm)
		}
		st, err = os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("created directory mode %#o, want 0700", perm)
		}
	}
	want, _ := os.ReadFile(path)

	other := mustGenerate(GenerateOptions{})
	err := other.WriteNew(path)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("WriteNew over an existing file: %v, want fs.ErrExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the path", err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, want) {
		t.Fatal("WriteNew changed an existing key file")
	}
	assertOnlyFile(t, dir, "k.key")

	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, f, g)
}

// assertOnlyFile checks that dir holds exactly the named file: no temporary
// files were left behind.
func assertOnlyFile(t *testing.T, dir, name string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != name {
		t.Fatalf("%s holds %q, want only %q", dir, names, name)
	}
}

func TestLoadPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	dir := t.TempDir()
	pub, err := rsaA().PublicOnly()
	if err != nil {
		t.Fatal(err)
	}
	privOnly := &File{Kind: KindRawRSA, Namespace: "ns", Name: "rsa", k: &sealed{&material{private: rsaA().k.m.private, padding: DefaultRSAPadding}}}
	for _, tt := range []struct {
		name   string
		f      *File
		secret bool
	}{
		{"aes", mustGenerate(GenerateOptions{}), true},
		{"rsa-pair", rsaA(), true},
		{"rsa-private", privOnly, true},
		{"rsa-public", pub, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".key")
			if err := tt.f.WriteNew(path); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path); err != nil {
				t.Fatalf("Load of a 0600 file: %v", err)
			}
			for _, mode := range []fs.FileMode{0o644, 0o640, 0o604} {
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
				_, err := Load(path)
				if !tt.secret {
					if err != nil {
						t.Fatalf("Load of a %#o public-only file: %v", mode, err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("Load accepted a %#o file holding a secret", mode)
				}
				if !strings.Contains(err.Error(), "chmod 600 "+path) {
					t.Fatalf("error %q does not say chmod 600 %s", err, path)
				}
			}
		})
	}
}

// TestLoadRefusesOtherOwner: a secret key file owned by another user than
// the one running (root included) is refused with the reason; a public-key
// file is not.
func TestLoadRefusesOtherOwner(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file owners")
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "aes.key")
	if err := mustGenerate(GenerateOptions{}).WriteNew(secret); err != nil {
		t.Fatal(err)
	}
	pubFile, err := rsaA().PublicOnly()
	if err != nil {
		t.Fatal(err)
	}
	public := filepath.Join(dir, "rsa.pub")
	if err := pubFile.WriteNew(public); err != nil {
		t.Fatal(err)
	}
	me := os.Geteuid()
	defer func() { euid = os.Geteuid }()

	euid = func() int { return me + 1 } // the file's owner is now someone else
	_, err = Load(secret)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("belongs to user %d, not to the user running this (%d)", me, me+1)) {
		t.Fatalf("Load of another user's secret key file: %v", err)
	}
	if _, err := Load(public); err != nil {
		t.Fatalf("Load of another user's public key file: %v", err)
	}
	euid = os.Geteuid
	if _, err := Load(secret); err != nil {
		t.Fatalf("Load of one's own key file: %v", err)
	}

	if me != 0 {
		return
	}
	// As root, for real: a user's key file is refused, root's own is not.
	if err := os.Chown(secret, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(secret); err == nil || !strings.Contains(err.Error(), "belongs to user 4242") {
		t.Fatalf("root loading user 4242's key file: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Load of a directory: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte(`{"kind": "raw-des"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.HasPrefix(err.Error(), "keyfile: ") {
		t.Errorf("Load of a bad file: %v, want a keyfile error naming the path", err)
	}
}

func TestPublicOnly(t *testing.T) {
	pub, err := rsaA().PublicOnly()
	if err != nil {
		t.Fatal(err)
	}
	if pub.HasSecret() {
		t.Fatal("PublicOnly kept a secret")
	}
	data, err := pub.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("PRIVATE")) {
		t.Fatalf("public-only file holds a private key:\n%s", data)
	}
	parsed, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, parsed, rsaA())

	kr, err := parsed.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	err = kr.OnDecrypt(context.Background(), &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}, nil)
	if !errors.Is(err, envelope.ErrNoDataKey) {
		t.Fatalf("public-only keyring decrypted: %v", err)
	}

	// From a private-only file the public key is computed.
	privOnly := &File{Kind: KindRawRSA, Namespace: "ns", Name: "rsa", k: &sealed{&material{private: rsaA().k.m.private, padding: DefaultRSAPadding}}}
	pub2, err := privOnly.PublicOnly()
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, pub2, rsaA())

	if _, err := mustGenerate(GenerateOptions{}).PublicOnly(); err == nil {
		t.Error("PublicOnly of an AES key succeeded")
	}
	pkcs1 := &File{Kind: KindRawRSA, Namespace: "ns", Name: "rsa", k: &sealed{&material{public: rsaA().k.m.public, private: rsaA().k.m.private, padding: 5}}}
	if _, err := pkcs1.PublicOnly(); err == nil {
		t.Error("PublicOnly of a pkcs1 key succeeded")
	}
}

func TestZeroFile(t *testing.T) {
	var f File
	f.Kind, f.Namespace, f.Name = KindRawAES, "ns", "n"
	if _, err := f.Keyring(); err == nil {
		t.Error("Keyring of a File literal succeeded")
	}
	if _, err := f.Marshal(); err == nil {
		t.Error("Marshal of a File literal succeeded")
	}
	if f.HasSecret() {
		t.Error("a File literal has a secret")
	}
	g := mustGenerate(GenerateOptions{})
	g.Kind = KindRawRSA
	if _, err := g.Keyring(); err == nil {
		t.Error("Keyring of an AES key relabelled raw-rsa succeeded")
	}
	g.Kind, g.Namespace = KindRawAES, "aws-kms"
	if _, err := g.Marshal(); err == nil {
		t.Error("Marshal with namespace aws-kms succeeded")
	}
}

func TestRedaction(t *testing.T) {
	aes := mustGenerate(GenerateOptions{})
	rsaF := rsaA()
	secrets := []string{
		base64.StdEncoding.EncodeToString(aes.k.m.aes),
		fmt.Sprintf("%x", aes.k.m.aes),
		fmt.Sprintf("%v", aes.k.m.aes)[1:20], // decimal bytes, as fmt prints a []byte
		rsaF.k.m.private.D.String(),
		rsaF.k.m.private.D.Text(16),
		rsaF.k.m.private.Primes[0].String(),
	}
	type holder struct {
		name string
		file File
		ptr  *File
	}
	values := map[string]any{
		"aes":         aes,
		"aes value":   *aes,
		"rsa":         rsaF,
		"rsa value":   *rsaF,
		"in a struct": holder{"x", *aes, rsaF},
		"nested":      struct{ h holder }{holder{"y", *rsaF, aes}},
		"in a slice":  []*File{aes, rsaF},
		"in a map":    map[string]File{"k": *rsaF},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%t", "%p", "%c", "%e", "%08.3f", "%U", "%b", "%o"} {
			out := fmt.Sprintf(verb, v)
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("%s of %s prints key material: %s", verb, name, out)
				}
			}
		}
	}
	if got, want := fmt.Sprintf("%v", aes), "raw-aes key mlseal/default"; got != want {
		t.Errorf("%%v = %q, want %q", got, want)
	}
	if got := fmt.Sprintf("%#v", rsaF); !strings.Contains(got, `Namespace:"ns"`) || !strings.Contains(got, "redacted") {
		t.Errorf("%%#v = %q", got)
	}
	if got, want := fmt.Sprintf("%v", rsaF), "raw-rsa key ns/rsa (oaep-sha256, public and private key)"; got != want {
		t.Errorf("%%v = %q, want %q", got, want)
	}
}

// rsaJSON returns a raw-rsa key file for key A with fields overridden; an
// empty string value removes the field.
func rsaJSON(over map[string]any) []byte {
	priv := rsaA().k.m.private
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(priv)
	pkix, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	m := map[string]any{
		"kind":        KindRawRSA,
		"namespace":   "ns",
		"name":        "rsa",
		"padding":     "oaep-sha256",
		"public_key":  pemString("PUBLIC KEY", pkix),
		"private_key": pemString("PRIVATE KEY", pkcs8),
	}
	return withFields(m, over)
}

func aesJSON(over map[string]any) []byte {
	m := map[string]any{
		"kind":      KindRawAES,
		"namespace": "ns",
		"name":      "aes",
		"material":  base64.StdEncoding.EncodeToString(make([]byte, 32)),
	}
	return withFields(m, over)
}

func withFields(m, over map[string]any) []byte {
	for k, v := range over {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return data
}

func pemString(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestParseMalformed(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPKIX, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	smallPKCS8, _ := x509.MarshalPKCS8PrivateKey(small)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPKIX, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecPKCS8, _ := x509.MarshalPKCS8PrivateKey(ec)
	bPKIX, _ := x509.MarshalPKIXPublicKey(rsaB().k.m.public)
	aPKIX, _ := x509.MarshalPKIXPublicKey(rsaA().k.m.public)
	aPKCS1Pub := x509.MarshalPKCS1PublicKey(rsaA().k.m.public)
	goodPub := pemString("PUBLIC KEY", aPKIX)
	encryptedPEM := "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"

	tests := []struct {
		name     string
		data     []byte
		contains string
	}{
		{"empty", nil, "empty"},
		{"not json", []byte("kind = raw-aes"), "invalid JSON at byte"},
		{"truncated", aesJSON(nil)[:40], "truncated"},
		{"array", []byte(`["raw-aes"]`), "must be"},
		{"number kind", []byte(`{"kind": 1}`), `"kind" must be a string`},
		{"trailing data", append(aesJSON(nil), "{}"...), "more data follows"},
		{"two objects", append(aesJSON(nil), aesJSON(nil)...), "more data follows"},
		{"unknown field", aesJSON(map[string]any{"materal": "x"}), `unknown field "materal"`},
		{"too large", bytes.Repeat([]byte(" "), maxFileSize+1), "too large"},
		{"missing kind", aesJSON(map[string]any{"kind": ""}), `missing "kind"`},
		{"unknown kind", aesJSON(map[string]any{"kind": "raw-des"}), `unknown kind "raw-des"`},
		{"missing namespace", aesJSON(map[string]any{"namespace": ""}), `missing "namespace"`},
		{"aws-kms", aesJSON(map[string]any{"namespace": "aws-kms"}), "reserved"},
		{"missing name", aesJSON(map[string]any{"name": ""}), `missing "name"`},
		{"aes missing material", aesJSON(map[string]any{"material": ""}), `missing "material"`},
		{"aes bad base64", aesJSON(map[string]any{"material": "!!!!"}), "not standard base64"},
		{"aes url base64", aesJSON(map[string]any{"material": base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32))}), "not standard base64"},
		{"aes unpadded base64", aesJSON(map[string]any{"material": base64.RawStdEncoding.EncodeToString(make([]byte, 32))}), "not standard base64"},
		{"aes 20 bytes", aesJSON(map[string]any{"material": base64.StdEncoding.EncodeToString(make([]byte, 20))}), "holds 20 bytes"},
		{"aes with public_key", aesJSON(map[string]any{"public_key": goodPub}), "holds only material"},
		{"aes with padding", aesJSON(map[string]any{"padding": "oaep-sha256"}), "holds only material"},
		{"rsa with material", rsaJSON(map[string]any{"material": "AAAA"}), "holds only"},
		{"rsa missing padding", rsaJSON(map[string]any{"padding": ""}), `missing "padding"`},
		{"rsa bad padding", rsaJSON(map[string]any{"padding": "oaep-md5"}), `"oaep-md5" is not one of`},
		{"rsa no keys", rsaJSON(map[string]any{"public_key": "", "private_key": ""}), "missing key"},
		{"rsa public not pem", rsaJSON(map[string]any{"public_key": "MIIB..."}), "not a PEM block"},
		{"rsa public pkcs1", rsaJSON(map[string]any{"public_key": pemString("RSA PUBLIC KEY", aPKCS1Pub)}), `want "PUBLIC KEY"`},
		{"rsa public garbage der", rsaJSON(map[string]any{"public_key": pemString("PUBLIC KEY", []byte("junk"))}), `"public_key": `},
		{"rsa public two blocks", rsaJSON(map[string]any{"public_key": goodPub + goodPub}), "more than one PEM block"},
		{"rsa public ec", rsaJSON(map[string]any{"public_key": pemString("PUBLIC KEY", ecPKIX), "private_key": ""}), "not an RSA key"},
		{"rsa private ec", rsaJSON(map[string]any{"public_key": "", "private_key": pemString("PRIVATE KEY", ecPKCS8)}), "not an RSA key"},
		{"rsa private wrong type", rsaJSON(map[string]any{"private_key": pemString("EC PRIVATE KEY", []byte{1})}), `want "PRIVATE KEY"`},
		{"rsa private encrypted pkcs8", rsaJSON(map[string]any{"private_key": pemString("ENCRYPTED PRIVATE KEY", []byte{1})}), "passphrase"},
		{"rsa private encrypted pem", rsaJSON(map[string]any{"private_key": encryptedPEM}), "passphrase"},
		{"rsa private garbage der", rsaJSON(map[string]any{"private_key": pemString("PRIVATE KEY", []byte("junk"))}), `"private_key": `},
		{"rsa small public", rsaJSON(map[string]any{"public_key": pemString("PUBLIC KEY", smallPKIX), "private_key": ""}), "1024-bit"},
		{"rsa small private", rsaJSON(map[string]any{"public_key": "", "private_key": pemString("PRIVATE KEY", smallPKCS8)}), "1024-bit"},
		{"rsa mismatched pair", rsaJSON(map[string]any{"public_key": pemString("PUBLIC KEY", bPKIX)}), "not halves of one key pair"},
		{"rsa pkcs1 public only", rsaJSON(map[string]any{"padding": "pkcs1", "private_key": ""}), `"pkcs1" only decrypts`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded: %v", f)
			}
			if !strings.HasPrefix(err.Error(), "keyfile: ") || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("error %q, want it to contain %q", err, tt.contains)
			}
		})
	}

	// The valid bases of the table parse.
	for _, data := range [][]byte{aesJSON(nil), rsaJSON(nil), rsaJSON(map[string]any{"padding": "pkcs1"})} {
		if _, err := Parse(data); err != nil {
			t.Errorf("Parse(%s): %v", data, err)
		}
	}
}

func TestParseErrorsHideMaterial(t *testing.T) {
	material := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("secretkey!"), 3))
	for _, data := range []string{
		`{"kind": "raw-aes", "namespace": "ns", "name": "n", "material": "` + material + `"}`, // 30 bytes
		`{"kind": "raw-aes", "namespace": "ns", "name": "n", "material": ` + material + `}`,   // not quoted
		`{"kind": "raw-aes", "namespace": "ns", "name": "n", "material": ["` + material + `"]}`,
	} {
		_, err := Parse([]byte(data))
		if err == nil {
			t.Fatalf("Parse(%s) succeeded", data)
		}
		if strings.Contains(err.Error(), material[:8]) || strings.Contains(err.Error(), "secretkey") {
			t.Errorf("error %q quotes the material", err)
		}
	}
}

func setConfigHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("AppData", filepath.Join(home, "AppData")) // Windows
	path, err := DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(path, home) {
		t.Fatalf("DefaultPath() = %s, outside the test's home %s", path, home)
	}
	return path
}

func TestLoadDefaultNeverCreates(t *testing.T) {
	path := setConfigHome(t)
	_, gotPath, err := LoadDefault()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadDefault without a key: %v, want fs.ErrNotExist", err)
	}
	if gotPath != path || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "encrypt") {
		t.Errorf("LoadDefault error %q, path %s: want it to name %s and say encrypt creates it", err, gotPath, path)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadDefault created %s: %v", filepath.Dir(path), err)
	}

	f, p, created, err := LoadOrCreateDefault()
	if err != nil || !created || p != path {
		t.Fatalf("LoadOrCreateDefault = %v, %s, %v, %v", f, p, created, err)
	}
	if f.Kind != KindRawAES || f.Namespace != "mlseal" || f.Name != "default" || len(f.k.m.aes) != 32 {
		t.Fatalf("default key is %v with %d bytes", f, len(f.k.m.aes))
	}
	g, p, err := LoadDefault()
	if err != nil || p != path {
		t.Fatal(err)
	}
	roundTrip(t, f, g)
	_, _, created, err = LoadOrCreateDefault()
	if err != nil || created {
		t.Fatalf("second LoadOrCreateDefault: created = %v, err = %v", created, err)
	}
}

func TestLoadOrCreateDefaultConcurrent(t *testing.T) {
	path := setConfigHome(t)
	const n = 8
	files := make([]*File, n)
	createdCount := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			f, p, created, err := LoadOrCreateDefault()
			if err != nil {
				t.Errorf("LoadOrCreateDefault: %v", err)
				return
			}
			if p != path {
				t.Errorf("path %s, want %s", p, path)
			}
			files[i] = f
			if created {
				mu.Lock()
				createdCount++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	if createdCount != 1 {
		t.Errorf("%d callers report creating the key, want 1", createdCount)
	}
	for i, f := range files {
		if !bytes.Equal(f.k.m.aes, files[0].k.m.aes) {
			t.Fatalf("caller %d got a different key", i)
		}
	}
	onDisk, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk.k.m.aes, files[0].k.m.aes) {
		t.Fatal("callers got a key other than the one on disk")
	}
	assertOnlyFile(t, filepath.Dir(path), "default.key")
}
