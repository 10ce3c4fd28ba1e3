// Command mlseal-beam runs an mlseal operation over a dataset as an Apache
// Beam pipeline: on the Prism runner inside this process by default, or on
// Dataflow, Flink or Spark with Beam's --runner flags.
//
//	mlseal-beam --op tokenize --policy policy.json --keyset tokens.keyset --key team.key \
//	    --input 'data/*.csv' --output tokenized/
//
// Keys are passed as references (key files, kms:KEY, secretsmanager://...):
// each worker loads them itself, so no key material enters the pipeline
// that is sent to a runner. See the Beam section of the project's README
// for the runners' flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3" // s3:// globs and --results
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	mbeam "github.com/mlseal/mlseal/beam"
	"github.com/mlseal/mlseal/envelope/keyfile"
	"github.com/mlseal/mlseal/tokenize"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

var (
	op           = flag.String("op", "", "operation: encrypt, decrypt, rewrap, tokenize or detokenize")
	input        = flag.String("input", "", "inputs: a glob (data/*.csv, s3://bucket/raw/*.jsonl), a file, a directory or an s3:// prefix")
	output       = flag.String("output", "", "output directory or s3:// prefix")
	policy       = flag.String("policy", "", "tokenize: policy `FILE` (JSON), read here and carried in the pipeline")
	keyset       = flag.String("keyset", "", "tokenize: token keyset `FILE` or s3:// object, read by the workers")
	format       = flag.String("format", "", "tokenize: record format csv, jsonl or parquet (default: from each input's extension)")
	region       = flag.String("aws_region", "", "AWS `REGION` of KMS keys named without an ARN, Secrets Manager and S3 (default: AWS_REGION)")
	kmsEndpoint  = flag.String("kms_endpoint", "", "AWS KMS endpoint `URL` (default: AWS_ENDPOINT_URL_KMS or the profile's)")
	kmsTimeout   = flag.Duration("kms_timeout", mbeam.DefaultKMSTimeout, "give up on an AWS KMS call, retries included, after `DURATION`")
	force        = flag.Bool("force", false, "replace existing outputs")
	failFast     = flag.Bool("fail_on_error", false, "fail the pipeline on the first failed item, instead of reporting it")
	results      = flag.String("results", "", "write one JSON line per item to `FILE` (local or s3://)")
	suffix       = flag.String("suffix", "", "encrypt: added to output names; decrypt: removed from them (default .enc)")
	signed       = flag.Bool("signed", false, "encrypt: sign the messages (suite 0x0578, ECDSA P-384)")
	unsignedOnly = flag.Bool("unsigned_only", false, "decrypt: refuse signed messages before releasing anything")
	allowLegacy  = flag.Bool("allow_legacy", false, "decrypt: read messages of the suites without key commitment")

	keys, oldKeys, contextPairs, requiredKeys list
)

func init() {
	flag.Var(&keys, "key", "key `REF` (repeatable): a key file, kms:KEY or secretsmanager://NAME; rewrap: the new keys")
	flag.Var(&oldKeys, "old_key", "rewrap: key `REF` that unwraps the data keys now (repeatable)")
	flag.Var(&contextPairs, "context", "encryption context `KEY=VALUE` (repeatable)")
	flag.Var(&requiredKeys, "require_context_key", "encrypt: authenticate context `KEY` without storing it (repeatable)")
	register.Function1x1(metadataPath)
}

