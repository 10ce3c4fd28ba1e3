package envelope

import (
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// SuiteID identifies an algorithm suite of the AWS Encryption SDK message
// format by its two-byte id, as it appears in a message header.
type SuiteID uint16

// The algorithm suites of the AWS Encryption SDK specification
// (framework/algorithm-suites.md). mlseal writes only the two key-committing
// suites; it reads all of them, the legacy ones only when the commitment
// policy allows it.
const (
	// AES256GCMHKDFSHA512CommitKey is mlseal's default: key commitment,
	// no signature, so it runs at the speed of AES-GCM.
	AES256GCMHKDFSHA512CommitKey SuiteID = 0x0478
	// AES256GCMHKDFSHA512CommitKeyECDSAP384 adds an ECDSA P-384 signature
	// over the whole message, for readers who must not be able to encrypt.
	AES256GCMHKDFSHA512CommitKeyECDSAP384 SuiteID = 0x0578

	AES256GCMIV12Tag16HKDFSHA384ECDSAP384 SuiteID = 0x0378
	AES192GCMIV12Tag16HKDFSHA384ECDSAP384 SuiteID = 0x0346
	AES128GCMIV12Tag16HKDFSHA256ECDSAP256 SuiteID = 0x0214
	AES256GCMIV12Tag16HKDFSHA256          SuiteID = 0x0178
	AES192GCMIV12Tag16HKDFSHA256          SuiteID = 0x0146
	AES128GCMIV12Tag16HKDFSHA256          SuiteID = 0x0114
	AES256GCMIV12Tag16NoKDF               SuiteID = 0x0078
	AES192GCMIV12Tag16NoKDF               SuiteID = 0x0046
	AES128GCMIV12Tag16NoKDF               SuiteID = 0x0014
)

// DefaultSuite is the suite that Encrypt uses when EncryptOptions.Suite is zero.
const DefaultSuite = AES256GCMHKDFSHA512CommitKey

type kdfKind uint8

const (
	kdfIdentity kdfKind = iota
	kdfHKDF
)

type suiteInfo struct {
	name         string
	version      int // message format version the suite is written with
	keyLen       int // data key and derived encryption key length, bytes
	kdf          kdfKind
	kdfHash      func() hash.Hash
	curve        elliptic.Curve // nil when unsigned
	sigHash      func() hash.Hash
	committing   bool
	commitKeyLen int // bytes of commitment key stored in the header
	suiteDataLen int // algorithm suite data bytes in a v2 header
}

var suites = map[SuiteID]*suiteInfo{
	0x0578: {name: "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", version: 2, keyLen: 32, kdf: kdfHKDF, kdfHash: sha512.New, curve: elliptic.P384(), sigHash: sha512.New384, committing: true, commitKeyLen: 32, suiteDataLen: 32},
	0x0478: {name: "AES_256_GCM_HKDF_SHA512_COMMIT_KEY", version: 2, keyLen: 32, kdf: kdfHKDF, kdfHash: sha512.New, committing: true, commitKeyLen: 32, suiteDataLen: 32},
	0x0378: {name: "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", version: 1, keyLen: 32, kdf: kdfHKDF, kdfHash: sha512.New384, curve: elliptic.P384(), sigHash: sha512.New384},
	0x0346: {name: "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", version: 1, keyLen: 24, kdf: kdfHKDF, kdfHash: sha512.New384, curve: elliptic.P384(), sigHash: sha512.New384},
	0x0214: {name: "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256", version: 1, keyLen: 16, kdf: kdfHKDF, kdfHash: sha256.New, curve: elliptic.P256(), sigHash: sha256.New},
	0x0178: {name: "AES_256_GCM_IV12_TAG16_HKDF_SHA256", version: 1, keyLen: 32, kdf: kdfHKDF, kdfHash: sha256.New},
	0x0146: {name: "AES_192_GCM_IV12_TAG16_HKDF_SHA256", version: 1, keyLen: 24, kdf: kdfHKDF, kdfHash: sha256.New},
	0x0114: {name: "AES_128_GCM_IV12_TAG16_HKDF_SHA256", version: 1, keyLen: 16, kdf: kdfHKDF, kdfHash: sha256.New},
	0x0078: {name: "AES_256_GCM_IV12_TAG16_NO_KDF", version: 1, keyLen: 32, kdf: kdfIdentity},
	0x0046: {name: "AES_192_GCM_IV12_TAG16_NO_KDF", version: 1, keyLen: 24, kdf: kdfIdentity},
	0x0014: {name: "AES_128_GCM_IV12_TAG16_NO_KDF", version: 1, keyLen: 16, kdf: kdfIdentity},
}

func (s SuiteID) info() (*suiteInfo, bool) {
	i, ok := suites[s]
	return i, ok
}

// Known reports whether s is an algorithm suite of the specification.
func (s SuiteID) Known() bool { _, ok := suites[s]; return ok }

// String returns the specification's name of the suite, or its hex id when
// the suite is unknown.
func (s SuiteID) String() string {
	if i, ok := suites[s]; ok {
		return i.name
	}
	return fmt.Sprintf("0x%04X", uint16(s))
}

// DataKeyLen is the length in bytes of the suite's plaintext data key.
func (s SuiteID) DataKeyLen() int {
	if i, ok := suites[s]; ok {
		return i.keyLen
	}
	return 0
}

// Signed reports whether messages of the suite end with an ECDSA signature.
func (s SuiteID) Signed() bool {
	i, ok := suites[s]
	return ok && i.curve != nil
}

// Committing reports whether the suite commits the message to its data key,
// so that a message decrypts to one plaintext only.
func (s SuiteID) Committing() bool {
	i, ok := suites[s]
	return ok && i.committing
}

// MessageVersion is the message format version written with the suite (1 or 2).
func (s SuiteID) MessageVersion() int {
	if i, ok := suites[s]; ok {
		return i.version
	}
	return 0
}

// ParseSuite accepts a suite's specification name (with or without the
// ALG_ prefix some SDKs use) or its hex id such as "0x0478".
func ParseSuite(name string) (SuiteID, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if strings.HasPrefix(n, "0X") {
		v, err := strconv.ParseUint(n[2:], 16, 16)
		if err == nil && SuiteID(v).Known() {
			return SuiteID(v), nil
		}
	}
	n = strings.TrimPrefix(n, "ALG_")
	for id, i := range suites {
		if i.name == n {
			return id, nil
		}
	}
	return 0, fmt.Errorf("envelope: unknown algorithm suite %q: use a name such as %s or a hex id such as 0x%04X", name, DefaultSuite, uint16(DefaultSuite))
}
