package dataset

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/s3io"
)

// DefaultSuffix is added to the names of encrypted outputs under a
// directory or prefix, and removed on decrypt.
const DefaultSuffix = ".enc"

func suffixOr(s string) string {
	if s == "" {
		return DefaultSuffix
	}
	return s
}

// Encrypt encrypts each item into one message. Share a caching materials
// manager (envelope/cache) in Options.Materials between items so that a
// batch costs one data key per cache window rather than one per item.
type Encrypt struct {
	// Options configure the messages. SizeHint is set per item from its
	// size; FrameLength defaults to s3io.DefaultFrameLength for S3
	// outputs.
	Options envelope.EncryptOptions
	// Suffix is added to output names under a directory or prefix,
	// DefaultSuffix when empty.
	Suffix string
	// Keys name the wrapping keys ("namespace name" for a raw key, the
	// ARN or alias of a KMS key), never their material: a manifest records
	// them (see Configured), since the keyring does not say.
	Keys []string
}

func (e *Encrypt) Name() string                  { return "encrypt" }
func (e *Encrypt) OutputName(base string) string { return base + suffixOr(e.Suffix) }

func (e *Encrypt) Apply(ctx context.Context, t *Task) error {
	src, err := t.Open()
	if err != nil {
		return err
	}
	o := e.Options
	if t.Item.Size > 0 {
		o.SizeHint = t.Item.Size
	}
	create := CreateOptions{Perm: 0o666}
	if t.Item.Out.IsS3() {
		if o.FrameLength == 0 {
			o.FrameLength = s3io.DefaultFrameLength
		}
		create.Metadata = s3io.EncryptedMetadata(o)
		if o.SizeHint > 0 {
			create.SizeHint = s3io.CiphertextSizeBound(o.SizeHint, o.FrameLength)
		}
	}
	w, err := t.Create(create)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ew, err := envelope.Encrypt(ctx, w, o)
	if err != nil {
		return err
	}
	describe(t.Result, ew.Header())
	if err := encryptFrom(ew, src, t.Item.In, o.SizeHint); err != nil {
		cancel() // stop the workers; the output is discarded
		ew.Close()
		return err
	}
	return ew.Close()
}

// encryptFrom encrypts what src holds: a regular file through positional
// reads on the encryption workers, which spread reading over the cores as
// sealing is; then anything read after that, or anything else, through
// copyData. A file that grew past the size it was planned with (the data
// key's size hint), or shrank while it was read, fails with an error that
// names it.
func encryptFrom(ew *envelope.Writer, src io.Reader, in Location, hint int64) error {
	if wr, ok := src.(*watchedReader); ok {
		if sr, seekPast, ok := wr.section(); ok {
			if hint > 0 && sr.Size() > hint {
				return fmt.Errorf("%s grew while the job ran (%d bytes when it was planned, %d now): stop what writes to it, or encrypt a copy", in, hint, sr.Size())
			}
			n, err := ew.ReadFrom(sr)
			if err != nil {
				if now, serr := wr.size(); serr == nil && now < sr.Size() {
					return fmt.Errorf("%s shrank while it was encrypted (%d bytes when it was opened, %d now): nothing was written", in, sr.Size(), now)
				}
				return err
			}
			if err := seekPast(n); err != nil {
				return err
			}
		}
	}
	_, err := copyData(ew, src)
	return err
}

// Decrypt decrypts and authenticates each item. An output appears only
// once its whole message, signature included, is authenticated.
type Decrypt struct {
	Options envelope.DecryptOptions
	// Suffix is removed from output names under a directory or prefix
	// (DefaultSuffix when empty); names without it get ".dec" added.
	Suffix string
}

func (d *Decrypt) Name() string { return "decrypt" }

func (d *Decrypt) OutputName(base string) string {
	if s, ok := strings.CutSuffix(base, suffixOr(d.Suffix)); ok && s != "" {
		return s
	}
	return base + ".dec"
}

func (d *Decrypt) Apply(ctx context.Context, t *Task) error {
	dr, cancel, err := openMessage(ctx, t, d.Options)
	if err != nil {
		return err
	}
	defer cancel()
	w, err := t.Create(CreateOptions{Perm: 0o600})
	if err != nil {
		return err
	}
	_, err = dr.WriteTo(w)
	return err
}

// Verify authenticates each item without writing anything: header, every
// frame and the signature. Result.OutputSize is the plaintext's length.
type Verify struct {
	Options envelope.DecryptOptions
}

func (v *Verify) Name() string             { return "verify" }
func (v *Verify) OutputName(string) string { return "" }

func (v *Verify) Apply(ctx context.Context, t *Task) error {
	dr, cancel, err := openMessage(ctx, t, v.Options)
	if err != nil {
		return err
	}
	defer cancel()
	n, err := dr.WriteTo(io.Discard)
	t.Result.OutputSize = n
	return err
}

// openMessage opens the item's input as a message and describes its
// header in the result.
func openMessage(ctx context.Context, t *Task, opts envelope.DecryptOptions) (*envelope.Reader, context.CancelFunc, error) {
	src, err := t.Open()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	dr, err := envelope.Decrypt(ctx, src, opts)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	describe(t.Result, dr.Header())
	return dr, cancel, nil
}

// onlyReader hides a reader's WriteTo so that io.CopyBuffer uses its buffer.
type onlyReader struct{ io.Reader }

// onlyWriter hides a writer's ReadFrom so that io.CopyBuffer uses its buffer.
type onlyWriter struct{ io.Writer }

// copyBufSize is the buffer items' data moves through: large enough that
// the envelope's frames fill in few calls.
const copyBufSize = 256 << 10

func copyData(w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, copyBufSize)
	return io.CopyBuffer(onlyWriter{w}, onlyReader{r}, buf)
}
