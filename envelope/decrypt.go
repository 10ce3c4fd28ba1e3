package envelope

import (
	"bufio"
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/ecdsa"
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

// Header describes a message header. Nothing in it is secret. Until a
// keyring has unwrapped the data key, nothing in it is authenticated either.
type Header struct {
	// Version is the message format version, 1 or 2.
	Version int
	Suite   SuiteID
	// MessageID is 16 bytes in version 1 and 32 in version 2.
	MessageID []byte
	// Context is the encryption context stored in the header: it lacks the
	// keys that were required at encryption.
	Context           map[string]string
	EncryptedDataKeys []EncryptedDataKey
	// Framed is false for the single-block body some SDKs still write.
	Framed bool
	// FrameLength is the plaintext length of each frame, 0 when not framed.
	FrameLength int
}

func publicHeader(h *header.Header) *Header {
	p := &Header{
		Version:     int(h.Version),
		Suite:       SuiteID(h.Suite),
		MessageID:   h.MessageID,
		Context:     h.Context,
		Framed:      h.ContentType == header.Framed,
		FrameLength: int(h.FrameLength),
	}
	for _, k := range h.EDKs {
		p.EncryptedDataKeys = append(p.EncryptedDataKeys, EncryptedDataKey(k))
	}
	return p
}

func limits(opts *DecryptOptions) header.Limits {
	return header.Limits{
		MaxHeaderSize:        positiveOr(opts.MaxHeaderSize, DefaultMaxHeaderSize),
		MaxEncryptedDataKeys: positiveOr(opts.MaxEncryptedDataKeys, DefaultMaxEncryptedDataKeys),
		SuiteDataLen: func(id uint16) (int, bool) {
			info, ok := SuiteID(id).info()
			if !ok {
				return 0, false
			}
			return info.suiteDataLen, true
		},
	}
}

// ParseHeader reads a message header from src, under the default limits,
// without authenticating it: use it to inspect a message, never to trust it.
func ParseHeader(src io.Reader) (*Header, error) {
	h, err := header.Parse(src, limits(&DecryptOptions{}))
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return publicHeader(h), nil
}

// A Reader decrypts one message. It releases plaintext frame by frame, each
// only after the frame is authenticated. For signed suites, plaintext of
// frames before the last is released before the signature at the end of the
// message has been verified; the final frame is held back until it has, so
// a reader that reads to io.EOF has seen a verified message. Consumers that
// must not act on any plaintext before the signature is verified should
// either buffer until io.EOF or set DecryptOptions.UnsignedOnly.
type Reader struct {
	*trailer
	h    *Header
	body io.Reader // nil until the first Read of a non-framed message
	err  error

	aead      cipher.AEAD
	messageID []byte
	maxSingle int64

	frames   *frame.Decoder // the body of a framed message
	inMemory *bytes.Reader  // the source, when it is in memory
	read     bool           // Read has been called
}

// trailer reads and checks what follows the body. It is apart from Reader
// so that the frame decoder's workers, which call finish, do not keep a
// dropped Reader reachable.
type trailer struct {
	src    io.Reader
	sum    hash.Hash // the signature hash, nil when unsigned
	verify *ecdsa.PublicKey
}

// Decrypt reads and authenticates the header of the message in src and
// returns a Reader of its plaintext. The keyring is asked to unwrap the data
// key before Decrypt returns; ctx bounds that call and nothing after it.
//
// Decrypt refuses a message whose suite the commitment policy does not allow,
// whose stored encryption context disagrees with opts.Context, or whose
// header does not authenticate under the unwrapped data key.
func Decrypt(ctx context.Context, src io.Reader, opts DecryptOptions) (*Reader, error) {
	// The header is read through a buffer, for its many small fields; the
	// body is read around it, straight into frame buffers, once the bytes
	// the buffer read ahead are used up. A message in memory needs no
	// buffer, and its frames are opened where they are (see WriteTo).
	body := src
	var br *bufio.Reader
	var inMemory *bytes.Reader
	switch src := src.(type) {
	case *bytes.Reader:
		inMemory = src
	case *bytes.Buffer, BufferedSource:
	default:
		br = bufio.NewReaderSize(src, 16<<10)
		body = br
	}
	o, err := openHeader(ctx, body, &opts)
	if err != nil {
		return nil, err
	}
	if br != nil && any(br) != any(src) { // not the caller's own bufio.Reader, returned as is
		ahead, _ := br.Peek(br.Buffered())
		body = io.MultiReader(bytes.NewReader(ahead), src)
	}
	return newReader(o, body, inMemory, &opts), nil
}

// A BufferedSource is a source that holds the message in memory in large
// pieces, such as s3io's object reader with the parts it has fetched. A
// Reader reads its header without a buffer of its own and opens each frame
// that lies in one piece where it is, instead of copying it out first.
type BufferedSource interface {
	io.Reader
	// Lend returns the next n bytes without copying them, and consumes
	// them, if they lie in one piece; ok is false, and nothing is
	// consumed, otherwise. The bytes are not changed until release is
	// called (if it is not nil), which happens once, from any goroutine.
	Lend(n int) (b []byte, release func(), ok bool)
}

func newReader(o *openedHeader, body io.Reader, inMemory *bytes.Reader, opts *DecryptOptions) *Reader {
	h := o.h
	r := &Reader{
		trailer:   &trailer{src: body, verify: o.verify},
		h:         publicHeader(h),
		aead:      o.aead,
		messageID: h.MessageID,
		maxSingle: min(positiveOr(opts.MaxNonFramedSize, DefaultMaxNonFramedSize), maxNonFramedBody),
	}
	if r.verify != nil {
		info, _ := SuiteID(h.Suite).info()
		r.sum = info.sigHash()
		r.sum.Write(h.Body)
		r.sum.Write(h.AuthIV)
		r.sum.Write(h.AuthTag)
	}
	if h.ContentType == header.Framed {
		d := frame.NewDecoder(body, o.aead, h.MessageID, int(h.FrameLength), positiveOr(opts.Workers, runtime.GOMAXPROCS(0)), positiveOr(opts.MaxBuffered, DefaultMaxBuffered), r.sum)
		d.Finish = r.trailer.finish
		r.body = d
		// A Reader dropped before the end must not keep its workers running.
		runtime.AddCleanup(r, (*frame.Decoder).Stop, d)
		r.frames, r.inMemory = d, inMemory
	}
	return r
}

// openedHeader is a header that has been parsed and authenticated.
type openedHeader struct {
	h      *header.Header
	aead   cipher.AEAD
	verify *ecdsa.PublicKey
}

// openHeader reads the header from src under the options' limits, applies
// their policies, has the materials manager unwrap the data key, and checks
// the key commitment and the header authentication tag.
func openHeader(ctx context.Context, src io.Reader, opts *DecryptOptions) (*openedHeader, error) {
	cmm, err := materialsManager(opts.Materials, opts.Keyring, "decrypt")
	if err != nil {
		return nil, err
	}
	for k := range opts.Context {
		if strings.HasPrefix(k, reservedPrefix) {
			return nil, fmt.Errorf("envelope: encryption context key %q uses the reserved prefix %q", k, reservedPrefix)
		}
	}
	h, err := header.Parse(src, limits(opts))
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	suite := SuiteID(h.Suite)
	info, _ := suite.info()
	if !info.committing && opts.CommitmentPolicy != RequireEncryptAllowDecrypt {
		return nil, fmt.Errorf("envelope: %w: suite %s does not commit to its data key; decrypt it only if you trust who wrote it, with the legacy commitment policy (RequireEncryptAllowDecrypt, mlseal decrypt --allow-legacy)", ErrPolicy, suite)
	}
	if info.version != int(h.Version) {
		return nil, fmt.Errorf("envelope: %w: suite %s in a version %d header", ErrMalformed, suite, h.Version)
	}
	if info.curve != nil && opts.UnsignedOnly {
		return nil, fmt.Errorf("envelope: %w: the message is signed (suite %s) and unsigned messages only were asked for", ErrPolicy, suite)
	}
	if maxFrame := positiveOr(opts.MaxFrameLength, DefaultMaxFrameLength); h.ContentType == header.Framed && int64(h.FrameLength) > int64(maxFrame) {
		return nil, fmt.Errorf("envelope: %w: frame length %d is larger than the limit of %d bytes", ErrLimit, h.FrameLength, maxFrame)
	}

	// The caller's context: stored pairs must match, the rest is the
	// required context that was authenticated but not stored.
	full := maps.Clone(h.Context)
	required := map[string]string{}
	for k, v := range opts.Context {
		if stored, ok := h.Context[k]; ok {
			if stored != v {
				return nil, fmt.Errorf("envelope: %w: the message's encryption context has a different value for key %q", ErrAuthentication, k)
			}
			continue
		}
		required[k] = v
		full[k] = v
	}
	m, err := cmm.DecryptMaterials(ctx, DecryptionMaterialsRequest{
		Suite:             suite,
		Context:           full,
		EncryptedDataKeys: publicHeader(h).EncryptedDataKeys,
	})
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if ownMaterials(cmm) {
		// Nobody else holds these materials: once the message key is
		// derived, the data key is not needed.
		defer clear(m.DataKey)
	}
	if m.Suite != suite {
		return nil, fmt.Errorf("envelope: the materials manager returned materials for suite %s, but the message's suite is %s", m.Suite, suite)
	}
	if len(m.DataKey) != suite.DataKeyLen() {
		return nil, fmt.Errorf("envelope: %w: the keyring returned no data key", ErrNoDataKey)
	}
	aead, err := authenticateHeader(h, m.DataKey, required, opts.AllowNetV400Messages)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return &openedHeader{h: h, aead: aead, verify: m.VerificationKey}, nil
}

// authenticateHeader derives the message key, checks the key commitment and
// the header authentication tag, and returns the body's AEAD.
func authenticateHeader(h *header.Header, dataKey []byte, required map[string]string, allowNetV400 bool) (cipher.AEAD, error) {
	suite := SuiteID(h.Suite)
	requiredAAD, err := header.SerializeContext(required)
	if err != nil {
		return nil, err
	}
	check := func(omitMessageID bool, requiredAAD []byte) (cipher.AEAD, error) {
		aead, commitKey, err := messageKey(suite, dataKey, h.MessageID, omitMessageID)
		if err != nil {
			return nil, err
		}
		defer clear(commitKey)
		if suite.Committing() {
			if err := checkCommitment(commitKey, h.SuiteData); err != nil {
				return nil, err
			}
		}
		iv := h.AuthIV
		if h.Version == 2 {
			iv = make([]byte, header.IVLen)
		}
		aad := append(append([]byte{}, h.Body...), requiredAAD...)
		if _, err := aead.Open(nil, iv, h.AuthTag, aad); err != nil {
			return nil, fmt.Errorf("%w: the header does not authenticate: it was changed, or the encryption context given does not match", ErrAuthentication)
		}
		return aead, nil
	}
	aead, err := check(false, requiredAAD)
	if err == nil || !allowNetV400 || !errors.Is(err, ErrAuthentication) {
		return aead, err
	}
	// The AWS Encryption SDK for .NET 4.0.0 derived v1 keys without the
	// message id and serialized an empty required context as a zero count.
	info, _ := suite.info()
	omit := info.kdf == kdfHKDF && !info.committing
	if len(required) == 0 {
		requiredAAD = []byte{0, 0}
	}
	if aead, err2 := check(omit, requiredAAD); err2 == nil {
		return aead, nil
	}
	return nil, err
}

// Header returns the message header. It has been authenticated by the time
// Decrypt returns. The caller may modify the copy it gets.
func (r *Reader) Header() *Header { return r.h.clone() }

// clone returns a copy of h that its caller may modify.
func (h *Header) clone() *Header {
	c := *h
	c.MessageID = bytes.Clone(h.MessageID)
	c.Context = maps.Clone(h.Context)
	c.EncryptedDataKeys = slices.Clone(h.EncryptedDataKeys)
	return &c
}

// Read reads authenticated plaintext. It returns io.EOF only after the whole
// message, its signature and the end of the input have been checked.
func (r *Reader) Read(p []byte) (int, error) {
	r.read = true
	if r.err != nil {
		return 0, r.err
	}
	if r.body == nil {
		if r.err = r.openSingleBlock(); r.err != nil {
			return 0, r.err
		}
	}
	n, err := r.body.Read(p)
	if err != nil && err != io.EOF {
		r.err = fmt.Errorf("envelope: %w", err)
		return n, r.err
	}
	if err == io.EOF {
		r.err = io.EOF
	}
	return n, err
}

// WriteTo writes the remaining plaintext to w, avoiding a copy for framed
// messages; io.Copy uses it. The frames of a message read from a
// *bytes.Reader, or from a BufferedSource, are opened where they lie in
// its memory, without being copied out first.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	if r.inMemory != nil && !r.read && r.err == nil {
		src := r.inMemory
		r.inMemory = nil
		var n int64
		called := false
		// The source's WriteTo lends its bytes for the length of one
		// Write, in which the whole body is opened and released.
		body := writerFunc(func(p []byte) (int, error) {
			called = true
			s := frame.NewSlice(p)
			r.frames.SetSource(s)
			r.trailer.src = s
			var err error
			n, err = r.frames.WriteTo(w)
			r.frames.Stop()
			r.frames.Wait()
			used := len(p) - s.Len()
			s.Drop()
			r.trailer.src = bytes.NewReader(nil) // all read
			return used, err
		})
		_, err := src.WriteTo(body)
		if !called && err == nil { // nothing follows the header
			_, err = body(nil)
		}
		if err != nil {
			r.err = fmt.Errorf("envelope: %w", err)
			return n, r.err
		}
		r.err = io.EOF
		return n, nil
	}
	if wt, ok := r.body.(io.WriterTo); ok && r.err == nil {
		n, err := wt.WriteTo(w)
		if err != nil {
			r.err = fmt.Errorf("envelope: %w", err)
			return n, r.err
		}
		r.err = io.EOF
		return n, nil
	}
	return io.Copy(w, struct{ io.Reader }{r})
}

