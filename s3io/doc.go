// Package s3io moves data to and from Amazon S3 (or any S3-compatible
// server, such as MinIO) encrypted on the client side, in the AWS Encryption
// SDK message format that package envelope writes.
//
//   - Client.Upload encrypts a plaintext io.Reader as it streams into a
//     multipart upload with parallel parts. Memory is bounded by
//     PartSize x (Concurrency + 1) plus the envelope's few frames, whatever
//     the length of the stream. A failed upload aborts its multipart upload,
//     so no object becomes visible and no parts are left behind.
//   - Client.Download returns an io.ReadCloser of plaintext: it fetches
//     ranges of the object in parallel and decrypts as it streams, releasing
//     each frame only once it is authenticated.
//   - Client.OpenReaderAt gives random access (an io.ReaderAt) into the
//     plaintext of an encrypted object, fetching only the header and the
//     frames that cover each read.
//   - Client.Put and Client.Get do the same streaming without encryption;
//     Client.Create returns an ObjectWriter for code that writes rather
//     than hands over a reader (Commit completes it, Abort discards it).
//   - An upload whose multipart upload cannot be aborted fails with an
//     *AbortError naming its bucket, key and upload id, and
//     Client.Uploads lists the uploads in flight, for a program that must
//     leave without waiting for them.
//
// Uploads go through the AWS SDK's transfer manager
// (feature/s3/transfermanager), kept behind this package's own narrow API
// since the transfer manager is still at v0; nothing of it appears in the
// API here. The S3 calls go through API, the subset of *s3.Client this
// package uses, so that tests can wrap or replace it.
//
// NewFromConfig builds a client from the standard AWS configuration
// (environment, shared files, profiles; AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL and a profile's endpoint_url), with path-style addressing
// on automatically for IP-address and localhost endpoints, or when asked by
// Config.PathStyle or MLSEAL_S3_PATH_STYLE=1, so that MinIO and other
// on-premises servers work without code.
//
// Encrypted objects carry user metadata saying so (MetaFormat and friends);
// nothing secret is stored in metadata.
package s3io
