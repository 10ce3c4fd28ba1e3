package envelope

import (
	"bufio"
	"bytes"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/mlseal/mlseal/envelope/internal/header"
)

// RewrapOptions configure Rewrap and RewrapHeader.
type RewrapOptions struct {
	// Decrypt unwraps the message's data key. Its Keyring (or Materials)
	// holds an old key; its Context is the encryption context the caller
	// expects: stored pairs must match, and pairs not stored in the message
	// are its required context, which must be right (the header tag covers
	// it) and which stays required in the new message. Its limits and
	// AllowNetV400Messages apply; CommitmentPolicy, UnsignedOnly and Workers
	// are not used, since rewrap refuses non-committing and signed suites
	// whatever they say.
	Decrypt DecryptOptions
	// Keyring wraps the data key for the new message, whose wrapped keys
	// are exactly the ones it adds. It is handed the data key, so it must
	// wrap, not generate: for several keys use a multi-keyring without a
	// generator (multi.New(nil, a, b)).
	Keyring Keyring
}

// A Rewrapped describes a message whose header RewrapHeader or Rewrap
// rewrote.
type Rewrapped struct {
	// Header is the new header, serialized with its authentication tag.
	Header []byte
	// OldHeaderLen is the length of the old header. The body begins there
	// in the old message and after Header in the new one; it is the same
	// bytes in both.
	OldHeaderLen int64
	// Old and New describe the two headers. Old is authenticated.
	Old, New *Header
	// BodyLen is the number of body bytes Rewrap copied (RewrapHeader
	// leaves it zero).
	BodyLen int64
}

// Rewrap copies the message in src to dst with a new header whose data key
// is wrapped by opts.Keyring instead of the message's old wrapping keys. The
// body, which depends only on the data key and the message id, is copied
// byte for byte: a message of any size costs one unwrap, one wrap, and a
// copy.
//
// Rewrap authenticates the old header (key commitment and header tag)
// before it writes anything. It does not authenticate the body, which it
// never decrypts: a damaged body is copied as it is and fails when the new
// message is decrypted, exactly as the old one would have.
//
// The data key and the message id stay the same, and the new header's tag
// is computed under the same derived key and the all-zero IV the format
// prescribes, over a different header. So:
//   - whoever unwrapped the data key before the rewrap can still decrypt
//     both messages: rewrap retires a key for the future, it does not
//     recover from a compromised one (decrypt and encrypt anew for that);
//   - whoever holds both the old and the new message, or two rewraps of one
//     message, holds two AES-GCM tags under one key and IV, from which the
//     message's GHASH key can be solved for (the "forbidden attack" on
//     GCM); with it, that message's context and frames can be forged
//     without any key. Rewrap only where old copies are deleted and were
//     never readable by someone who may write the data (no old object
//     versions kept by S3 versioning, no backups); otherwise re-encrypt.
//
// Signed messages are refused: their signature covers the header, and the
// signing key was discarded when the message was written. Messages of the
// legacy, non-committing suites are refused too, since mlseal writes only
// key-committing messages. Decrypting and encrypting anew handles both.
// These refusals wrap ErrPolicy.
//
// ctx bounds the keyrings' calls. Rewrap does not close dst.
func Rewrap(ctx context.Context, dst io.Writer, src io.Reader, opts RewrapOptions) (*Rewrapped, error) {
	br, ok := src.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(src, 64<<10)
	}
	rw, err := RewrapHeader(ctx, br, opts)
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(rw.Header); err != nil {
		return nil, err
	}
	rw.BodyLen, err = br.WriteTo(dst)
	if err != nil {
		return nil, fmt.Errorf("envelope: copying the body: %w", err)
	}
	return rw, nil
}