func metadataPath(m fileio.FileMetadata) string { return m.Path }

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mlseal-beam --op OP --input IN --output OUT --key REF [flags]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	beam.Init()
	if err := run(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "mlseal-beam: error: %v\n", err)
		var failed *failedItems
		if errors.As(err, &failed) {
			os.Exit(4)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	if *input == "" || *output == "" {
		return errors.New("--input and --output are required")
	}
	refs := func(l list) mbeam.Keys {
		return mbeam.Keys{Refs: l, Region: *region, KMSEndpoint: *kmsEndpoint, KMSTimeout: *kmsTimeout}
	}
	kc, err := parseContext(contextPairs)
	if err != nil {
		return err
	}
	if err := defaultKey(); err != nil {
		return err
	}
	files := mbeam.Files{Output: *output, Overwrite: *force, FailOnError: *failFast, Storage: mbeam.Storage{S3Region: *region}}
	p, s := beam.NewPipelineWithRoot()
	names := inputs(s, *input)
	var res beam.PCollection
	switch *op {
	case "encrypt":
		res = mbeam.EncryptFiles(s, names, mbeam.EncryptOptions{Files: files, Keys: refs(keys), Context: kc,
			RequiredContextKeys: requiredKeys, Signed: *signed, Suffix: *suffix})
	case "decrypt":
		res = mbeam.DecryptFiles(s, names, mbeam.DecryptOptions{Files: files, Keys: refs(keys), Context: kc,
			UnsignedOnly: *unsignedOnly, AllowLegacy: *allowLegacy, Suffix: *suffix})
	case "rewrap":
		res = mbeam.RewrapFiles(s, names, mbeam.RewrapOptions{Files: files, OldKeys: refs(oldKeys), NewKeys: refs(keys), Context: kc})
	case "tokenize", "detokenize":
		if *policy == "" || *keyset == "" {
			return fmt.Errorf("--op %s needs --policy FILE and --keyset FILE", *op)
		}
		pol, err := tokenize.LoadPolicy(*policy)
		if err != nil {
			return err
		}
		opts := mbeam.FileOptions{Files: files, Policy: pol, Keys: mbeam.TokenKeys{Keyset: *keyset, Keys: refs(keys)}, Format: tokenize.Format(*format)}
		if *op == "tokenize" {
			res = mbeam.TokenizeFiles(s, names, opts)
		} else {
			res = mbeam.DetokenizeFiles(s, names, opts)
		}
	case "":
		return errors.New("--op is required: encrypt, decrypt, rewrap, tokenize or detokenize")
	default:
		return fmt.Errorf("unknown --op %q: want encrypt, decrypt, rewrap, tokenize or detokenize", *op)
	}
	if *results != "" {
		textio.Write(s, *results, mbeam.ResultsJSON(s, res))
	}
	mbeam.CountResults(s, res)

	start := time.Now()
	pr, err := beamx.RunWithMetrics(ctx, p)
	if err != nil {
		return err
	}
	return summarize(pr, time.Since(start))
}

// inputs is the PCollection of input names: the files a glob matches,
// listed by the runner, or else the file, directory or prefix itself,
// which a worker expands with the dataset engine (a directory's tree is
// mirrored under --output).
func inputs(s beam.Scope, in string) beam.PCollection {
	if strings.ContainsAny(in, "*?[") {
		return beam.ParDo(s, metadataPath, fileio.MatchFiles(s, in))
	}
	return beam.Create(s, in)
}

// defaultKey names the mlseal command's default key when encrypt or
// decrypt is given no --key, as the command does: created on first use by
// encrypt, never by decrypt. It is a local file, so it serves the Prism
// runner (and workers that share this machine's files) only.
func defaultKey() error {
	if len(keys) > 0 || *op != "encrypt" && *op != "decrypt" {
		return nil
	}
	if *op == "decrypt" {
		_, path, err := keyfile.LoadDefault()
		if err != nil {
			return fmt.Errorf("no --key given and no default key: %w", err)
		}
		keys = list{path}
		return nil
	}
	_, path, created, err := keyfile.LoadOrCreateDefault()
	if err != nil {
		return fmt.Errorf("default key: %w", err)
	}
	if created {
		fmt.Fprintf(os.Stderr, "mlseal-beam: created a new default key at %s\nmlseal-beam: back it up: whoever loses this key loses the data encrypted with it\n", path)
	}
	keys = list{path}
	return nil
}

// parseContext parses --context k=v pairs.
func parseContext(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--context %q is not KEY=VALUE", p)
		}
		if old, dup := m[k]; dup && old != v {
			return nil, fmt.Errorf("--context %q given twice with different values", k)
		}
		m[k] = v
	}
	return m, nil
}

type failedItems struct{ n int64 }

func (e *failedItems) Error() string { return fmt.Sprintf("%d items failed (see --results)", e.n) }

// summarize prints the counters the transforms keep, and fails when an
// item failed.
func summarize(pr beam.PipelineResult, elapsed time.Duration) error {
	if pr == nil {
		return nil
	}
	c := map[string]int64{}
	for _, r := range pr.Metrics().Query(func(r metrics.SingleResult) bool { return r.Namespace() == mbeam.MetricsNamespace }).Counters() {
		c[r.Name()] += r.Result()
	}
	mb := float64(c["bytes_in"]) / 1e6
	fmt.Fprintf(os.Stderr, "mlseal-beam: %s: %d done, %d failed; %.1f MB in, %.1f MB out in %.1fs (%.1f MB/s)\n",
		*op, c["items_done"], c["items_failed"], mb, float64(c["bytes_out"])/1e6, elapsed.Seconds(), mb/elapsed.Seconds())
	if c["items_failed"] > 0 {
		return &failedItems{c["items_failed"]}
	}
	return nil
}
