// Package keyfile reads and writes mlseal's local key files and manages the
// default key that mlseal creates on first use.
//
// A key file is a small JSON object naming one raw wrapping key:
//
//	{
//	  "kind": "raw-aes",
//	  "namespace": "mlseal",
//	  "name": "default",
//	  "material": "<standard base64 of 16, 24 or 32 bytes>"
//	}
//
// or, for an RSA key pair,
//
//	{
//	  "kind": "raw-rsa",
//	  "namespace": "example-corp",
//	  "name": "nightly-export",
//	  "padding": "oaep-sha256",
//	  "public_key": "-----BEGIN PUBLIC KEY-----\n...",
//	  "private_key": "-----BEGIN PRIVATE KEY-----\n..."
//	}
//
// The namespace and name identify the key inside every message it wraps (as
// the provider id and provider info of the AWS Encryption SDK), so a message
// opens in any AWS Encryption SDK given the same key, namespace and name, and
// for RSA the same padding. An RSA file may hold the public key only, for
// jobs that encrypt but must not decrypt (see File.PublicOnly), or the
// private key only, to decrypt. The public key is PEM "PUBLIC KEY" (PKIX);
// the private key is PEM "PRIVATE KEY" (PKCS #8), and "RSA PRIVATE KEY"
// (PKCS #1) is accepted too. The padding is oaep-sha1, oaep-sha256,
// oaep-sha384, oaep-sha512, or pkcs1, which only decrypts.
//
// Files holding secret material are written with mode 0600, and Load refuses
// them when group or others may read them or another user owns them. A File never prints its secret
// material, whatever the fmt verb.
package keyfile

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
	"github.com/mlseal/mlseal/envelope/keyring/rawrsa"
)

// Kinds of key file.
const (
	// KindRawAES is an AES wrapping key used by the raw AES keyring.
	KindRawAES = "raw-aes"
	// KindRawRSA is an RSA key pair, or half of one, used by the raw RSA
	// keyring.
	KindRawRSA = "raw-rsa"
)

// DefaultNamespace is the namespace of generated keys when none is given,
// and of the default key.
const DefaultNamespace = "mlseal"

// DefaultName is the name of generated keys when none is given, and of the
// default key.
const DefaultName = "default"

// Key sizes Generate uses when GenerateOptions.Bits is zero.
const (
	DefaultAESBits = 256
	DefaultRSABits = 3072
)

// DefaultRSAPadding is the padding of generated RSA key files.
const DefaultRSAPadding = rawrsa.OAEPSHA256

const (
	maxFileSize = 1 << 20 // far above a 16384-bit private key, the largest accepted
	maxRSABits  = 16384   // bounds the cost of loading an untrusted file
	minGenBits  = 2048
	maxGenBits  = 8192
)

// A File is one key as stored in a key file. Kind, Namespace and Name
// describe it; its key material is kept unexported and never printed.
//
// Create a File with Generate, Parse, Load or PublicOnly: a File literal has
// no key material. The key material is never modified after creation, so a
// File may be used from several goroutines as long as none changes its
// exported fields.
type File struct {
	// Kind is KindRawAES or KindRawRSA.
	Kind string
	// Namespace is the key namespace (the provider id in messages).
	Namespace string
	// Name is the key name (the provider info of RSA keys, its prefix for
	// AES keys).
	Name string

	k *sealed
}

// sealed keeps the key material two pointers away from File. fmt prints a
// File held in another struct's unexported field by reflection, without
// calling its Format method. It prints a pointer field as its address, but a
// verb that does not suit pointers (%s, %q) makes it print the pointed-to
// value once more with %v, as at the top level: one more pointer is then
// printed as an address, not followed.
type sealed struct{ m *material }

type material struct {
	aes     []byte          // raw-aes
	public  *rsa.PublicKey  // raw-rsa, may be nil
	private *rsa.PrivateKey // raw-rsa, may be nil
	padding rawrsa.Padding  // raw-rsa
}