// Close stops a Reader that will not be read to the end: its workers stop,
// and Close returns once none of its goroutines reads the source any more
// (a read blocked on the source ends first), so that the caller may close
// or reuse the source. It does not close the source, and returns nil.
// Reading after Close is an error.
func (r *Reader) Close() error {
	if r.frames != nil {
		r.frames.Stop()
		r.frames.Wait()
	}
	if r.err == nil {
		r.err = errors.New("envelope: read after Close")
	}
	return nil
}

// writerFunc is an io.Writer of a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// maxNonFramedBody is the specification's bound on a non-framed body:
// AES-GCM encrypts at most 2^36 - 32 bytes under one IV.
const maxNonFramedBody = 1<<36 - 32

// positiveOr returns v, or def when v is zero or negative.
func positiveOr[T int | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// openSingleBlock reads, authenticates and verifies a non-framed body, which
// is one AES-GCM ciphertext and so can be released only as a whole.
func (r *Reader) openSingleBlock() error {
	var hdr [header.IVLen + 8]byte
	if err := r.readHashed(hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint64(hdr[header.IVLen:])
	if n > uint64(r.maxSingle) {
		return fmt.Errorf("envelope: %w: non-framed body of %d bytes is larger than the limit of %d (DecryptOptions.MaxNonFramedSize)", ErrLimit, n, r.maxSingle)
	}
	if !frame.SequenceIV(hdr[:header.IVLen], 1, r.h.Version) {
		return fmt.Errorf("envelope: %w: the body IV is not the one the format prescribes", ErrAuthentication)
	}
	// Read through a growing buffer, so that a declared length costs
	// memory only as its bytes arrive.
	var body bytes.Buffer
	if m, err := io.CopyN(&body, r.src, int64(n)+header.TagLen); err != nil {
		if err == io.EOF {
			return fmt.Errorf("envelope: %w: the body is cut off after %d bytes", ErrTruncated, m)
		}
		return err
	}
	sealed := body.Bytes()
	if r.sum != nil {
		r.sum.Write(sealed)
	}
	aad := frame.AppendAAD(nil, r.messageID, frame.SingleBlockString, 1, n)
	pt, err := r.aead.Open(sealed[:0], hdr[:header.IVLen], sealed, aad)
	if err != nil {
		return fmt.Errorf("envelope: %w: the body does not authenticate", ErrAuthentication)
	}
	if err := r.finish(); err != nil {
		return fmt.Errorf("envelope: %w", err)
	}
	r.body = bytes.NewReader(pt)
	return nil
}

func (r *trailer) readHashed(b []byte) error {
	if _, err := io.ReadFull(r.src, b); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("envelope: %w: the body is cut off", ErrTruncated)
		}
		return err
	}
	if r.sum != nil {
		r.sum.Write(b)
	}
	return nil
}

