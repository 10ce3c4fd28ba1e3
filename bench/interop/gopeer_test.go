package interop_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	mpl "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygenerated"
	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	esdk "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygenerated"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"
)

// goPeer is the AWS Encryption SDK for Go with the raw keyrings of the
// Material Providers Library. Its API takes and returns whole byte slices.
type goPeer struct {
	mpl *mpl.Client

	mu      sync.Mutex
	clients map[string]*esdk.Client // by commitment policy
}

var (
	goPeerOnce sync.Once
	goPeerVal  *goPeer
	goPeerErr  error
)

func newGoPeer() (*goPeer, error) {
	goPeerOnce.Do(func() {
		m, err := mpl.NewClient(mpltypes.MaterialProvidersConfig{})
		if err != nil {
			goPeerErr = err
			return
		}
		goPeerVal = &goPeer{mpl: m, clients: map[string]*esdk.Client{}}
	})
	return goPeerVal, goPeerErr
}

func (p *goPeer) Name() string { return "go" }

func (p *goPeer) Supports(k wrapKey, decrypt bool) bool { return true }

func (p *goPeer) client(policy string) (*esdk.Client, error) {
	if policy == "" {
		policy = requireRequire
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.clients[policy]; c != nil {
		return c, nil
	}
	cp := mpltypes.ESDKCommitmentPolicy(policy)
	// The retry opens messages whose header authentication fails the
	// specification's way, as the .NET ESDK 4.0.0 wrote them; mlseal's
	// messages must never need it.
	retry := esdktypes.NetV4_0_0_RetryPolicyForbidRetry
	c, err := esdk.NewClient(esdktypes.AwsEncryptionSdkConfig{CommitmentPolicy: &cp, NetV4_0_0_RetryPolicy: &retry})
	if err != nil {
		return nil, err
	}
	p.clients[policy] = c
	return c, nil
}

var goPaddings = map[string]mpltypes.PaddingScheme{
	"pkcs1":       mpltypes.PaddingSchemePkcs1,
	"oaep-sha1":   mpltypes.PaddingSchemeOaepSha1Mgf1,
	"oaep-sha256": mpltypes.PaddingSchemeOaepSha256Mgf1,
	"oaep-sha384": mpltypes.PaddingSchemeOaepSha384Mgf1,
	"oaep-sha512": mpltypes.PaddingSchemeOaepSha512Mgf1,
}

func (p *goPeer) keyring(ctx context.Context, k wrapKey) (mpltypes.IKeyring, error) {
	switch k.Kind {
	case "aes":
		var alg mpltypes.AesWrappingAlg
		switch len(k.AES) {
		case 16:
			alg = mpltypes.AesWrappingAlgAlgAes128GcmIv12Tag16
		case 24:
			alg = mpltypes.AesWrappingAlgAlgAes192GcmIv12Tag16
		case 32:
			alg = mpltypes.AesWrappingAlgAlgAes256GcmIv12Tag16
		default:
			return nil, fmt.Errorf("AES key of %d bytes", len(k.AES))
		}
		return p.mpl.CreateRawAesKeyring(ctx, mpltypes.CreateRawAesKeyringInput{
			KeyNamespace: k.Namespace, KeyName: k.Name, WrappingAlg: alg,
			WrappingKey: append([]byte(nil), k.AES...),
		})
	case "rsa":
		pad, ok := goPaddings[k.Padding]
		if !ok {
			return nil, fmt.Errorf("RSA padding %q", k.Padding)
		}
		return p.mpl.CreateRawRsaKeyring(ctx, mpltypes.CreateRawRsaKeyringInput{
			KeyNamespace: k.Namespace, KeyName: k.Name, PaddingScheme: pad,
			PublicKey: []byte(k.publicPEM()), PrivateKey: []byte(k.privatePEM()),
		})
	}
	return nil, fmt.Errorf("key kind %q", k.Kind)
}

// materials returns the keyring for keys (a multi-keyring whose first key
// generates the data key when there are several), or a required encryption
// context CMM around it when required is not nil. One of the two is nil.
func (p *goPeer) materials(ctx context.Context, keys []wrapKey, required []string) (mpltypes.IKeyring, mpltypes.ICryptographicMaterialsManager, error) {
	var rings []mpltypes.IKeyring
	for _, k := range keys {
		r, err := p.keyring(ctx, k)
		if err != nil {
			return nil, nil, err
		}
		rings = append(rings, r)
	}
	var ring mpltypes.IKeyring
	switch len(rings) {
	case 0:
		return nil, nil, fmt.Errorf("no keys")
	case 1:
		ring = rings[0]
	default:
		var err error
		ring, err = p.mpl.CreateMultiKeyring(ctx, mpltypes.CreateMultiKeyringInput{Generator: rings[0], ChildKeyrings: rings[1:]})
		if err != nil {
			return nil, nil, err
		}
	}
	if required == nil {
		return ring, nil, nil
	}
	// The MPL's required encryption context CMM takes an underlying CMM
	// only (v0.4.0: "currently only supports cmm"), not a keyring.
	def, err := p.mpl.CreateDefaultCryptographicMaterialsManager(ctx, mpltypes.CreateDefaultCryptographicMaterialsManagerInput{Keyring: ring})
	if err != nil {
		return nil, nil, err
	}
	cmm, err := p.mpl.CreateRequiredEncryptionContextCMM(ctx, mpltypes.CreateRequiredEncryptionContextCMMInput{
		UnderlyingCMM: def, RequiredEncryptionContextKeys: required,
	})
	return nil, cmm, err
}

func (p *goPeer) Run(t *testing.T, encs []*encJob, decs []*decJob) {
	ctx := context.Background()
	for _, j := range encs {
		j.Ciphertext, j.Err = p.encrypt(ctx, j)
		if j.Err != nil {
			j.Err = fmt.Errorf("Go ESDK encrypt: %w", j.Err)
		}
	}
	for _, j := range decs {
		if j.Err = p.decrypt(ctx, j); j.Err != nil {
			j.Err = fmt.Errorf("Go ESDK decrypt: %w", j.Err)
		}
	}
}

func (p *goPeer) encrypt(ctx context.Context, j *encJob) ([]byte, error) {
	c, err := p.client(j.Policy)
	if err != nil {
		return nil, err
	}
	ring, cmm, err := p.materials(ctx, j.Keys, j.RequiredKeys)
	if err != nil {
		return nil, err
	}
	in := esdktypes.EncryptInput{Plaintext: j.Plaintext, EncryptionContext: j.Context, Keyring: ring, MaterialsManager: cmm}
	if in.EncryptionContext == nil {
		in.EncryptionContext = map[string]string{}
	}
	if j.Suite != 0 {
		id := mpltypes.ESDKAlgorithmSuiteId(fmt.Sprintf("0x%04X", j.Suite))
		in.AlgorithmSuiteId = &id
	}
	if j.FrameLength != 0 {
		n := int64(j.FrameLength)
		in.FrameLength = &n
	}
	out, err := c.Encrypt(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.Ciphertext, nil
}

func (p *goPeer) decrypt(ctx context.Context, j *decJob) error {
	c, err := p.client(j.Policy)
	if err != nil {
		return err
	}
	ring, cmm, err := p.materials(ctx, j.Keys, j.RequiredKeys)
	if err != nil {
		return err
	}
	out, err := c.Decrypt(ctx, esdktypes.DecryptInput{
		Ciphertext: j.Ciphertext, EncryptionContext: j.Context, Keyring: ring, MaterialsManager: cmm,
	})
	if err != nil {
		return err
	}
	suite, err := strconv.ParseUint(strings.TrimPrefix(string(out.AlgorithmSuiteId), "0x"), 16, 16)
	if err != nil {
		return fmt.Errorf("suite %q: %v", out.AlgorithmSuiteId, err)
	}
	j.Plaintext, j.Suite, j.PeerContext = out.Plaintext, uint16(suite), out.EncryptionContext
	return nil
}