// Format prints a File as String does, or as GoString does for %#v: never
// its key material, whatever the verb or flags.
func (f File) Format(s fmt.State, verb rune) {
	switch {
	case verb == 'v' && s.Flag('#'):
		io.WriteString(s, f.GoString())
	case verb == 'q':
		fmt.Fprintf(s, "%q", f.String())
	default:
		io.WriteString(s, f.String())
	}
}

// String describes the key without its material, for example
// "raw-aes key mlseal/default" or
// "raw-rsa key example-corp/export (oaep-sha256, public key only)".
func (f File) String() string {
	s := fmt.Sprintf("%s key %s/%s", f.Kind, f.Namespace, f.Name)
	if f.k == nil {
		return s + " (no key material)"
	}
	if f.Kind == KindRawRSA {
		var has string
		switch {
		case f.k.m.public != nil && f.k.m.private != nil:
			has = "public and private key"
		case f.k.m.public != nil:
			has = "public key only"
		default:
			has = "private key only"
		}
		s += fmt.Sprintf(" (%v, %s)", f.k.m.padding, has)
	}
	return s
}

// GoString is like String, in Go syntax, with the key material left out.
func (f File) GoString() string {
	return fmt.Sprintf("keyfile.File{Kind:%q, Namespace:%q, Name:%q /* key material redacted */}", f.Kind, f.Namespace, f.Name)
}

// HasSecret reports whether the file holds secret material: an AES key or
// an RSA private key. Files that do must not be readable by other users.
func (f *File) HasSecret() bool {
	return f.k != nil && (len(f.k.m.aes) > 0 || f.k.m.private != nil)
}

// GenerateOptions configure Generate. The zero value generates a 256-bit
// raw-aes key named mlseal/default.
type GenerateOptions struct {
	// Kind is KindRawAES when empty.
	Kind string
	// Namespace is DefaultNamespace when empty.
	Namespace string
	// Name is DefaultName when empty.
	Name string
	// Bits is the key size: 128, 192 or 256 for raw-aes (DefaultAESBits when
	// zero); 2048 to 8192 for raw-rsa (DefaultRSABits when zero).
	Bits int
}