// finish runs after the body is authenticated and before its last plaintext
// is released: it verifies the signature of signed suites and refuses bytes
// after the end of the message.
func (r *trailer) finish() error {
	if r.verify != nil {
		var l [2]byte
		if _, err := io.ReadFull(r.src, l[:]); err != nil {
			return fmt.Errorf("%w: the signature is missing", ErrTruncated)
		}
		sig := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(r.src, sig); err != nil {
			return fmt.Errorf("%w: the signature is cut off", ErrTruncated)
		}
		if !ecdsa.VerifyASN1(r.verify, r.sum.Sum(nil), sig) {
			return fmt.Errorf("%w: the message signature does not verify", ErrAuthentication)
		}
	}
	var extra [1]byte
	switch n, err := io.ReadFull(r.src, extra[:]); {
	case n > 0:
		return fmt.Errorf("%w: bytes follow the end of the message", ErrMalformed)
	case err == io.EOF:
		return nil
	default:
		return err
	}
}

// DecryptBytes decrypts one whole message.
func DecryptBytes(ctx context.Context, ciphertext []byte, opts DecryptOptions) ([]byte, error) {
	r, err := Decrypt(ctx, bytes.NewReader(ciphertext), opts)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(ciphertext))
	if _, err := r.WriteTo(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
