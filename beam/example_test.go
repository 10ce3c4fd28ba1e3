package beam_test

import (
	"context"
	"log"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3" // the report goes to S3
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	mbeam "github.com/mlseal/mlseal/beam"
)

// A pipeline that encrypts a prefix of objects into another under a KMS
// key, writes one JSON line per object to a report, and counts what it
// did. Run it with beamx.Run: on Prism by default, or with --runner.
func ExampleEncryptFiles() {
	p, s := beam.NewPipelineWithRoot()
	names := beam.Create(s, "s3://ml-raw/train/")
	results := mbeam.EncryptFiles(s, names, mbeam.EncryptOptions{
		Files:   mbeam.Files{Output: "s3://ml-enc/train/"},
		Keys:    mbeam.Keys{Refs: []string{"kms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
		Context: map[string]string{"dataset": "train"},
	})
	textio.Write(s, "s3://ml-enc/reports/train.jsonl", mbeam.ResultsJSON(s, results))
	mbeam.CountResults(s, results)
	if err := beamx.Run(context.Background(), p); err != nil {
		log.Fatal(err)
	}
}
