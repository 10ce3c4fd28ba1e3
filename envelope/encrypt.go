package envelope

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"

	"github.com/mlseal/mlseal/envelope/internal/frame"
	"github.com/mlseal/mlseal/envelope/internal/header"
)

// Encrypt returns a Writer that encrypts what is written to it into one
// message written to dst. The header is written before Encrypt returns;
// frames are written as they fill; Close writes the final frame and, for
// signed suites, the signature. Close must be called, and its error checked:
// without it the message is incomplete and will not decrypt. Close does not
// close dst.
//
// The keyring is asked for a data key once, before Encrypt returns; ctx
// bounds that call and nothing after it.
func Encrypt(ctx context.Context, dst io.Writer, opts EncryptOptions) (*Writer, error) {
	suite := orDefault(opts.Suite, DefaultSuite)
	frameLen := orDefault(opts.FrameLength, DefaultFrameLength)
	workers := positiveOr(opts.Workers, runtime.GOMAXPROCS(0))
	cmm, err := materialsManager(opts.Materials, opts.Keyring, "encrypt")
	if err != nil {
		return nil, err
	}
	if suite != AES256GCMHKDFSHA512CommitKey && suite != AES256GCMHKDFSHA512CommitKeyECDSAP384 {
		return nil, fmt.Errorf("envelope: cannot encrypt with suite %s: mlseal writes only the key-committing suites %s and %s", suite, AES256GCMHKDFSHA512CommitKey, AES256GCMHKDFSHA512CommitKeyECDSAP384)
	}
	if frameLen < 1 || frameLen > DefaultMaxFrameLength {
		return nil, fmt.Errorf("envelope: frame length %d is outside 1..%d", frameLen, DefaultMaxFrameLength)
	}
	req := EncryptionMaterialsRequest{Suite: suite, Context: opts.Context, PlaintextLength: -1}
	if opts.SizeHint > 0 {
		req.PlaintextLength = opts.SizeHint
	}
	for k := range opts.Context {
		if strings.HasPrefix(k, reservedPrefix) {
			return nil, fmt.Errorf("envelope: encryption context key %q uses the reserved prefix %q", k, reservedPrefix)
		}
	}
	for _, k := range opts.RequiredContextKeys {
		if _, ok := opts.Context[k]; !ok {
			return nil, fmt.Errorf("envelope: required encryption context key %q is not in the encryption context", k)
		}
		if !slices.Contains(req.RequiredContextKeys, k) {
			req.RequiredContextKeys = append(req.RequiredContextKeys, k)
		}
	}
	m, err := cmm.GetEncryptionMaterials(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	info, _ := suite.info()
	if m.Suite != suite || (info.curve != nil) != (m.SigningKey != nil) {
		return nil, fmt.Errorf("envelope: the materials manager returned materials for suite %s, not %s", m.Suite, suite)
	}
	if len(m.DataKey) != suite.DataKeyLen() || len(m.EncryptedDataKeys) == 0 {
		return nil, fmt.Errorf("envelope: the keyring returned no data key or no encrypted data key")
	}
	if len(m.EncryptedDataKeys) > DefaultMaxEncryptedDataKeys {
		return nil, fmt.Errorf("envelope: %d wrapped data keys are more than readers accept by default (%d): use fewer keys", len(m.EncryptedDataKeys), DefaultMaxEncryptedDataKeys)
	}
	if ownMaterials(cmm) {
		defer clear(m.DataKey) // the message key is derived before Encrypt returns
	}

	// The required context is the one the materials name, as the
	// specification says (client-apis/encrypt.md): a materials manager may
	// require more keys than the caller asked for, never fewer.
	for _, k := range req.RequiredContextKeys {
		if !slices.Contains(m.RequiredContextKeys, k) {
			return nil, fmt.Errorf("envelope: the materials manager dropped the required encryption context key %q", k)
		}
	}
	stored := maps.Clone(m.Context)
	required := map[string]string{}
	for _, k := range m.RequiredContextKeys {
		v, ok := m.Context[k]
		if !ok {
			return nil, fmt.Errorf("envelope: the materials manager requires encryption context key %q, which its encryption context lacks", k)
		}
		required[k] = v
		delete(stored, k)
	}
	messageID := make([]byte, header.MessageIDLen(2))
	if _, err := rand.Read(messageID); err != nil {
		return nil, err
	}
	aead, commitKey, err := messageKey(suite, m.DataKey, messageID, false)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	h := &header.Header{
		Version:     2,
		Suite:       uint16(suite),
		MessageID:   messageID,
		Context:     stored,
		ContentType: header.Framed,
		FrameLength: uint32(frameLen),
		SuiteData:   commitKey,
	}
	for _, k := range m.EncryptedDataKeys {
		h.EDKs = append(h.EDKs, header.EncryptedDataKey{ProviderID: k.ProviderID, ProviderInfo: k.ProviderInfo, Ciphertext: k.Ciphertext})
	}
	sealed, err := sealHeader(h, aead, required)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}

	var sum hash.Hash
	if m.SigningKey != nil {
		sum = info.sigHash()
	}
	w := &Writer{dst: dst, sum: sum, key: m.SigningKey, limit: req.PlaintextLength, h: publicHeader(h)}
	if sum != nil {
		sum.Write(sealed)
	}
	if _, err := dst.Write(sealed); err != nil {
		return nil, err
	}
	w.enc = frame.NewEncoder(dst, aead, messageID, frameLen, workers, sum)
	// A writer dropped without Close must not keep its workers running.
	runtime.AddCleanup(w, (*frame.Encoder).Stop, w.enc)
	return w, nil
}

