// Package tokenize will de-identify records field by field: deterministic,
// reversible tokens (AES-SIV through tink), format-preserving encryption
// (NIST SP 800-38G FF1), keyed hashes, masking, redaction and date shifting
// for CSV, JSON Lines and Parquet, with a scanner that finds PII columns.
//
// Nothing is implemented yet; see the project's issues.
package tokenize
