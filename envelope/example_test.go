package envelope_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
)

// exampleKeyring returns a raw AES keyring for a fresh 256-bit key. Real
// programs load the key from a key file or a secrets manager.
func exampleKeyring() envelope.Keyring {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		log.Fatal(err)
	}
	kr, err := rawaes.New("example-corp", "dataset-key", key)
	if err != nil {
		log.Fatal(err)
	}
	return kr
}

// Encrypt streams: what is written is sealed frame by frame, and Close
// writes the final frame. Decrypt streams back, releasing each frame once it
// is authenticated.
func ExampleEncrypt() {
	ctx := context.Background()
	kr := exampleKeyring()

	var sealed bytes.Buffer
	w, err := envelope.Encrypt(ctx, &sealed, envelope.EncryptOptions{
		Keyring:     kr,
		Context:     map[string]string{"dataset": "reviews", "split": "train"},
		FrameLength: 64 << 10,
	})
	if err != nil {
		log.Fatal(err)
	}
	src := strings.NewReader("label,text\n1,great product\n0,broke in a week\n")
	if _, err := io.Copy(w, src); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil { // Close must be called, and checked.
		log.Fatal(err)
	}

	r, err := envelope.Decrypt(ctx, &sealed, envelope.DecryptOptions{
		Keyring: kr,
		Context: map[string]string{"dataset": "reviews"}, // pairs the caller expects
	})
	if err != nil {
		log.Fatal(err)
	}
	// Plaintext read before io.EOF is authenticated frame by frame; a
	// consumer that must see the whole message checked acts only after EOF.
	if _, err := io.Copy(os.Stdout, r); err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Header().Suite, r.Header().Context["split"])
	// Output:
	// label,text
	// 1,great product
	// 0,broke in a week
	// AES_256_GCM_HKDF_SHA512_COMMIT_KEY train
}

func ExampleEncryptBytes() {
	ctx := context.Background()
	kr := exampleKeyring()
	ec := map[string]string{"model": "ranker-v3"}

	ct, err := envelope.EncryptBytes(ctx, []byte("checkpoint bytes"), envelope.EncryptOptions{Keyring: kr, Context: ec})
	if err != nil {
		log.Fatal(err)
	}
	pt, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr, Context: ec})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", pt)

	// A changed byte anywhere is caught, and nothing is returned.
	ct[len(ct)-1] ^= 1
	pt, err = envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr, Context: ec})
	fmt.Println(pt == nil, errors.Is(err, envelope.ErrAuthentication))
	// Output:
	// checkpoint bytes
	// true true
}

// Required encryption context is authenticated but not stored in the
// message: the reader must supply it, so a message copied to another tenant
// cannot be opened there, and the tenant's name does not travel with it.
func ExampleEncryptOptions_requiredContext() {
	ctx := context.Background()
	kr := exampleKeyring()

	ct, err := envelope.EncryptBytes(ctx, []byte("acme's rows"), envelope.EncryptOptions{
		Keyring:             kr,
		Context:             map[string]string{"tenant": "acme", "purpose": "training"},
		RequiredContextKeys: []string{"tenant"},
	})
	if err != nil {
		log.Fatal(err)
	}
	h, err := envelope.ParseHeader(bytes.NewReader(ct))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored:", h.Context)

	_, err = envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr})
	fmt.Println("without tenant:", envelope.IsIntegrityError(err))
	_, err = envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr, Context: map[string]string{"tenant": "globex"}})
	fmt.Println("other tenant:", envelope.IsIntegrityError(err))
	pt, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr, Context: map[string]string{"tenant": "acme"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("with tenant: %s\n", pt)
	// Output:
	// stored: map[purpose:training]
	// without tenant: true
	// other tenant: true
	// with tenant: acme's rows
}

// Decrypt returns a Reader that any io consumer can stream from. Each frame
// is authenticated before its plaintext is released; an error from Read means
// the message is not authentic from that point, and what was read must be
// discarded.
func ExampleDecrypt() {
	ctx := context.Background()
	kr := exampleKeyring()
	var rows strings.Builder
	for i := range 5 {
		fmt.Fprintf(&rows, "row %d\n", i)
	}
	ct, err := envelope.EncryptBytes(ctx, []byte(rows.String()), envelope.EncryptOptions{Keyring: kr, FrameLength: 16})
	if err != nil {
		log.Fatal(err)
	}

	r, err := envelope.Decrypt(ctx, bytes.NewReader(ct), envelope.DecryptOptions{Keyring: kr})
	if err != nil {
		log.Fatal(err)
	}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "rows from", r.Header().FrameLength, "byte frames")

	// Cut the message short: the lines before the cut may be released, but
	// the reader ends with an error rather than io.EOF.
	r, err = envelope.Decrypt(ctx, bytes.NewReader(ct[:len(ct)-20]), envelope.DecryptOptions{Keyring: kr})
	if err != nil {
		log.Fatal(err)
	}
	_, err = io.Copy(io.Discard, r)
	fmt.Println(errors.Is(err, envelope.ErrTruncated))
	// Output:
	// 5 rows from 16 byte frames
	// true
}

// ParseHeader reads a header without any key, to inspect a message: what it
// shows is not authenticated until Decrypt has succeeded.
func ExampleParseHeader() {
	ctx := context.Background()
	ct, err := envelope.EncryptBytes(ctx, make([]byte, 1000), envelope.EncryptOptions{
		Keyring:     exampleKeyring(),
		Suite:       envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384,
		FrameLength: 4096,
		Context:     map[string]string{"dataset": "images"},
	})
	if err != nil {
		log.Fatal(err)
	}
	h, err := envelope.ParseHeader(bytes.NewReader(ct))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version:", h.Version, "message id bytes:", len(h.MessageID))
	fmt.Println("suite:", h.Suite, "signed:", h.Suite.Signed())
	fmt.Println("framed:", h.Framed, "frame length:", h.FrameLength)
	// Signed messages carry their verification key in the context.
	fmt.Println("context keys:", slices.Sorted(maps.Keys(h.Context)))
	for _, k := range h.EncryptedDataKeys {
		fmt.Printf("wrapped by %s, key name %q\n", k.ProviderID, k.ProviderInfo[:len("dataset-key")])
	}

	_, err = envelope.ParseHeader(strings.NewReader("not a message"))
	fmt.Println(errors.Is(err, envelope.ErrMalformed))
	// Output:
	// version: 2 message id bytes: 32
	// suite: AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 signed: true
	// framed: true frame length: 4096
	// context keys: [aws-crypto-public-key dataset]
	// wrapped by example-corp, key name "dataset-key"
	// true
}

// A file is encrypted fastest as a section: the workers read the frames
// they seal with positional reads, in parallel.
func ExampleWriter_ReadFrom() {
	ctx := context.Background()
	kr := exampleKeyring()
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	name := dir + "/train.csv"
	if err := os.WriteFile(name, bytes.Repeat([]byte("1,great product\n"), 100_000), 0o600); err != nil {
		log.Fatal(err)
	}

	f, err := os.Open(name)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		log.Fatal(err)
	}
	var sealed bytes.Buffer
	w, err := envelope.Encrypt(ctx, &sealed, envelope.EncryptOptions{Keyring: kr})
	if err != nil {
		log.Fatal(err)
	}
	// ReadFrom returns once every frame has been read: the file may be
	// closed after it. A file that shrinks meanwhile is an error.
	n, err := w.ReadFrom(io.NewSectionReader(f, 0, fi.Size()))
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "bytes encrypted")
	// Output:
	// 1600000 bytes encrypted
}