func (o GenerateOptions) withDefaults() GenerateOptions {
	if o.Kind == "" {
		o.Kind = KindRawAES
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Bits == 0 {
		switch o.Kind {
		case KindRawAES:
			o.Bits = DefaultAESBits
		case KindRawRSA:
			o.Bits = DefaultRSABits
		}
	}
	return o
}

// Generate creates a new random key. An RSA key pair gets both halves and
// DefaultRSAPadding; generating one takes from a fraction of a second (2048
// bits) to tens of seconds (8192 bits).
func Generate(opts GenerateOptions) (*File, error) {
	opts = opts.withDefaults()
	if err := checkLabels(opts.Namespace, opts.Name); err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	f := &File{Kind: opts.Kind, Namespace: opts.Namespace, Name: opts.Name}
	switch opts.Kind {
	case KindRawAES:
		switch opts.Bits {
		case 128, 192, 256:
		default:
			return nil, fmt.Errorf("keyfile: a raw-aes key has 128, 192 or 256 bits, not %d", opts.Bits)
		}
		key := make([]byte, opts.Bits/8)
		rand.Read(key) // never returns an error; crashes the program if randomness is unavailable
		f.k = &sealed{&material{aes: key}}
	case KindRawRSA:
		if opts.Bits < minGenBits || opts.Bits > maxGenBits {
			return nil, fmt.Errorf("keyfile: a generated raw-rsa key has %d to %d bits, not %d", minGenBits, maxGenBits, opts.Bits)
		}
		priv, err := rsa.GenerateKey(rand.Reader, opts.Bits)
		if err != nil {
			return nil, fmt.Errorf("keyfile: generating a %d-bit RSA key: %w", opts.Bits, err)
		}
		pub := priv.PublicKey
		f.k = &sealed{&material{public: &pub, private: priv, padding: DefaultRSAPadding}}
	default:
		return nil, fmt.Errorf("keyfile: unknown key kind %q: use %q or %q", opts.Kind, KindRawAES, KindRawRSA)
	}
	return f, nil
}

// fileJSON is the key file format. Field order is the order written.
type fileJSON struct {
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Padding    string `json:"padding,omitempty"`
	Material   string `json:"material,omitempty"`
	PublicKey  string `json:"public_key,omitempty"`
	PrivateKey string `json:"private_key,omitempty"`
}

// Marshal returns the key file's contents: indented JSON with a trailing
// newline, holding the secret material. Write it only where other users
// cannot read it; WriteNew does.
func (f *File) Marshal() ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	j := fileJSON{Kind: f.Kind, Namespace: f.Namespace, Name: f.Name}
	switch f.Kind {
	case KindRawAES:
		j.Material = base64.StdEncoding.EncodeToString(f.k.m.aes)
	case KindRawRSA:
		j.Padding = f.k.m.padding.String()
		if f.k.m.public != nil {
			der, err := x509.MarshalPKIXPublicKey(f.k.m.public)
			if err != nil {
				return nil, fmt.Errorf("keyfile: encoding the public key: %w", err)
			}
			j.PublicKey = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		}
		if f.k.m.private != nil {
			der, err := x509.MarshalPKCS8PrivateKey(f.k.m.private)
			if err != nil {
				return nil, fmt.Errorf("keyfile: encoding the private key: %w", err)
			}
			j.PrivateKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
			clear(der)
		}
	}
	out, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	return append(out, '\n'), nil
}

// check validates a File built by this package or modified by its caller.
func (f *File) check() error {
	if f.k == nil {
		return errors.New("the File has no key material: create it with Generate, Parse or Load")
	}
	if err := checkLabels(f.Namespace, f.Name); err != nil {
		return err
	}
	switch f.Kind {
	case KindRawAES:
		if f.k.m.aes == nil {
			return errors.New("the File is raw-aes but holds an RSA key: do not change Kind")
		}
	case KindRawRSA:
		if f.k.m.public == nil && f.k.m.private == nil {
			return errors.New("the File is raw-rsa but holds an AES key: do not change Kind")
		}
	default:
		return fmt.Errorf("unknown key kind %q: use %q or %q", f.Kind, KindRawAES, KindRawRSA)
	}
	return nil
}

func checkLabels(namespace, name string) error {
	if err := checkLabel("namespace", namespace); err != nil {
		return err
	}
	if namespace == "aws-kms" {
		return errors.New(`namespace "aws-kms" is reserved for AWS KMS keys, and other SDKs would send these keys to KMS: choose another namespace`)
	}
	return checkLabel("name", name)
}

func checkLabel(field, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("missing %q: give the key a %s", field, field)
	case !utf8.ValidString(s):
		return fmt.Errorf("%q is not valid UTF-8", field)
	case len(s) > math.MaxUint16-64:
		// Stored in each message with a two-byte length, and the AES
		// keyring appends to the name.
		return fmt.Errorf("%q is %d bytes long: keep it short", field, len(s))
	}
	return nil
}

// Parse reads a key file's contents and validates all of it: the kind, the
// namespace and name (the namespace "aws-kms" is refused), key sizes, PEM
// types and the padding. Unknown fields are refused, as they usually mean a
// misspelt one.
func Parse(data []byte) (*File, error) {
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	return f, nil
}

