package main

// Dataset jobs: every encrypt, decrypt, verify, tokenize and detokenize
// runs through package dataset, whether it reads one file or an S3 prefix.
// This file turns the flags into dataset.Options and renders the job's
// events: errors, a progress bar on a terminal, and the summary.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/s3io"
)

// datasetFlags are the flags of dataset jobs.
type datasetFlags struct {
	suffix         string
	manifest       string
	audit          string
	auditValues    bool
	shard          string
	jobs           int
	partSize       int64
	concurrency    int
	pathStyle      bool
	endpoint       string
	followSymlinks bool
	itemTimeout    time.Duration
	stallTimeout   time.Duration
	retries        int
}

// Which suffix flag a command has.
const (
	suffixNone = iota
	suffixAdd
	suffixRemove
)

// addFlags adds the dataset flags to a command's flag set.
func (f *datasetFlags) addFlags(fl *pflag.FlagSet, suffix int) {
	switch suffix {
	case suffixAdd:
		fl.StringVar(&f.suffix, "suffix", encryptedExt, "`SUFFIX` appended to names written under a directory or prefix")
	case suffixRemove:
		fl.StringVar(&f.suffix, "suffix", encryptedExt, "`SUFFIX` removed from names written under a directory or prefix (.dec is added to names without it)")
	default:
		f.suffix = encryptedExt
	}
	fl.StringVar(&f.manifest, "manifest", "", "job manifest `FILE` or s3:// object (JSON lines): record each input, and skip those done in an earlier run")
	fl.StringVar(&f.audit, "audit", "", "audit trail `FILE` or s3:// object (JSON lines, appended to): per input the operation, names, sizes, message id, suite, wrapping keys and context keys")
	fl.BoolVar(&f.auditValues, "audit-context-values", false, "record the encryption context's values in the audit trail too")
	fl.StringVar(&f.shard, "shard", "", "process only the inputs of shard `I/N` (I from 0 to N-1), by a hash of their names")
	fl.IntVarP(&f.jobs, "jobs", "j", dataset.DefaultJobs, "`N` inputs processed in parallel")
	fl.BoolVar(&f.followSymlinks, "follow-symlinks", false, "follow symbolic links that lead out of an input directory, to files and to directories (walked; loops refused)")
	fl.DurationVar(&f.itemTimeout, "item-timeout", 0, "give up an input after `DURATION` (default: no limit)")
	fl.DurationVar(&f.stallTimeout, "stall-timeout", dataset.DefaultStallTimeout, "retry an input whose transfer moves no bytes for `DURATION`")
	fl.IntVar(&f.retries, "retries", dataset.DefaultRetries, "`N` more tries of a stalled input")
	fl.Int64Var(&f.partSize, "s3-part-size", 0, fmt.Sprintf("`BYTES` per S3 upload part and ranged GET (default %d)", s3io.DefaultPartSize))
	fl.IntVar(&f.concurrency, "s3-concurrency", 0, fmt.Sprintf("`N` S3 parts in flight per object (default %d)", s3io.DefaultConcurrency))
	fl.BoolVar(&f.pathStyle, "s3-path-style", false, "path-style S3 addressing (automatic for IP and localhost endpoints; or MLSEAL_S3_PATH_STYLE=1)")
	fl.StringVar(&f.endpoint, "s3-endpoint", "", "S3 endpoint `URL` (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the profile's)")
}

func isS3(name string) bool { return strings.HasPrefix(name, "s3://") }

// parseShard parses "I/N".
func parseShard(s string) (dataset.Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	var i, n uint64
	var err error
	if ok {
		i, err = strconv.ParseUint(strings.TrimSpace(is), 10, 32)
		if err == nil {
			n, err = strconv.ParseUint(strings.TrimSpace(ns), 10, 32)
		}
	}
	if !ok || err != nil || n == 0 || i >= n {
		return dataset.Shard{}, &cliError{
			err:  fmt.Errorf("--shard %q is not I/N with 0 <= I < N", s),
			code: exitUsage,
			hint: "for example --shard 0/4 ... --shard 3/4; in a Kubernetes Indexed Job, --shard $(JOB_COMPLETION_INDEX)/N",
		}
	}
	return dataset.Shard{Index: int(i), Count: int(n)}, nil
}

// shardOf is dataset.ShardOf, named for the CLI's tests.
func shardOf(name string, n uint64) uint64 { return dataset.ShardOf(name, n) }

