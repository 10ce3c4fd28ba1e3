package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// publicKeyContextKey holds the message's signature verification key in the
// encryption context of signed suites.
const publicKeyContextKey = "aws-crypto-public-key"

// reservedPrefix starts encryption context keys that only the format may set.
const reservedPrefix = "aws-crypto-"

// messageKey derives the key that encrypts a message's header tag and body
// from the data key, and for committing suites the commitment key stored in
// the header (framework/algorithm-suites.md).
//
// omitMessageID reproduces the AWS Encryption SDK for .NET 4.0.0, which left
// the message id out of the HKDF info of version 1 suites.
func messageKey(suite SuiteID, dataKey, messageID []byte, omitMessageID bool) (aead cipher.AEAD, commitKey []byte, err error) {
	info, _ := suite.info()
	if len(dataKey) != info.keyLen {
		return nil, nil, fmt.Errorf("data key is %d bytes, suite %s needs %d", len(dataKey), suite, info.keyLen)
	}
	var id [2]byte
	binary.BigEndian.PutUint16(id[:], uint16(suite))
	key := dataKey
	switch {
	case info.committing:
		// Both keys expand one pseudorandom key: extract once.
		var prk []byte
		if prk, err = hkdf.Extract(info.kdfHash, dataKey, messageID); err != nil {
			break
		}
		if key, err = hkdf.Expand(info.kdfHash, prk, string(id[:])+"DERIVEKEY", info.keyLen); err == nil {
			commitKey, err = hkdf.Expand(info.kdfHash, prk, "COMMITKEY", info.commitKeyLen)
		}
		clear(prk)
	case info.kdf == kdfHKDF:
		kdfInfo := string(id[:]) + string(messageID)
		if omitMessageID {
			kdfInfo = string(id[:])
		}
		key, err = hkdf.Key(info.kdfHash, dataKey, nil, kdfInfo, info.keyLen)
	}
	if err != nil {
		return nil, nil, err
	}
	block, err := aes.NewCipher(key)
	// The cipher keeps its own expansion of the key: the derived key and
	// the pseudorandom key it came from are no longer needed. (The data key
	// itself is the caller's to clear.)
	if info.kdf != kdfIdentity {
		clear(key)
	}
	if err != nil {
		return nil, nil, err
	}
	aead, err = cipher.NewGCM(block)
	return aead, commitKey, err
}

// checkCommitment compares the commitment key derived from the data key with
// the one stored in the header, in constant time.
func checkCommitment(derived, stored []byte) error {
	if subtle.ConstantTimeCompare(derived, stored) != 1 {
		return fmt.Errorf("%w: the data key does not match the key commitment in the header", ErrAuthentication)
	}
	return nil
}

// encodePublicKey returns the compressed SEC 1 point, base64-encoded, as the
// specification stores it in the encryption context.
func encodePublicKey(pub *ecdsa.PublicKey) (string, error) {
	b, err := pub.Bytes() // uncompressed: 0x04 || X || Y
	if err != nil {
		return "", err
	}
	n := (len(b) - 1) / 2
	compressed := append([]byte{0x02 | b[len(b)-1]&1}, b[1:1+n]...)
	return base64.StdEncoding.EncodeToString(compressed), nil
}

func decodePublicKey(curve elliptic.Curve, s string) (*ecdsa.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: signature public key is not base64", ErrMalformed)
	}
	x, y := elliptic.UnmarshalCompressed(curve, b)
	if x == nil {
		return nil, fmt.Errorf("%w: signature public key is not a compressed %s point", ErrMalformed, curve.Params().Name)
	}
	n := (curve.Params().BitSize + 7) / 8
	uncompressed := make([]byte, 1+2*n)
	uncompressed[0] = 0x04
	x.FillBytes(uncompressed[1 : 1+n])
	y.FillBytes(uncompressed[1+n:])
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, uncompressed)
	if err != nil {
		return nil, fmt.Errorf("%w: signature public key: %v", ErrMalformed, err)
	}
	return pub, nil
}