func parse(data []byte) (*File, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%d bytes is too large for a key file (the limit is %d)", len(data), maxFileSize)
	}
	var j fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not a key file: more data follows the JSON object")
	}
	if j.Kind == "" {
		return nil, fmt.Errorf(`missing "kind": use %q or %q`, KindRawAES, KindRawRSA)
	}
	if err := checkLabels(j.Namespace, j.Name); err != nil {
		return nil, err
	}
	f := &File{Kind: j.Kind, Namespace: j.Namespace, Name: j.Name}
	switch j.Kind {
	case KindRawAES:
		if err := onlyFields(j.Kind, "material", j.Padding == "" && j.PublicKey == "" && j.PrivateKey == ""); err != nil {
			return nil, err
		}
		if j.Material == "" {
			return nil, errors.New(`missing "material": a raw-aes key file holds the key as standard base64`)
		}
		key, err := base64.StdEncoding.Strict().DecodeString(j.Material)
		if err != nil {
			return nil, errors.New(`"material" is not standard base64`)
		}
		switch len(key) {
		case 16, 24, 32:
		default:
			return nil, fmt.Errorf(`"material" holds %d bytes: an AES key has 16, 24 or 32`, len(key))
		}
		f.k = &sealed{&material{aes: key}}
	case KindRawRSA:
		if err := onlyFields(j.Kind, `"padding", "public_key" and "private_key"`, j.Material == ""); err != nil {
			return nil, err
		}
		k, err := parseRSA(j)
		if err != nil {
			return nil, err
		}
		f.k = &sealed{k}
	default:
		return nil, fmt.Errorf("unknown kind %q: use %q or %q", j.Kind, KindRawAES, KindRawRSA)
	}
	return f, nil
}

func onlyFields(kind, fields string, ok bool) error {
	if ok {
		return nil
	}
	return fmt.Errorf("a %s key file holds only %s besides kind, namespace and name: remove the others", kind, fields)
}

// jsonError describes a decoding error without quoting the input, which may
// be key material.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("not a key file: invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("not a key file: %q must be a %s, not a JSON %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("not a key file: empty or truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown field %s: the fields are kind, namespace, name, material (raw-aes), and padding, public_key, private_key (raw-rsa)", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return errors.New("not a key file: invalid JSON")
}

func parseRSA(j fileJSON) (*material, error) {
	if j.Padding == "" {
		return nil, errors.New(`missing "padding": use the padding the key's messages are encrypted with, such as oaep-sha256`)
	}
	padding, err := rawrsa.ParsePadding(j.Padding)
	if err != nil {
		return nil, fmt.Errorf(`"padding" %q is not one of oaep-sha1, oaep-sha256, oaep-sha384, oaep-sha512, pkcs1`, j.Padding)
	}
	if j.PublicKey == "" && j.PrivateKey == "" {
		return nil, errors.New(`missing key: a raw-rsa key file needs "public_key" to encrypt, "private_key" to decrypt, or both`)
	}
	k := &material{padding: padding}
	if j.PublicKey != "" {
		block, err := onePEM("public_key", j.PublicKey)
		if err != nil {
			return nil, err
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf(`"public_key" is PEM %q: want "PUBLIC KEY" (PKIX), as written by openssl pkey -pubout`, block.Type)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf(`"public_key": %w`, err)
		}
		rsaPub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf(`"public_key" is a %T, not an RSA key`, pub)
		}
		if err := checkRSASize("public_key", rsaPub); err != nil {
			return nil, err
		}
		k.public = rsaPub
	}
	if j.PrivateKey != "" {
		block, err := onePEM("private_key", j.PrivateKey)
		if err != nil {
			return nil, err
		}
		var priv any
		switch block.Type {
		case "PRIVATE KEY":
			priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			priv, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New(`"private_key" is encrypted with a passphrase, which key files do not support: store it decrypted (openssl pkey -in KEY -out PLAIN) in a file only you can read`)
		default:
			return nil, fmt.Errorf(`"private_key" is PEM %q: want "PRIVATE KEY" (PKCS #8) or "RSA PRIVATE KEY" (PKCS #1)`, block.Type)
		}
		clear(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf(`"private_key": %w`, err)
		}
		rsaPriv, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf(`"private_key" is a %T, not an RSA key`, priv)
		}
		if err := checkRSASize("private_key", &rsaPriv.PublicKey); err != nil {
			return nil, err
		}
		k.private = rsaPriv
	}
	if k.public != nil && k.private != nil && !k.public.Equal(&k.private.PublicKey) {
		return nil, errors.New(`"public_key" and "private_key" are not halves of one key pair: fix whichever was copied from the wrong key`)
	}
	if k.private == nil && padding == rawrsa.PKCS1v15 {
		return nil, errors.New(`padding "pkcs1" only decrypts, but the file has no "private_key": add it, or use the OAEP padding the key's messages use`)
	}
	return k, nil
}

