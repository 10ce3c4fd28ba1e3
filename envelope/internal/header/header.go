package header

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Content types of the message body.
const (
	NonFramed byte = 0x01
	Framed    byte = 0x02
)

// Sizes fixed by the format.
const (
	IVLen      = 12
	TagLen     = 16
	v1IDLen    = 16
	v2IDLen    = 32
	v1TypeByte = 0x80
)

// EncryptedDataKey is one wrapped data key as stored in the header.
type EncryptedDataKey struct {
	ProviderID   string
	ProviderInfo []byte
	Ciphertext   []byte
}

// Header is a decoded message header with its authentication section.
type Header struct {
	Version     byte
	Suite       uint16
	MessageID   []byte
	Context     map[string]string
	EDKs        []EncryptedDataKey
	ContentType byte
	FrameLength uint32
	SuiteData   []byte // v2 only: the commitment key for committing suites
	AuthIV      []byte // v1 only: the header authentication IV
	AuthTag     []byte

	// Body is the serialized header body: the bytes that the header
	// authentication tag covers, before the authentication section.
	Body []byte
}

// MessageIDLen is the message id length of a message format version.
func MessageIDLen(version byte) int {
	if version == 1 {
		return v1IDLen
	}
	return v2IDLen
}

// MarshalBody serializes a version 2 header body. h.Context must hold only
// the pairs to be stored.
func MarshalBody(h *Header) ([]byte, error) {
	if h.Version != 2 {
		return nil, fmt.Errorf("header: only version 2 headers are written")
	}
	aad, err := SerializeContext(h.Context)
	if err != nil {
		return nil, err
	}
	if len(h.EDKs) == 0 || len(h.EDKs) > 0xFFFF {
		return nil, fmt.Errorf("header: %d encrypted data keys; need 1 to 65535", len(h.EDKs))
	}
	b := make([]byte, 0, 128+len(aad))
	b = append(b, 2)
	b = binary.BigEndian.AppendUint16(b, h.Suite)
	b = append(b, h.MessageID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(aad)))
	b = append(b, aad...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.EDKs)))
	for _, k := range h.EDKs {
		for _, f := range [][]byte{[]byte(k.ProviderID), k.ProviderInfo, k.Ciphertext} {
			if len(f) > 0xFFFF {
				return nil, fmt.Errorf("header: encrypted data key field of %d bytes is longer than 65535", len(f))
			}
			b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
			b = append(b, f...)
		}
	}
	b = append(b, h.ContentType)
	b = binary.BigEndian.AppendUint32(b, h.FrameLength)
	b = append(b, h.SuiteData...)
	return b, nil
}

// Limits bound what Parse accepts.
type Limits struct {
	MaxHeaderSize        int
	MaxEncryptedDataKeys int
	// SuiteDataLen returns the length of a known suite's algorithm suite
	// data in a v2 header, and false for unknown suites.
	SuiteDataLen func(suite uint16) (int, bool)
}

// reader reads a header from r, keeping the bytes it has read so that they
// can be authenticated, and refusing to read more than max bytes.
type reader struct {
	r   io.Reader
	buf []byte
	max int
	err error
}

func (r *reader) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.buf)+n > r.max {
		r.err = fmt.Errorf("%w: header is larger than the limit of %d bytes", ErrLimit, r.max)
		return nil
	}
	start := len(r.buf)
	r.buf = append(r.buf, make([]byte, n)...)
	if _, err := io.ReadFull(r.r, r.buf[start:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			r.err = fmt.Errorf("%w: %w: header ends early", ErrTruncated, ErrMalformed)
		} else {
			r.err = err
		}
		return nil
	}
	return r.buf[start:]
}

func (r *reader) u8() byte {
	if b := r.next(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() int {
	if b := r.next(2); b != nil {
		return int(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.next(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// Parse reads one header, with its authentication section, from r. It reads
// exactly the header's bytes and no more.
func Parse(r io.Reader, lim Limits) (*Header, error) {
	rd := &reader{r: r, max: lim.MaxHeaderSize}
	h := &Header{}
	h.Version = rd.u8()
	if rd.err != nil {
		return nil, rd.err
	}
	switch h.Version {
	case 1:
		if t := rd.u8(); rd.err == nil && t != v1TypeByte {
			return nil, malformed("version 1 header has type 0x%02x, want 0x80", t)
		}
	case 2:
	default:
		return nil, malformed("unknown message format version 0x%02x (is this an AWS Encryption SDK message?)", h.Version)
	}
	h.Suite = uint16(rd.u16())
	if rd.err != nil {
		return nil, rd.err
	}
	suiteDataLen, known := lim.SuiteDataLen(h.Suite)
	if !known {
		return nil, malformed("unknown algorithm suite 0x%04x", h.Suite)
	}
	h.MessageID = clone(rd.next(MessageIDLen(h.Version)))
	aadLen := rd.u16()
	aad := rd.next(aadLen)
	if rd.err != nil {
		return nil, rd.err
	}
	ctx, err := ParseContext(aad)
	if err != nil {
		return nil, err
	}
	h.Context = ctx
	n := rd.u16()
	if rd.err != nil {
		return nil, rd.err
	}
	if n == 0 {
		return nil, malformed("header has no encrypted data keys")
	}
	if n > lim.MaxEncryptedDataKeys {
		return nil, fmt.Errorf("%w: message has %d encrypted data keys, more than the limit of %d", ErrLimit, n, lim.MaxEncryptedDataKeys)
	}
	h.EDKs = make([]EncryptedDataKey, 0, n)
	for range n {
		id := rd.next(rd.u16())
		info := rd.next(rd.u16())
		ct := rd.next(rd.u16())
		if rd.err != nil {
			return nil, rd.err
		}
		h.EDKs = append(h.EDKs, EncryptedDataKey{ProviderID: string(id), ProviderInfo: clone(info), Ciphertext: clone(ct)})
	}
	h.ContentType = rd.u8()
	if h.Version == 1 {
		if reserved := rd.u32(); rd.err == nil && reserved != 0 {
			return nil, malformed("reserved field is 0x%08x, want 0", reserved)
		}
		if ivLen := rd.u8(); rd.err == nil && ivLen != IVLen {
			return nil, malformed("IV length is %d, want %d", ivLen, IVLen)
		}
	}
	h.FrameLength = rd.u32()
	if h.Version == 2 {
		h.SuiteData = clone(rd.next(suiteDataLen))
	}
	if rd.err != nil {
		return nil, rd.err
	}
	switch h.ContentType {
	case Framed:
		if h.FrameLength == 0 {
			return nil, malformed("framed message with frame length 0")
		}
	case NonFramed:
		if h.FrameLength != 0 {
			return nil, malformed("non-framed message with frame length %d, want 0", h.FrameLength)
		}
	default:
		return nil, malformed("unknown content type 0x%02x", h.ContentType)
	}
	h.Body = clone(rd.buf)
	if h.Version == 1 {
		h.AuthIV = clone(rd.next(IVLen))
	}
	h.AuthTag = clone(rd.next(TagLen))
	if rd.err != nil {
		return nil, rd.err
	}
	return h, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