// record is a manifest line.
type record = dataset.Result

func (f *datasetFlags) check() error {
	if f.jobs < 1 {
		return usageErrorf("--jobs must be at least 1")
	}
	if f.partSize != 0 && f.partSize < 5<<20 {
		return usageErrorf("--s3-part-size must be at least 5 MiB (S3's smallest part)")
	}
	if f.concurrency < 0 {
		return usageErrorf("--s3-concurrency must not be negative")
	}
	if f.suffix == "" {
		return usageErrorf("--suffix must not be empty")
	}
	if f.itemTimeout < 0 {
		return usageErrorf("--item-timeout must not be negative")
	}
	return nil
}

// A datasetJob is one command's dataset job, as the command describes it.
type datasetJob struct {
	flags *datasetFlags
	op    dataset.Operation
	verb  string // "encrypted", for the summary
	args  []string
	out   string // -o as given
	force bool
	// binaryOut refuses to write a single output to a terminal unless -o -
	// names it.
	binaryOut bool
	// prepare runs once the items are known and before any is processed:
	// it sets up the keys, which may create the default key.
	prepare func(items []*dataset.Item) error
	// explain wraps an item's error with a hint (and a name) for the user.
	explain func(it *dataset.Item, err error) error
	// ok reports an item done, for verify.
	ok func(r *dataset.Result)
	// keys counts the data keys generated or unwrapped, for the summary.
	keys *dataset.KeyCounter
}

// s3Client returns an S3 client when the job names anything in S3.
func (a *app) s3Client(ctx context.Context, d *datasetJob) (*s3io.Client, error) {
	if !isS3(d.out) && !isS3(d.flags.manifest) && !isS3(d.flags.audit) && !slices.ContainsFunc(d.args, isS3) {
		return nil, nil
	}
	c, err := s3io.NewFromConfig(ctx, s3io.Config{
		Endpoint:  d.flags.endpoint,
		PathStyle: d.flags.pathStyle,
		Options:   s3io.Options{PartSize: d.flags.partSize, Concurrency: d.flags.concurrency},
	})
	if err != nil {
		return nil, withHint(err, "S3 access uses the standard AWS settings: AWS_REGION, AWS_PROFILE, credentials, AWS_ENDPOINT_URL_S3")
	}
	return c, nil
}

// runDataset plans and runs a dataset job. One input without a manifest
// behaves as a plain command: its error is returned as it is. Otherwise
// each failure is printed, a summary follows, and the error is a
// batchError.
func (a *app) runDataset(ctx context.Context, d *datasetJob) (err error) {
	ignorePipe()
	f := d.flags
	if err := f.check(); err != nil {
		return err
	}
	out, unmake, err := outputDir(d.out, len(d.args))
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			unmake() // if nothing was written there
		}
	}()
	opts := dataset.Options{
		Destination:    dataset.Destination(out),
		Operation:      d.op,
		Jobs:           f.jobs,
		Manifest:       f.manifest,
		Audit:          f.audit,
		Overwrite:      d.force,
		FollowSymlinks: f.followSymlinks,
		ItemTimeout:    f.itemTimeout,
		StallTimeout:   f.stallTimeout,
		Retries:        f.retries,
		Stdin:          a.stdin,
		Stdout:         a.stdout,
		Keys:           d.keys,
	}
	opts.AuditContextValues = f.auditValues
	if f.stallTimeout == 0 {
		opts.StallTimeout = -1
	}
	if f.retries == 0 {
		opts.Retries = -1
	}
	for _, arg := range d.args {
		opts.Sources = append(opts.Sources, dataset.Source(arg))
	}
	if f.shard != "" {
		var err error
		if opts.Shard, err = parseShard(f.shard); err != nil {
			return err
		}
	}
	if opts.S3, err = a.s3Client(ctx, d); err != nil {
		return err
	}
	if opts.S3 != nil {
		// Uploads cancelled by an interrupt abort their multipart uploads.
		inFlight.Store(opts.S3)
		defer inFlight.Store((*s3io.Client)(nil))
	}
	r := &renderer{a: a, d: d}
	opts.Events = r.event
	job, err := dataset.New(ctx, opts)
	if err != nil {
		return planError(err, d.args)
	}
	// A manifest or audit trail that could not be written out fails the
	// command: the job's record of what it did is part of what was asked.
	defer func() {
		if cerr := job.Close(ctx); cerr != nil {
			if err == nil {
				err = cerr
				return
			}
			a.printError("", cerr)
		}
	}()
	items, err := job.Plan(ctx)
	if err != nil {
		return planError(err, d.args)
	}
	limitMemory(f, d.args, d.out)
	single := len(items) == 1 && f.manifest == ""
	if single {
		it := items[0]
		if d.binaryOut && it.Out.IsStd() && isTerminal(a.stdout) && d.out != "-" {
			return &cliError{
				err:  fmt.Errorf("refusing to write encrypted binary data to the terminal"),
				hint: "pass -o FILE, or -o - to write to the terminal anyway",
			}
		}
		// Fail on an existing output before creating a default key.
		if err := job.CheckOutput(ctx, it); err != nil {
			return d.explain(it, existsHint(err))
		}
	}
	if d.prepare != nil {
		if err := d.prepare(items); err != nil {
			return err
		}
	}
	r.start(items)
	if single {
		r.single = true
		res := job.Do(ctx, items[0])
		r.stopSingle(res)
		if err := res.Err(); err != nil {
			return d.explain(items[0], existsHint(namedOutput(err, items[0].Out.String())))
		}
		return nil
	}
	sum, err := job.Run(ctx, items)
	r.stop(sum)
	if err := ctx.Err(); err != nil {
		return err
	}
	var be *dataset.BatchError
	if errors.As(err, &be) {
		return &batchError{failed: be.Failed, total: be.Total}
	}
	return err
}