func onePEM(field, s string) (*pem.Block, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, fmt.Errorf("%q is not a PEM block: paste the whole -----BEGIN ...----- to -----END ...----- text, with \\n for line breaks", field)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%q holds more than one PEM block: keep only the key", field)
	}
	if len(block.Headers) != 0 {
		if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
			return nil, fmt.Errorf("%q is encrypted with a passphrase, which key files do not support: store it decrypted (openssl pkey -in KEY -out PLAIN) in a file only you can read", field)
		}
		return nil, fmt.Errorf("%q has PEM headers: remove them", field)
	}
	return block, nil
}

func checkRSASize(field string, pub *rsa.PublicKey) error {
	bits := pub.N.BitLen()
	if bits < rawrsa.MinKeyBits || bits > maxRSABits {
		return fmt.Errorf("%q is a %d-bit key: RSA keys of %d to %d bits are accepted", field, bits, rawrsa.MinKeyBits, maxRSABits)
	}
	return nil
}

// Load reads and validates the key file at path, as Parse does. It refuses a
// file that holds secret material (an AES key or an RSA private key) if its
// permissions let group or others read it, or if another user owns it (on
// Unix; Windows has neither check); a public-key-only file may be
// world-readable and anyone's.
func Load(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	defer fh.Close()
	// Stat the open file, not the path, so the mode checked is the mode of
	// what is read.
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("keyfile: %s is not a regular file: give the path of a key file", path)
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	f, err := parse(data)
	clear(data)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %s: %w", path, err)
	}
	if perm := st.Mode().Perm(); f.HasSecret() && perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("keyfile: %s holds a secret key but its mode %#o lets other users read it: run chmod 600 %s (and consider the key exposed if others could read it)", path, perm, path)
	}
	if uid, ok := owner(st); ok && f.HasSecret() && uid != euid() {
		// Whoever owns the file can read it, and can replace it with a
		// key of their own choosing, so that what mlseal encrypts next
		// opens for them. Root is no exception: it reads only key files
		// root owns.
		return nil, fmt.Errorf("keyfile: %s holds a secret key but belongs to user %d, not to the user running this (%d): its owner can read it or swap in a key of their own; use a key file you own (copy it and chmod 600), or run as its owner", path, uid, euid())
	}
	return f, nil
}

// euid is the user Load compares a key file's owner with; tests replace it.
var euid = os.Geteuid

