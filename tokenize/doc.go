// Package tokenize de-identifies records field by field, so that datasets
// can be used for machine learning without carrying personal data in the
// clear, while staying useful: the same value gets the same token in every
// file (joins and deduplication still work), formats survive where
// downstream code expects them, and authorised jobs can reverse the
// reversible tokens.
//
// A Policy maps fields to operations:
//
//   - deterministic: AES-SIV (tink's deterministic AEAD, computed by
//     package siv with keys read from tink keysets, byte for byte tink's
//     tokens) with the field's domain as associated data; reversible. The token is base64url and
//     names the key that made it, so a rotated Keyset still reads it.
//   - fpe: NIST SP 800-38G FF1 (package ff1) over an alphabet, separators
//     kept in place, optionally the last characters in the clear;
//     reversible. "123-45-6789" becomes another "ddd-dd-dddd". Inputs whose
//     encrypted part has fewer than 1,000,000 possible values are refused.
//   - hash: HMAC-SHA256 pseudonym, truncated; one-way.
//   - mask: keep the last N characters; one-way.
//   - redact: a constant, or the field dropped; one-way.
//   - date-shift: the date moved by a keyed offset per entity (such as a
//     customer id), so that one person's intervals are preserved; one-way.
//   - scan: free text in which the detectors' PII spans are replaced by
//     "<TYPE:token>"; deterministic spans are reversible.
//
// Keys live in a Keyset: tink keysets encrypted with an envelope keyring
// (never written in plaintext). The FF1, hash and date-shift keys are
// derived per domain from a tink HMAC-SHA256 PRF key of the Keyset.
//
// A Tokenizer applies a Policy with a Keyset, to single values
// (TokenizeValue, DetokenizeValue), to streams of CSV or JSON Lines
// records (Tokenize, Detokenize), in parallel with bounded memory and the
// record order kept, rewriting only the policy's fields and copying every
// other byte as it was, and to Parquet files, row groups in parallel
// (TokenizeParquet, DetokenizeParquet). Scan (and ScanParquet) samples records and reports
// the PII it finds per field, and can draft a Policy. FORMAT.md defines the keyset file, the policy file and
// every token format exactly.
package tokenize
