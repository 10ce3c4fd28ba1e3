// Package interop holds mlseal's interoperability tests against other
// implementations of the AWS Encryption SDK message format (version 2):
//
//   - the AWS Encryption SDK for Go (github.com/aws/aws-encryption-sdk,
//     releases/go/encryption-sdk), with raw AES and raw RSA keyrings from the
//     AWS Cryptographic Material Providers Library; it is a module
//     dependency of bench/, so it is always there;
//   - the AWS Encryption SDK for JavaScript (@aws-crypto/client-node), run
//     with node through js/esdk.mjs. Install it with setup.sh (npm ci).
//     Without node or js/node_modules its tests skip, or fail when the
//     environment variable CI is "true".
//
// Each test checks both directions, mlseal encrypts and the peer decrypts,
// and the peer encrypts and mlseal decrypts, and compares the plaintext
// byte for byte. The package has no code of its own: everything is in its
// tests.
package interop