// RewrapHeader reads the header of the message in src and returns the new
// header that Rewrap would write, reading nothing past the old header.
// Concatenating Header with the old message's bytes from OldHeaderLen on
// gives the rewrapped message: the way to rewrap an object in a store that
// copies byte ranges on the server side, such as S3's UploadPartCopy.
// Everything Rewrap's documentation says applies.
func RewrapHeader(ctx context.Context, src io.Reader, opts RewrapOptions) (*Rewrapped, error) {
	if opts.Keyring == nil {
		return nil, errors.New("envelope: rewrap options need a Keyring to wrap the data key for the new message")
	}
	old, err := materialsManager(opts.Decrypt.Materials, opts.Decrypt.Keyring, "rewrap's decrypt")
	if err != nil {
		return nil, err
	}
	capture := &keyCapture{MaterialsManager: old}
	dopts := opts.Decrypt
	dopts.Keyring, dopts.Materials = nil, capture
	// Suites are screened by keyCapture, which says why rewrap refuses them.
	dopts.CommitmentPolicy, dopts.UnsignedOnly = RequireEncryptAllowDecrypt, false
	o, err := openHeader(ctx, src, &dopts)
	if capture.m != nil && ownMaterials(old) {
		// openHeader leaves the materials to their manager, which here
		// is capture; they were made for this message alone, as for
		// Decrypt with a Keyring, and rewrap works on its own copy.
		clear(capture.m.DataKey)
	}
	dataKey := capture.dataKey
	defer clear(dataKey)
	if err != nil {
		return nil, err
	}

	h := o.h
	suite := SuiteID(h.Suite)
	required := map[string]string{}
	for k, v := range capture.context {
		if _, stored := h.Context[k]; !stored {
			required[k] = v
		}
	}
	m := &EncryptionMaterials{
		Suite:               suite,
		Context:             maps.Clone(capture.context),
		RequiredContextKeys: slices.Sorted(maps.Keys(required)),
		DataKey:             bytes.Clone(dataKey),
	}
	if err := opts.Keyring.OnEncrypt(ctx, m); err != nil {
		return nil, fmt.Errorf("envelope: wrapping the data key for the new header: %w", err)
	}
	defer clear(m.DataKey)
	switch {
	case !bytes.Equal(m.DataKey, dataKey):
		return nil, errors.New("envelope: the new keyring replaced the data key instead of wrapping it: give rewrap a keyring without a generator")
	case len(m.EncryptedDataKeys) == 0:
		return nil, errors.New("envelope: the new keyring wrapped no data key")
	case len(m.EncryptedDataKeys) > DefaultMaxEncryptedDataKeys:
		return nil, fmt.Errorf("envelope: %d wrapped data keys are more than readers accept by default (%d): use fewer keys", len(m.EncryptedDataKeys), DefaultMaxEncryptedDataKeys)
	}

	// The data key and message id stay, so the message key that
	// authenticated the old header tags the new one, and the commitment
	// openHeader checked is the new header's too.
	nh := &header.Header{
		Version:     2,
		Suite:       h.Suite,
		MessageID:   h.MessageID,
		Context:     h.Context,
		ContentType: h.ContentType,
		FrameLength: h.FrameLength,
		SuiteData:   h.SuiteData,
	}
	for _, k := range m.EncryptedDataKeys {
		nh.EDKs = append(nh.EDKs, header.EncryptedDataKey(k))
	}
	sealed, err := sealHeader(nh, o.aead, required)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return &Rewrapped{
		Header:       sealed,
		OldHeaderLen: int64(len(h.Body) + len(h.AuthIV) + len(h.AuthTag)),
		Old:          publicHeader(h),
		New:          publicHeader(nh),
	}, nil
}

// sealHeader serializes a version 2 header followed by its authentication
// tag: AES-GCM under the message key with the all-zero IV, over the header
// body and the required encryption context (client-apis/encrypt.md).
func sealHeader(h *header.Header, aead cipher.AEAD, required map[string]string) ([]byte, error) {
	body, err := header.MarshalBody(h)
	if err != nil {
		return nil, err
	}
	requiredAAD, err := header.SerializeContext(required)
	if err != nil {
		return nil, err
	}
	var zeroIV [header.IVLen]byte
	tag := aead.Seal(nil, zeroIV[:], nil, append(slices.Clip(body), requiredAAD...))
	return append(body, tag...), nil
}

// keyCapture passes decryption through to a materials manager, keeping a
// copy of the data key and the whole encryption context that rewrap needs to
// write the new header. It refuses the suites rewrap cannot rewrite before
// any key is unwrapped.
type keyCapture struct {
	MaterialsManager
	m       *DecryptionMaterials // as the manager returned them
	dataKey []byte
	context map[string]string
}

func (c *keyCapture) DecryptMaterials(ctx context.Context, req DecryptionMaterialsRequest) (*DecryptionMaterials, error) {
	if req.Suite.Signed() {
		return nil, fmt.Errorf("%w: the message is signed (suite %s): its signature covers the header, and the signing key was discarded when the message was written, so no new header can be signed; decrypt and encrypt it anew (mlseal rewrap --reencrypt)", ErrPolicy, req.Suite)
	}
	if !req.Suite.Committing() {
		return nil, fmt.Errorf("%w: suite %s does not commit to its data key, and mlseal writes only key-committing messages; decrypt and encrypt it anew (mlseal rewrap --reencrypt --allow-legacy)", ErrPolicy, req.Suite)
	}
	m, err := c.MaterialsManager.DecryptMaterials(ctx, req)
	if err != nil {
		return nil, err
	}
	c.m = m
	c.dataKey = bytes.Clone(m.DataKey)
	c.context = maps.Clone(req.Context)
	return m, nil
}
