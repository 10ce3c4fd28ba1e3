// Package dataset runs one operation (encrypt, decrypt, verify, tokenize,
// detokenize, ...) over every item of a dataset: local files and directory
// trees, S3 objects and prefixes, or a single stream. It is the engine
// behind the mlseal command's batches, and a Go data-prep job or a Beam
// pipeline can use it the same way.
//
// A job is described by Options: the sources, the destination and the
// Operation. Plan lists the items, each with a relative name that has been
// checked before anything is opened (no "..", no absolute paths, no NUL,
// no two items writing the same output), and Run processes them:
//
//   - Jobs items run in parallel, for local files as for S3 objects. The
//     operation's options are shared, so a caching materials manager (see
//     envelope/cache) serves every item from one data key.
//   - A manifest (a local JSON-lines file, or an s3:// object) records each
//     item's Result; a rerun with the same manifest skips what an earlier
//     run completed, and recognises an S3 output that a killed run wrote
//     but did not record (by the source version stored in its metadata).
//     It also records the job's settings (see Configured): a rerun with
//     other keys, context or suite is refused unless Overwrite redoes the
//     items. A batch stopped early ends the manifest with a "stopped" line.
//   - Shard splits the items between independent workers by a stable hash
//     of their names.
//   - Each item can have a deadline (ItemTimeout), and a transfer that moves
//     no bytes for StallTimeout is cancelled and tried again, up to Retries
//     times.
//   - A batch whose key service or object store stops answering stops at
//     the first item that fails for that reason (ErrUnavailable), instead
//     of waiting out a timeout per item; the Summary says why it stopped.
//   - Events report progress and each item's Result as they happen, for a
//     progress bar, metrics or an audit trail.
//
// Outputs appear only complete: local files are written to a temporary file
// in the same directory and renamed (package atomicfile), S3 objects are multipart uploads that
// are aborted on failure. Local outputs never leave the destination
// directory, whatever the names of the inputs, and are created through an
// os.Root so that a symbolic link cannot redirect them.
//
// Memory: each item in flight holds its operation's buffers (the envelope's
// frames, about frame length x (workers + 4)) and, for S3, the transfers'
// parts: an upload holds up to PartSize x (Concurrency + 1) and so does a
// download, so a job of Jobs items from S3 to S3 holds up to
// Jobs x 2 x PartSize x (Concurrency + 1) plus the frames. With the defaults
// (8 MiB parts, concurrency 5, 4 jobs) that is 384 MiB at most; measured
// peaks are in README.md.
package dataset
