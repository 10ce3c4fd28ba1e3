package envelope

// CommitmentPolicy says which messages may be read, by whether their suite
// commits to its data key. mlseal always writes key-committing suites.
type CommitmentPolicy int

const (
	// RequireEncryptRequireDecrypt, the default, reads only messages whose
	// suite commits to its data key (0x0478, 0x0578).
	RequireEncryptRequireDecrypt CommitmentPolicy = iota
	// RequireEncryptAllowDecrypt also reads messages of the legacy,
	// non-committing suites, as written by older SDKs.
	RequireEncryptAllowDecrypt
)

// Defaults used when the corresponding option is zero.
const (
	// DefaultFrameLength is the plaintext length of each frame. With 4096-byte
	// frames, the specification's usual choice, per-frame work (hand-off to
	// a worker, nonce, AAD, tag, a write call) dominates: encrypting 64 MiB
	// with 2 workers measured 2.9 GB/s at 4 KiB and 8.8 GB/s at 256 KiB, the
	// best of the lengths tried (bench/README.md), while memory stays at a
	// few MiB per stream.
	DefaultFrameLength = 256 << 10
	// DefaultMaxEncryptedDataKeys bounds the wrapped keys a message may carry.
	DefaultMaxEncryptedDataKeys = 32
	// DefaultMaxHeaderSize bounds the serialized header.
	DefaultMaxHeaderSize = 1 << 20
	// DefaultMaxFrameLength bounds the frame length a message may declare,
	// since each frame is held in memory while it is authenticated.
	DefaultMaxFrameLength = 64 << 20
	// DefaultMaxNonFramedSize bounds a non-framed body, which can only be
	// released after all of it is authenticated and so is held in memory.
	DefaultMaxNonFramedSize = 64 << 20
	// DefaultMaxBuffered bounds the ciphertext a decrypt holds in memory
	// at once, across all the frames it reads ahead and opens in parallel.
	DefaultMaxBuffered = 64 << 20
)

// EncryptOptions configure Encrypt. The zero value of each field selects
// its default; Keyring is required.
type EncryptOptions struct {
	// Keyring generates and wraps the data key.
	Keyring Keyring
	// Materials, instead of Keyring, supplies the data key: for example a
	// caching materials manager from package envelope/cache.
	Materials MaterialsManager
	// SizeHint is the plaintext length when it is known in advance, zero
	// otherwise. A caching materials manager needs it to count bytes against
	// its limits (and caches nothing without it); writing more than the
	// hint is an error.
	SizeHint int64
	// Suite is DefaultSuite when zero. Only key-committing suites are
	// written: AES256GCMHKDFSHA512CommitKey and
	// AES256GCMHKDFSHA512CommitKeyECDSAP384.
	Suite SuiteID
	// FrameLength is the plaintext bytes per frame, DefaultFrameLength when zero.
	FrameLength int
	// Context is the encryption context: non-secret pairs bound to the
	// message. Keys starting "aws-crypto-" are reserved.
	Context map[string]string
	// RequiredContextKeys name Context keys that are authenticated but not
	// stored in the message; the decrypting caller must supply them.
	RequiredContextKeys []string
	// Workers is the number of goroutines sealing frames, GOMAXPROCS when zero.
	Workers int
}

// DecryptOptions configure Decrypt. The zero value of each field selects its
// default; Keyring is required.
type DecryptOptions struct {
	// Keyring unwraps the data key.
	Keyring Keyring
	// Materials, instead of Keyring, unwraps the data key: for example a
	// caching materials manager from package envelope/cache.
	Materials MaterialsManager
	// Context is the encryption context the caller expects. Pairs stored in
	// the message must match; pairs not stored are authenticated as the
	// message's required context.
	Context map[string]string
	// CommitmentPolicy is RequireEncryptRequireDecrypt when zero.
	CommitmentPolicy CommitmentPolicy
	// UnsignedOnly refuses signed messages as soon as the header is read, for
	// streaming consumers that must never see plaintext whose signature has
	// not been verified yet.
	UnsignedOnly bool
	// AllowNetV400Messages opens messages written by the AWS Encryption SDK
	// for .NET 4.0.0, whose header authentication differs from the
	// specification in two ways (key derivation without the message id for
	// v1 HKDF suites, and an empty required context serialized as two zero
	// bytes). They are rejected by default, as the specification requires;
	// with this option a message whose header fails authentication is checked
	// once more the way 4.0.0 wrote it, as AWS's own SDKs do.
	AllowNetV400Messages bool
	// MaxEncryptedDataKeys is DefaultMaxEncryptedDataKeys when zero.
	MaxEncryptedDataKeys int
	// MaxHeaderSize is DefaultMaxHeaderSize when zero.
	MaxHeaderSize int
	// MaxFrameLength is DefaultMaxFrameLength when zero.
	MaxFrameLength int
	// MaxNonFramedSize is DefaultMaxNonFramedSize when zero.
	MaxNonFramedSize int64
	// MaxBuffered bounds the bytes of frames a decrypt holds in memory at
	// once, DefaultMaxBuffered when zero. Workers open frames in parallel
	// only as far as it allows: a message that declares 64 MiB frames is
	// opened one frame at a time under the default, whatever Workers says.
	// One frame is always held, so MaxFrameLength bounds memory too.
	MaxBuffered int64
	// Workers is the number of goroutines opening frames, GOMAXPROCS when zero.
	Workers int
}
