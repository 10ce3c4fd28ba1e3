// Package envelope encrypts and decrypts streams with envelope encryption in
// the AWS Encryption SDK message format, so that what it writes opens in the
// AWS Encryption SDKs for other languages and the other way round.
//
// Each message gets a fresh data key, wrapped by one or more keyrings (raw
// AES and raw RSA keys in envelope/keyring, or any Keyring of your own), and
// is written as a header followed by authenticated frames. Encrypt returns
// a Writer (an io.WriteCloser) and Decrypt a Reader (an io.Reader); frames
// are sealed and opened by a pool of goroutines and written or released in
// order, so memory stays at a few frames whatever the size of the stream;
// on decrypt, at most DecryptOptions.MaxBuffered bytes of frames, whatever
// frame length a message declares.
//
// The data key of a message is cleared from memory once its message key is
// derived, unless it came from a MaterialsManager of the caller's, which may
// share it (a cache does).
//
// Decrypt releases no plaintext before it is authenticated. A message that
// is tampered with, truncated, extended, or opened with the wrong key or
// encryption context fails with an error for which IsIntegrityError is true.
//
// Streams move without extra copies where their source allows. A Writer
// given an *io.SectionReader of a file (io.Copy or Writer.ReadFrom) has its
// workers read the frames they seal with positional reads, so that reading
// the file is spread over the cores as sealing is. A Reader opens each frame
// of an unsigned message where it lies, instead of copying it out first,
// when its source is a BufferedSource such as s3io's object reader, or a
// *bytes.Reader read through Reader.WriteTo (io.Copy). Close a Reader that
// will not be read to the end.
//
// FORMAT.md at the root of the repository says exactly what is written and
// read; SECURITY.md, what hostile input can and cannot do.
package envelope
