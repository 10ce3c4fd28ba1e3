package interop_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
	"github.com/mlseal/mlseal/envelope/keyring/rawrsa"
)

// mlsealKeyring returns mlseal's keyring for k: for an RSA key, only the
// public half to encrypt and only the private half to decrypt, as the two
// ends of a real exchange hold them. Several keys make a multi-keyring whose
// first key generates the data key.
func mlsealKeyring(decrypt bool, keys ...wrapKey) (envelope.Keyring, error) {
	var rings []envelope.Keyring
	for _, k := range keys {
		var r envelope.Keyring
		var err error
		switch k.Kind {
		case "aes":
			r, err = rawaes.New(k.Namespace, k.Name, k.AES)
		case "rsa":
			var pad rawrsa.Padding
			if pad, err = rawrsa.ParsePadding(k.Padding); err != nil {
				return nil, err
			}
			if decrypt {
				r, err = rawrsa.New(k.Namespace, k.Name, nil, k.RSA, pad)
			} else {
				r, err = rawrsa.New(k.Namespace, k.Name, &k.RSA.PublicKey, nil, pad)
			}
		default:
			err = fmt.Errorf("key kind %q", k.Kind)
		}
		if err != nil {
			return nil, err
		}
		rings = append(rings, r)
	}
	switch len(rings) {
	case 0:
		return nil, fmt.Errorf("no keys")
	case 1:
		return rings[0], nil
	}
	return multi.New(rings[0], rings[1:]...)
}

// mlsealSeal encrypts with mlseal. With stream set it goes through the
// streaming writer in odd-sized writes instead of EncryptBytes.
func mlsealSeal(plaintext []byte, opts envelope.EncryptOptions, stream bool, keys ...wrapKey) ([]byte, error) {
	kr, err := mlsealKeyring(false, keys...)
	if err != nil {
		return nil, err
	}
	opts.Keyring = kr
	ctx := context.Background()
	if !stream {
		return envelope.EncryptBytes(ctx, plaintext, opts)
	}
	var buf bytes.Buffer
	w, err := envelope.Encrypt(ctx, &buf, opts)
	if err != nil {
		return nil, err
	}
	for p := plaintext; len(p) > 0; {
		n := min(len(p), 7919)
		if _, err := w.Write(p[:n]); err != nil {
			return nil, err
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// mlsealOpen decrypts with mlseal: through the streaming Reader, which also
// returns the header, or with DecryptBytes (and a nil header).
func mlsealOpen(ciphertext []byte, opts envelope.DecryptOptions, stream bool, keys ...wrapKey) ([]byte, *envelope.Header, error) {
	kr, err := mlsealKeyring(true, keys...)
	if err != nil {
		return nil, nil, err
	}
	opts.Keyring = kr
	ctx := context.Background()
	if !stream {
		pt, err := envelope.DecryptBytes(ctx, ciphertext, opts)
		return pt, nil, err
	}
	r, err := envelope.Decrypt(ctx, bytes.NewReader(ciphertext), opts)
	if err != nil {
		return nil, nil, err
	}
	pt, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	return pt, r.Header(), nil
}

// samePlaintext fails t unless got is want byte for byte.
func samePlaintext(t *testing.T, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("plaintext differs from byte %d: got %d bytes, want %d", i, len(got), len(want))
}

// describe summarises a message for a failure report: its header as mlseal
// parses it and the first bytes in hex, to compare with the specification
// field by field.
func describe(ct []byte) string {
	var b strings.Builder
	h, err := envelope.ParseHeader(bytes.NewReader(ct))
	if err != nil {
		fmt.Fprintf(&b, "mlseal cannot parse the header: %v\n", err)
	} else {
		fmt.Fprintf(&b, "version %d, suite %v, message id %x, framed %v, frame length %d\ncontext:", h.Version, h.Suite, h.MessageID, h.Framed, h.FrameLength)
		var ks []string
		for k := range h.Context {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			fmt.Fprintf(&b, " %q=%q", k, h.Context[k])
		}
		b.WriteString("\n")
		for i, k := range h.EncryptedDataKeys {
			fmt.Fprintf(&b, "edk %d: provider id %q, provider info %x, %d bytes of ciphertext\n", i, k.ProviderID, k.ProviderInfo, len(k.Ciphertext))
		}
	}
	fmt.Fprintf(&b, "%d bytes; first bytes:\n%s", len(ct), hex.Dump(ct[:min(len(ct), 512)]))
	return b.String()
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
