package envelope

// TEMPORARY: signatures of the public API so that other packages compile
// while the implementation is written. Replaced by envelope.go.

import (
	"context"
	"io"
)

// Header describes a parsed message header. Nothing in it is secret.
type Header struct {
	Version           int
	Suite             SuiteID
	MessageID         []byte
	Context           map[string]string // as stored: without required keys
	EncryptedDataKeys []EncryptedDataKey
	Framed            bool
	FrameLength       int
}

func Encrypt(ctx context.Context, dst io.Writer, opts EncryptOptions) (io.WriteCloser, error) {
	panic("todo")
}

type Reader struct{}

func Decrypt(ctx context.Context, src io.Reader, opts DecryptOptions) (*Reader, error) {
	panic("todo")
}
func (r *Reader) Read(p []byte) (int, error) { panic("todo") }
func (r *Reader) Header() *Header           { panic("todo") }

func ParseHeader(src io.Reader) (*Header, error) { panic("todo") }

func EncryptBytes(ctx context.Context, plaintext []byte, opts EncryptOptions) ([]byte, error) {
	panic("todo")
}
func DecryptBytes(ctx context.Context, ciphertext []byte, opts DecryptOptions) ([]byte, error) {
	panic("todo")
}