// ignorePipe ignores SIGPIPE for the rest of the process, so that a job
// writing to a closed stdout sees EPIPE and cleans up (main.go) instead of
// being killed with its temporary files and uploads left behind. Only
// dataset jobs do: the disposition would pass to programs that 'secrets
// exec' runs. (Catching SIGPIPE instead would also catch the ones that a
// server closing a connection raises, which must only fail that request.)
func ignorePipe() { signal.Ignore(syscall.SIGPIPE) }

// inFlight is the S3 client of the job running, whose multipart uploads
// an interrupted mlseal reports if it cannot wait for them to be aborted.
var inFlight atomic.Pointer[s3io.Client]

// planError gives the errors of planning their exit code and hint.
func planError(err error, args []string) error {
	switch {
	case errors.Is(err, dataset.ErrUsage):
		hint := ""
		if strings.Contains(err.Error(), "only one output") {
			hint = "to process several files, pass -o DIR/"
		}
		return &cliError{err: err, code: exitUsage, hint: hint}
	case errors.Is(err, s3io.ErrNotFound):
		for _, arg := range args {
			if isS3(arg) && !strings.HasSuffix(arg, "/") && strings.Contains(err.Error(), arg+":") {
				return withHint(err, fmt.Sprintf("to name a prefix, end it with a slash: %s/", arg))
			}
		}
	case strings.HasPrefix(err.Error(), "no objects under"):
		return withHint(err, "check the bucket and prefix ('aws s3 ls' lists them)")
	}
	return err
}

// existsHint adds the hint that an existing output needs --force.
func existsHint(err error) error {
	if errors.Is(err, dataset.ErrExists) {
		return withHint(err, "pass --force to overwrite it")
	}
	return err
}

// A renderer prints a job's events: each failure as it happens, a
// progress bar on a terminal (progress.go), and the summary.
type renderer struct {
	a      *app
	d      *datasetJob
	single bool

	mu     sync.Mutex // serializes stderr
	hints  []string
	bar    *progressBar
	stderr io.Writer // the app's own while the bar stands in for it
	bytes  atomic.Int64
}

// start draws a progress bar when stderr is a terminal, unless --quiet
// or a single output goes to the same terminal. Until stop, what the
// command prints on stderr goes above the bar.
func (r *renderer) start(items []*dataset.Item) {
	a := r.a
	// Out is "-" for stdout, and zero for operations that write nothing.
	toTerminal := len(items) == 1 && items[0].Out.Path == "-" && isTerminal(a.stdout)
	if a.quiet || !isTerminal(a.stderr) || toTerminal {
		return
	}
	r.bar = newProgressBar(a.stderr, items)
	r.stderr, a.stderr = a.stderr, r.bar
}

// stopBar removes the bar and gives stderr back.
func (r *renderer) stopBar() {
	if r.bar == nil {
		return
	}
	r.bar.stop()
	r.a.stderr = r.stderr
}

