package throughput

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"
	"sync"
	"testing"

	"filippo.io/age"
	mpl "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygenerated"
	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	esdk "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygenerated"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"
	"github.com/minio/sio"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/streamingaead"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
)

var ctx = context.Background()

// The wrapping key, shared by mlseal and the AWS Encryption SDK for Go, so
// that each can open the other's messages (the round-trip test does).
var (
	wrappingKey = []byte("mlseal benchmark wrapping key 32")
	keyNS       = "mlseal-bench"
	keyName     = "aes-256"
)

// An encrypter opens a streaming encryptor over dst; Close finishes the
// message without closing dst.
type encrypter func(dst io.Writer) (io.WriteCloser, error)

// mlsealKeyring is the raw AES keyring every mlseal case uses.
var mlsealKeyring = sync.OnceValues(func() (envelope.Keyring, error) {
	return rawaes.New(keyNS, keyName, wrappingKey)
})

func mlsealEncrypter(tb testing.TB, suite envelope.SuiteID, frameLen, workers int) encrypter {
	kr, err := mlsealKeyring()
	if err != nil {
		tb.Fatal(err)
	}
	opts := envelope.EncryptOptions{Keyring: kr, Suite: suite, FrameLength: frameLen, Workers: workers}
	return func(dst io.Writer) (io.WriteCloser, error) { return envelope.Encrypt(ctx, dst, opts) }
}

func mlsealDecrypt(tb testing.TB, workers int) func(src io.Reader) (*envelope.Reader, error) {
	kr, err := mlsealKeyring()
	if err != nil {
		tb.Fatal(err)
	}
	opts := envelope.DecryptOptions{Keyring: kr, Workers: workers}
	return func(src io.Reader) (*envelope.Reader, error) { return envelope.Decrypt(ctx, src, opts) }
}

// cachedKey is a materials manager that hands every message the same
// materials: a data key obtained once from the keyring, as a data-key cache
// does between refreshes. (Package envelope/cache, when it exists, is the
// product's own.) Its materials are only read by Encrypt, so sharing them is
// allowed by the MaterialsManager contract.
type cachedKey struct {
	m   *envelope.EncryptionMaterials
	dec envelope.MaterialsManager
}

func newCachedKey(tb testing.TB, suite envelope.SuiteID) *cachedKey {
	kr, err := mlsealKeyring()
	if err != nil {
		tb.Fatal(err)
	}
	def := envelope.DefaultMaterials(kr)
	m, err := def.GetEncryptionMaterials(ctx, envelope.EncryptionMaterialsRequest{Suite: suite, PlaintextLength: -1})
	if err != nil {
		tb.Fatal(err)
	}
	return &cachedKey{m: m, dec: def}
}

func (c *cachedKey) GetEncryptionMaterials(_ context.Context, req envelope.EncryptionMaterialsRequest) (*envelope.EncryptionMaterials, error) {
	if req.Suite != c.m.Suite || len(req.Context) > 0 || len(req.RequiredContextKeys) > 0 {
		return nil, fmt.Errorf("cachedKey holds materials for suite %s with no context only", c.m.Suite)
	}
	return c.m, nil
}

func (c *cachedKey) DecryptMaterials(ctx context.Context, req envelope.DecryptionMaterialsRequest) (*envelope.DecryptionMaterials, error) {
	return c.dec.DecryptMaterials(ctx, req)
}

// tinkEncrypter is Tink's streaming AEAD AES256_GCM_HKDF_1MB: 1 MiB
// segments, one key derived per stream with HKDF.
func tinkEncrypter(tb testing.TB) (encrypter, tink.StreamingAEAD) {
	h, err := keyset.NewHandle(streamingaead.AES256GCMHKDF1MBKeyTemplate())
	if err != nil {
		tb.Fatal(err)
	}
	a, err := streamingaead.New(h)
	if err != nil {
		tb.Fatal(err)
	}
	return func(dst io.Writer) (io.WriteCloser, error) { return a.NewEncryptingWriter(dst, nil) }, a
}

// ageEncrypter is age to one X25519 recipient: ChaCha20-Poly1305 over
// 64 KiB chunks.
func ageEncrypter(tb testing.TB) (encrypter, *age.X25519Identity) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		tb.Fatal(err)
	}
	r := id.Recipient()
	return func(dst io.Writer) (io.WriteCloser, error) { return age.Encrypt(dst, r) }, id
}

// sioConfig is sio's DARE 2.0 with AES-256-GCM over 64 KiB packages.
var sioConfig = sio.Config{
	MinVersion:   sio.Version20,
	MaxVersion:   sio.Version20,
	CipherSuites: []byte{sio.AES_256_GCM},
	Key:          wrappingKey,
}

func sioEncrypter(dst io.Writer) (io.WriteCloser, error) { return sio.EncryptWriter(dst, sioConfig) }

// esdkPeer is the AWS Encryption SDK for Go (byte slices only) with a raw
// AES keyring of the Material Providers Library.
type esdkPeer struct {
	client  *esdk.Client
	keyring mpltypes.IKeyring
}

var newESDK = sync.OnceValues(func() (*esdkPeer, error) {
	m, err := mpl.NewClient(mpltypes.MaterialProvidersConfig{})
	if err != nil {
		return nil, err
	}
	ring, err := m.CreateRawAesKeyring(ctx, mpltypes.CreateRawAesKeyringInput{
		KeyNamespace: keyNS, KeyName: keyName,
		WrappingAlg: mpltypes.AesWrappingAlgAlgAes256GcmIv12Tag16,
		WrappingKey: append([]byte(nil), wrappingKey...),
	})
	if err != nil {
		return nil, err
	}
	// An empty configuration: the SDK's defaults (commitment required).
	c, err := esdk.NewClient(esdktypes.AwsEncryptionSdkConfig{})
	if err != nil {
		return nil, err
	}
	return &esdkPeer{client: c, keyring: ring}, nil
})

// esdkEncrypter encrypts with the AWS Encryption SDK for Go; suite and
// frameLen zero leave its defaults (0x0578 and 4096-byte frames).
func esdkEncrypter(tb testing.TB, suite envelope.SuiteID, frameLen int) func(pt []byte) ([]byte, error) {
	p, err := newESDK()
	if err != nil {
		tb.Fatal(err)
	}
	in := esdktypes.EncryptInput{EncryptionContext: map[string]string{}, Keyring: p.keyring}
	if suite != 0 {
		id := mpltypes.ESDKAlgorithmSuiteId(fmt.Sprintf("0x%04X", uint16(suite)))
		in.AlgorithmSuiteId = &id
	}
	if frameLen != 0 {
		n := int64(frameLen)
		in.FrameLength = &n
	}
	return func(pt []byte) ([]byte, error) {
		in := in
		in.Plaintext = pt
		out, err := p.client.Encrypt(ctx, in)
		if err != nil {
			return nil, err
		}
		return out.Ciphertext, nil
	}
}

// newGCM returns AES-256-GCM under a fixed key: the raw limit.
func newGCM(tb testing.TB) cipher.AEAD {
	block, err := aes.NewCipher(wrappingKey)
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return aead
}