// errClosed is what a writer returns after a successful Close.
var errClosed = errors.New("envelope: write after Close")

// A Writer encrypts one message: an io.WriteCloser, which also reads
// straight from a source into its frames when given one by io.Copy. Its
// first error is returned again by every later call.
type Writer struct {
	h   *Header
	dst io.Writer
	enc *frame.Encoder
	sum hash.Hash
	key *ecdsa.PrivateKey
	err error
	// limit is the SizeHint the data key was obtained for, -1 for none.
	limit, written int64
}

// Header returns the header the Writer has written: the message id, the
// stored encryption context and the wrapped data keys, for records such as a
// job manifest.
func (w *Writer) Header() *Header { return w.h.clone() }

func (w *Writer) overLimit() error {
	return fmt.Errorf("envelope: the plaintext is longer than EncryptOptions.SizeHint (%d bytes), for which the data key was obtained", w.limit)
}

func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.limit >= 0 && w.written+int64(len(p)) > w.limit {
		w.err = w.overLimit()
		return 0, w.err
	}
	n, err := w.enc.Write(p)
	w.written += int64(n)
	w.err = err
	return n, err
}

// ReadFrom encrypts everything read from r, reading straight into frame
// buffers; io.Copy uses it.
//
// Given an *io.SectionReader, such as io.NewSectionReader(file, 0, size),
// the workers read the frames they seal with positional reads, in parallel:
// the fastest way to encrypt a file. A section that ends before its size (a
// file that shrank while it was read) is an error.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	if sr, ok := r.(*io.SectionReader); ok && w.limit >= 0 {
		if pos, err := sr.Seek(0, io.SeekCurrent); err == nil && w.written+sr.Size()-pos > w.limit {
			w.err = w.overLimit()
			return 0, w.err
		}
	} else if w.limit >= 0 {
		r = io.LimitReader(r, w.limit-w.written+1)
	}
	n, err := w.enc.ReadFrom(r)
	w.written += n
	if err == nil && w.limit >= 0 && w.written > w.limit {
		err = w.overLimit()
	}
	w.err = err
	return n, err
}

// Close writes the final frame and, for signed suites, the signature. After
// a failed Write or ReadFrom it writes nothing, stops the workers and
// returns that failure.
func (w *Writer) Close() error {
	if w.err == errClosed {
		return nil
	}
	if w.err != nil {
		w.enc.Stop()
		return w.err
	}
	w.err = w.finish()
	if w.err != nil {
		return w.err
	}
	w.err = errClosed
	return nil
}

func (w *Writer) finish() error {
	if err := w.enc.Close(); err != nil {
		return err
	}
	if w.key == nil {
		return nil
	}
	sig, err := ecdsa.SignASN1(rand.Reader, w.key, w.sum.Sum(nil))
	if err != nil {
		return err
	}
	footer := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(sig)), uint16(len(sig)))
	_, err = w.dst.Write(append(footer, sig...))
	return err
}

// EncryptBytes encrypts plaintext into one message.
func EncryptBytes(ctx context.Context, plaintext []byte, opts EncryptOptions) ([]byte, error) {
	var buf bytes.Buffer
	// Frames add 32 to 40 bytes each; the header is rarely over a few KiB.
	frames := len(plaintext)/max(orDefault(opts.FrameLength, DefaultFrameLength), 1) + 1
	buf.Grow(len(plaintext) + 40*frames + 4096)
	w, err := Encrypt(ctx, &buf, opts)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