// stopSingle ends the progress of a single item: on a terminal, a line
// says what was done.
func (r *renderer) stopSingle(res *dataset.Result) {
	drawn := r.bar != nil
	r.stopBar()
	if !drawn || res.Err() != nil {
		return
	}
	n := float64(r.bytes.Load())
	to := ""
	if res.Output != "" && res.Output != "-" {
		to = " to " + res.Output
	}
	r.a.logf("%s %s%s (%s in %s, %s/s)", r.d.verb, displayName(res.Input, false), to, humanBytes(n), res.Elapsed.Round(time.Millisecond),
		humanBytes(n/max(res.Elapsed.Seconds(), 1e-3)))
}

func (r *renderer) event(e dataset.Event) {
	if r.bar != nil {
		r.bar.event(e)
	}
	switch e.Kind {
	case dataset.EventProgress:
		r.bytes.Add(e.Bytes)
	case dataset.EventRetry:
		if !r.single {
			r.print(func() { r.a.logf("retrying %s: %v", e.Item.In, e.Err) })
		}
	case dataset.EventItem:
		res := e.Result
		switch res.Status {
		case dataset.StatusDone:
			if r.d.ok != nil {
				r.print(func() { r.d.ok(res) })
			}
		case dataset.StatusSkipped:
		default:
			if r.single {
				return // returned, and printed, by runDataset
			}
			err := r.d.explain(e.Item, existsHint(namedOutput(res.Err(), e.Item.Out.String())))
			r.print(func() {
				r.a.printError(e.Item.In.String(), withoutHint(err))
				if h := hintOf(err); h != "" && !slices.Contains(r.hints, h) {
					r.hints = append(r.hints, h)
				}
			})
		}
	}
}

// print runs f, which prints on stderr (above the bar, if any), alone.
func (r *renderer) print(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}

func (r *renderer) stop(sum *dataset.Summary) {
	r.stopBar()
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.a
	if sum != nil && !a.quiet {
		rate := float64(sum.BytesIn) / max(sum.Elapsed.Seconds(), 1e-3)
		keys := ""
		switch {
		case sum.DataKeysGenerated > 0:
			keys = fmt.Sprintf("; %d data %s generated", sum.DataKeysGenerated, plural(int(sum.DataKeysGenerated), "key", "keys"))
		case sum.DataKeysUnwrapped > 0:
			keys = fmt.Sprintf("; %d data %s unwrapped", sum.DataKeysUnwrapped, plural(int(sum.DataKeysUnwrapped), "key", "keys"))
		}
		a.logf("%s %d, skipped %d, failed %d of %d inputs (%s in %s, %s/s%s)", r.d.verb, sum.Done, sum.Skipped, sum.Failed, sum.Total,
			humanBytes(float64(sum.BytesIn)), sum.Elapsed.Round(time.Millisecond), humanBytes(rate), keys)
		if sum.Stopped != nil && !errors.Is(sum.Stopped, context.Canceled) {
			a.logf("stopped before the other inputs: %v", sum.Stopped)
		}
	}
	for _, h := range r.hints {
		fmt.Fprintf(a.stderr, "mlseal: hint: %s\n", h)
	}
}

// withoutHint returns err with its hint removed, for batches that print
// each distinct hint once at the end.
func withoutHint(err error) error {
	var ce *cliError
	if errors.As(err, &ce) && ce.hint != "" {
		return &cliError{err: ce.err, code: ce.code}
	}
	return err
}

// abortHint tells how to abort a multipart upload left behind.
func abortHint(err error) error {
	var ae *s3io.AbortError
	if errors.As(err, &ae) {
		return withHint(err, fmt.Sprintf("abort it with: aws s3api abort-multipart-upload --bucket %s --key %s --upload-id %s", ae.Bucket, ae.Key, ae.UploadID))
	}
	return err
}

// reportUploads prints the multipart uploads still in flight when mlseal
// leaves without waiting for them to be aborted.
func reportUploads() {
	c := inFlight.Load()
	if c == nil {
		return
	}
	for _, u := range c.Uploads() {
		fmt.Fprintf(os.Stderr, "mlseal: error: the multipart upload %s of %s may be left behind\nmlseal: hint: abort it with: aws s3api abort-multipart-upload --bucket %s --key %s --upload-id %s\n",
			u.UploadID, s3io.URL(u.Bucket, u.Key), u.Bucket, u.Key, u.UploadID)
	}
}