// WriteNew writes the key file to path with mode 0600, creating its
// directory with mode 0700 if missing. It never replaces an existing file:
// if path exists it returns an error wrapping fs.ErrExist.
//
// The file appears whole or not at all: the contents are written and synced
// to a temporary file in the same directory, which is then hard-linked to
// path (the link fails if path exists, even when another process creates it
// at the same moment) and removed. The directory's file system must support
// hard links.
func (f *File) WriteNew(path string) error {
	data, err := f.Marshal()
	if err != nil {
		return err
	}
	defer clear(data)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keyfile: creating the directory for %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("keyfile: writing %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after the link, path keeps the contents
	_, err = tmp.Write(data)
	if err == nil {
		// Sync before linking, so that after a crash path is either absent
		// or whole, never empty.
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("keyfile: writing %s: %w", path, err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("keyfile: %s already exists and a key is never overwritten: choose another path, or move the old key away if no data needs it: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("keyfile: writing %s: %w", path, err)
	}
	os.Remove(tmpName)
	syncDir(dir)
	return nil
}

// syncDir makes the new directory entry durable. It is best effort: the key
// is already in place, and some systems cannot sync a directory.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// Keyring returns the keyring for the key: a raw AES keyring for raw-aes; a
// raw RSA keyring for raw-rsa, which encrypts if the file has the public key
// and decrypts if it has the private key.
func (f *File) Keyring() (envelope.Keyring, error) {
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	switch f.Kind {
	case KindRawAES:
		return rawaes.New(f.Namespace, f.Name, bytes.Clone(f.k.m.aes))
	default:
		return rawrsa.New(f.Namespace, f.Name, f.k.m.public, f.k.m.private, f.k.m.padding)
	}
}

// PublicOnly returns a copy of a raw-rsa key without its private key, to hand
// to jobs that encrypt but must not decrypt. If the file holds only the
// private key, the copy gets the public key computed from it.
func (f *File) PublicOnly() (*File, error) {
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if f.Kind != KindRawRSA {
		return nil, fmt.Errorf("keyfile: %s key %s/%s has no public half: only raw-rsa keys can be shared for encryption alone", f.Kind, f.Namespace, f.Name)
	}
	if f.k.m.padding == rawrsa.PKCS1v15 {
		return nil, fmt.Errorf("keyfile: key %s/%s uses padding pkcs1, which only decrypts, so its public key alone would be useless", f.Namespace, f.Name)
	}
	pub := f.k.m.public
	if pub == nil {
		pub = &f.k.m.private.PublicKey
	}
	return &File{
		Kind: f.Kind, Namespace: f.Namespace, Name: f.Name,
		k: &sealed{&material{public: &rsa.PublicKey{N: pub.N, E: pub.E}, padding: f.k.m.padding}},
	}, nil
}

// DefaultPath returns the path of the default key:
// default.key in the mlseal directory of os.UserConfigDir
// (on Linux, $XDG_CONFIG_HOME/mlseal/default.key or
// ~/.config/mlseal/default.key).
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("keyfile: cannot locate the default key: %w: set HOME (or XDG_CONFIG_HOME), or name a key file", err)
	}
	return filepath.Join(dir, "mlseal", "default.key"), nil
}

// LoadDefault loads the default key and returns it with its path. It never
// creates it: if it does not exist, the error wraps fs.ErrNotExist.
func LoadDefault() (*File, string, error) {
	path, err := DefaultPath()
	if err != nil {
		return nil, "", err
	}
	f, err := Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, path, fmt.Errorf("keyfile: there is no default key at %s: mlseal encrypt creates it when first run without a key; to decrypt data encrypted on another machine, copy that machine's key there or name its key file: %w", path, fs.ErrNotExist)
	}
	return f, path, err
}

// LoadOrCreateDefault loads the default key, creating a 256-bit raw-aes key
// named mlseal/default if there is none. created reports whether this call
// created it. Concurrent callers, in one process or several, all end up
// with the same key: the one whose file was written first.
func LoadOrCreateDefault() (f *File, path string, created bool, err error) {
	path, err = DefaultPath()
	if err != nil {
		return nil, "", false, err
	}
	f, err = Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return f, path, false, err
	}
	f, err = Generate(GenerateOptions{Kind: KindRawAES, Namespace: DefaultNamespace, Name: DefaultName, Bits: 256})
	if err != nil {
		return nil, path, false, err
	}
	err = f.WriteNew(path)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it since Load: use its key.
		f, err = Load(path)
		return f, path, false, err
	}
	if err != nil {
		return nil, path, false, err
	}
	return f, path, true, nil
}
