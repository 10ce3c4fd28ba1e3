package envelope

import (
	"bufio"
	"container/list"
	"context"
	"crypto/cipher"
	"fmt"
	"io"
	"sync"

	"github.com/mlseal/mlseal/envelope/internal/frame"
	"github.com/mlseal/mlseal/envelope/internal/header"
)

// maxCachedFrameBytes bounds the plaintext a ReaderAt keeps of recently
// read frames. At least one frame is always kept.
const maxCachedFrameBytes = 16 << 20

// A ReaderAt reads the plaintext of a framed, unsigned message at any
// offset, fetching from its source only the header and the frames that each
// read covers: random access into an encrypted object, such as a Parquet
// file in S3, without downloading all of it.
//
// Each frame is authenticated before any of it is returned. The final frame
// is authenticated when the ReaderAt is made, so a truncated or extended
// message is refused up front; a frame that was changed is refused when it
// is read. Signed messages are refused: their signature covers the whole
// message, so no part of one can be verified without reading all of it.
//
// A ReaderAt is safe for concurrent use, as io.ReaderAt requires.
type ReaderAt struct {
	h         *Header
	src       io.ReaderAt
	aead      cipher.AEAD
	messageID []byte
	version   int
	frameLen  int64
	bodyStart int64 // offset of the first frame in src
	frames    int64 // regular frames, before the final one
	finalPT   []byte
	size      int64

	mu    sync.Mutex
	lru   *list.List // of *cachedFrame, most recent first
	byIdx map[int64]*list.Element
	limit int
}

type cachedFrame struct {
	idx int64
	pt  []byte
}

// NewReaderAt opens the message stored in src, size bytes long, for random
// access. ctx bounds the keyring's work and nothing after it.
func NewReaderAt(ctx context.Context, src io.ReaderAt, size int64, opts DecryptOptions) (*ReaderAt, error) {
	// Small buffered reads: the header is usually well under 4 KiB, and a
	// remote source is charged for what is read. Its length is taken from
	// the parsed header, not from what the buffer read ahead.
	o, err := openHeader(ctx, bufio.NewReaderSize(io.NewSectionReader(src, 0, size), 4096), &opts)
	if err != nil {
		return nil, err
	}
	h := o.h
	if o.verify != nil {
		return nil, fmt.Errorf("envelope: %w: random access needs an unsigned suite; suite %s signs the whole message, which can only be verified by reading all of it (use Decrypt)", ErrPolicy, SuiteID(h.Suite))
	}
	if h.ContentType != header.Framed {
		return nil, fmt.Errorf("envelope: %w: random access needs a framed message; this one is a single block (use Decrypt)", ErrPolicy)
	}
	r := &ReaderAt{
		h:         publicHeader(h),
		src:       src,
		aead:      o.aead,
		messageID: h.MessageID,
		version:   int(h.Version),
		frameLen:  int64(h.FrameLength),
		bodyStart: int64(len(h.Body) + len(h.AuthIV) + len(h.AuthTag)),
		lru:       list.New(),
		byIdx:     map[int64]*list.Element{},
		limit:     max(1, maxCachedFrameBytes/int(h.FrameLength)),
	}
	// body = frames regular frames + a final frame of n <= frameLen bytes.
	body := size - r.bodyStart - frame.FinalOverhead
	if body < 0 {
		return nil, fmt.Errorf("envelope: %w: the object ends before its final frame", ErrTruncated)
	}
	regular := r.frameLen + frame.RegularOverhead
	r.frames = body / regular
	finalLen := body % regular
	if finalLen > r.frameLen || r.frames >= 1<<32-1 {
		return nil, fmt.Errorf("envelope: %w: the object's size does not fit whole frames of %d bytes (truncated or extended?)", ErrMalformed, r.frameLen)
	}
	raw := make([]byte, frame.FinalOverhead+finalLen)
	if err := r.fetch(raw, r.bodyStart+r.frames*regular); err != nil {
		return nil, err
	}
	if r.finalPT, err = frame.OpenFrame(r.aead, r.messageID, r.version, int(r.frameLen), uint32(r.frames+1), true, raw); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	r.size = r.frames*r.frameLen + finalLen
	return r, nil
}

// Size returns the length of the plaintext.
func (r *ReaderAt) Size() int64 { return r.size }

// Header returns the authenticated message header.
func (r *ReaderAt) Header() *Header { return r.h.clone() }

// ReadAt reads len(p) bytes of plaintext starting at off. As io.ReaderAt
// requires, it returns io.EOF when fewer bytes remain.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("envelope: ReadAt at negative offset %d", off)
	}
	n := 0
	for len(p) > 0 && off < r.size {
		idx := off / r.frameLen
		pt, err := r.frame(idx)
		if err != nil {
			return n, err
		}
		m := copy(p, pt[off-idx*r.frameLen:])
		n += m
		off += int64(m)
		p = p[m:]
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// frame returns the plaintext of frame idx (counting from 0), from the
// cache or by fetching and authenticating it.
func (r *ReaderAt) frame(idx int64) ([]byte, error) {
	if idx == r.frames {
		return r.finalPT, nil
	}
	r.mu.Lock()
	if e, ok := r.byIdx[idx]; ok {
		r.lru.MoveToFront(e)
		pt := e.Value.(*cachedFrame).pt
		r.mu.Unlock()
		return pt, nil
	}
	r.mu.Unlock()

	regular := r.frameLen + frame.RegularOverhead
	raw := make([]byte, regular)
	if err := r.fetch(raw, r.bodyStart+idx*regular); err != nil {
		return nil, err
	}
	pt, err := frame.OpenFrame(r.aead, r.messageID, r.version, int(r.frameLen), uint32(idx+1), false, raw)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byIdx[idx]; !ok {
		r.byIdx[idx] = r.lru.PushFront(&cachedFrame{idx: idx, pt: pt})
		for r.lru.Len() > r.limit {
			old := r.lru.Remove(r.lru.Back()).(*cachedFrame)
			delete(r.byIdx, old.idx)
		}
	}
	return pt, nil
}

func (r *ReaderAt) fetch(b []byte, off int64) error {
	n, err := r.src.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		return fmt.Errorf("envelope: %w: the object ends inside a frame", ErrTruncated)
	}
	return fmt.Errorf("envelope: reading the object: %w", err)
}
