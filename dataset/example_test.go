package dataset_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/cache"
	"github.com/mlseal/mlseal/envelope/keyring/awskms"
)

// A data-prep job that encrypts an S3 prefix into another prefix under a
// KMS key. The manifest lets a rerun (after a crash, a kill, a spot
// instance reclaimed) skip what is done; the cache makes the whole batch
// cost one GenerateDataKey per 5 minutes, however many objects run in
// parallel. (It needs AWS credentials and the buckets, so it is not run
// here.)
func Example() {
	ctx := context.Background()
	kr, err := awskms.New("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", awskms.Options{Timeout: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	mm, err := cache.New(envelope.DefaultMaterials(kr), cache.Options{MaxAge: 5 * time.Minute, MaxMessages: 10000})
	if err != nil {
		log.Fatal(err)
	}
	sum, err := dataset.Run(ctx, dataset.Options{
		Sources:     []dataset.Source{"s3://raw-data/reviews/2026-11/"},
		Destination: "s3://sealed-data/reviews/2026-11/",
		Operation:   &dataset.Encrypt{Options: envelope.EncryptOptions{Materials: mm, Context: map[string]string{"dataset": "reviews"}}},
		Manifest:    "s3://sealed-data/jobs/reviews-2026-11.jsonl",
		Jobs:        16,
	})
	if err != nil {
		log.Fatal(err) // a *dataset.BatchError when some objects failed: the manifest says which
	}
	log.Printf("encrypted %d objects (%d done earlier) in %s", sum.Done, sum.Skipped, sum.Elapsed)
}

// The same job on local directories, run twice: the second run finds
// everything done in the manifest.
func Example_resume() {
	dir, _ := os.MkdirTemp("", "dataset-example-")
	defer os.RemoveAll(dir)
	for _, name := range []string{"a.csv", "b.csv", "sub/c.csv"} {
		os.MkdirAll(filepath.Join(dir, "raw", filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(dir, "raw", name), []byte("id,name\n1,Ada\n"), 0o644)
	}
	opts := dataset.Options{
		Sources:     []dataset.Source{dataset.Source(filepath.Join(dir, "raw"))},
		Destination: dataset.Destination(filepath.Join(dir, "sealed")),
		Operation:   &dataset.Encrypt{Options: envelope.EncryptOptions{Keyring: exampleKeyring()}},
		Manifest:    filepath.Join(dir, "job.jsonl"),
	}
	for range 2 {
		sum, err := dataset.Run(context.Background(), opts)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("done %d, skipped %d of %d\n", sum.Done, sum.Skipped, sum.Total)
	}
	// Output:
	// done 3, skipped 0 of 3
	// done 0, skipped 3 of 3
}
