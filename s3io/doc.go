// Package s3io will encrypt on upload and decrypt on download to and from
// Amazon S3 through the AWS SDK's transfer manager, give random access into
// encrypted objects, and shard dataset-scale jobs over existing engines.
//
// Nothing is implemented yet; see the project's issues.
package s3io
