package s3io_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
	"github.com/mlseal/mlseal/s3io"
)

// TestCiphertextSizeBound: the bound holds for messages around frame
// boundaries, signed or not, and for a frame length of zero, which
// envelope.EncryptOptions and Upload read as their defaults.
func TestCiphertextSizeBound(t *testing.T) {
	kr, err := rawaes.New("test", "k", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, suite := range []envelope.SuiteID{envelope.DefaultSuite, envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384} {
		for _, f := range []int{0, 4096, s3io.DefaultFrameLength} {
			frame := f
			if frame == 0 {
				frame = envelope.DefaultFrameLength
			}
			for _, n := range []int{0, 1, frame - 1, frame, frame + 1, 3*frame + 7} {
				t.Run(fmt.Sprintf("%s/f=%d/n=%d", suite, f, n), func(t *testing.T) {
					var msg bytes.Buffer
					w, err := envelope.Encrypt(context.Background(), &msg, envelope.EncryptOptions{Keyring: kr, Suite: suite, FrameLength: f})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := w.Write(make([]byte, n)); err != nil {
						t.Fatal(err)
					}
					if err := w.Close(); err != nil {
						t.Fatal(err)
					}
					if bound := s3io.CiphertextSizeBound(int64(n), f); int64(msg.Len()) > bound {
						t.Errorf("a %d-byte message is larger than its bound %d", msg.Len(), bound)
					}
				})
			}
		}
	}
}
