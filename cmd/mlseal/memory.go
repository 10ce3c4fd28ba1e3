package main

import (
	"os"
	"runtime/debug"
	"slices"

	"github.com/mlseal/mlseal/s3io"
)

// limitMemory sets a soft memory limit for a dataset job that moves data
// through S3, unless GOMEMLIMIT is set. Such a job's live memory is mostly
// its transfer buffers, part size x (concurrency + 1) per upload and per
// download in flight, and without a limit Go lets the heap grow to twice
// what is live (GOGC=100): measured, a 4 x 256 MiB S3-to-S3 decrypt peaked
// at 242 MiB at --jobs 1 for 96 MiB of buffers. The limit is those buffers
// plus a quarter and 64 MiB for everything else; the collector works
// harder near it rather than let the heap double. (Parts grow past
// --s3-part-size for objects over 10,000 parts; the limit is soft, so that
// costs collector time, not failures.)
func limitMemory(f *datasetFlags, args []string, out string) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	transfers := int64(0)
	if isS3(out) {
		transfers++
	}
	if slices.ContainsFunc(args, isS3) {
		transfers++
	}
	if transfers == 0 {
		return
	}
	part, conc := f.partSize, int64(f.concurrency)
	if part <= 0 {
		part = s3io.DefaultPartSize
	}
	if conc <= 0 {
		conc = s3io.DefaultConcurrency
	}
	buffers := int64(f.jobs) * transfers * part * (conc + 1)
	debug.SetMemoryLimit(buffers + buffers/4 + 64<<20)
}
