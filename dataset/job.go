package dataset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlseal/mlseal/s3io"
)

// A Job plans and runs one dataset job. Make one with New; Plan, Run and
// Do may then be called, and Close must be called at the end. A Job is
// safe for concurrent use: a pipeline may call Do from many goroutines.
type Job struct {
	opts     Options
	manifest *manifest
	audit    *auditTrail

	s3once sync.Once
	s3     *s3io.Client
	s3err  error

	settingsOnce sync.Once
	settingsErr  error

	stopRecorded atomic.Bool

	emitMu            sync.Mutex
	bytesIn, bytesOut atomic.Int64
}

// New returns a job for opts, opening its manifest if it has one.
func New(ctx context.Context, opts Options) (*Job, error) {
	if opts.Jobs == 0 {
		opts.Jobs = DefaultJobs
	}
	if opts.Jobs < 0 {
		return nil, usagef("jobs must be at least 1")
	}
	if opts.StallTimeout == 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	if opts.Retries == 0 {
		opts.Retries = DefaultRetries
	}
	j := &Job{opts: opts}
	if opts.S3 != nil {
		j.s3once.Do(func() { j.s3 = opts.S3 })
	}
	if opts.Manifest != "" {
		m, err := openManifest(ctx, opts.Manifest, j.s3Client)
		if err != nil {
			return nil, err
		}
		j.manifest = m
	}
	if opts.Audit != "" {
		a, err := openAudit(ctx, opts.Audit, opts.AuditContextValues, j.s3Client)
		if err != nil {
			j.Close(ctx)
			return nil, err
		}
		j.audit = a
	}
	return j, nil
}

// Close writes out the manifest and the audit trail.
func (j *Job) Close(ctx context.Context) error {
	var err error
	if j.manifest != nil {
		err = j.manifest.close(ctx)
	}
	if j.audit != nil {
		err = errors.Join(err, j.audit.close(ctx))
	}
	return err
}

// Plan lists the items of the job described by opts; see Job.Plan.
func Plan(ctx context.Context, opts Options) ([]*Item, error) {
	j, err := New(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer j.Close(ctx)
	return j.Plan(ctx)
}

// Run plans the job described by opts and runs it; see Job.Run.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	j, err := New(ctx, opts)
	if err != nil {
		return nil, err
	}
	items, err := j.Plan(ctx)
	if err != nil {
		j.Close(ctx)
		return nil, err
	}
	sum, err := j.Run(ctx, items)
	if cerr := j.Close(ctx); err == nil && cerr != nil {
		err = cerr
	}
	return sum, err
}

// s3Client returns the S3 client, creating it on first use.
func (j *Job) s3Client(ctx context.Context) (*s3io.Client, error) {
	j.s3once.Do(func() {
		j.s3, j.s3err = s3io.NewFromConfig(ctx, j.opts.S3Config)
	})
	return j.s3, j.s3err
}

// emit delivers an event to Options.Events.
func (j *Job) emit(e Event) {
	if j.audit != nil && e.Kind != EventStopped { // recordStopped writes that
		j.audit.event(context.Background(), e)
	}
	if j.opts.Events == nil {
		return
	}
	j.emitMu.Lock()
	defer j.emitMu.Unlock()
	j.opts.Events(e)
}

// Run processes the items, Jobs at a time, and returns what it did. The
// error is a *BatchError when some items failed (their Results say why),
// an ErrSettings error (and no Summary) when its manifest records other
// settings, the context's error when it was cancelled, and nil when every
// item was done or skipped.
//
// The first item that fails because a service stopped answering
// (ClassUnavailable) stops the batch: the items in flight are cancelled,
// the rest are not started, and Summary.Stopped says why.
func (j *Job) Run(ctx context.Context, items []*Item) (*Summary, error) {
	start := time.Now()
	sum := &Summary{Op: j.opts.Operation.Name(), Total: len(items)}
	if err := j.checkSettings(ctx); err != nil {
		return nil, err
	}
	running.add(j)
	defer running.remove(j)
	var gen0, unw0 int64
	if k := j.opts.Keys; k != nil {
		gen0, unw0 = k.Calls()
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var (
		mu      sync.Mutex
		stopped error
	)
	work := make(chan *Item)
	var wg sync.WaitGroup
	for range min(j.opts.Jobs, max(len(items), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				r := j.Do(ctx, it)
				mu.Lock()
				switch r.Status {
				case StatusDone:
					sum.Done++
				case StatusSkipped:
					sum.Skipped++
				default:
					sum.Failed++
					if r.ErrorClass == ClassUnavailable && stopped == nil {
						stopped = fmt.Errorf("%s failed: %w", it.In, r.err)
						stop(stopped)
					}
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	sum.BytesIn, sum.BytesOut = j.bytesIn.Load(), j.bytesOut.Load()
	sum.Elapsed = time.Since(start)
	if k := j.opts.Keys; k != nil {
		gen, unw := k.Calls()
		sum.DataKeysGenerated, sum.DataKeysUnwrapped = gen-gen0, unw-unw0
	}
	if stopped == nil && ctx.Err() != nil {
		stopped = context.Cause(ctx)
	}
	sum.Stopped = stopped
	if stopped != nil {
		j.recordStopped(stopped)
		j.emit(Event{Kind: EventStopped, Err: stopped})
	}
	if sum.Failed > 0 || stopped != nil && sum.Done+sum.Skipped < sum.Total {
		return sum, &BatchError{Failed: sum.Failed, Total: sum.Total, Stopped: stopped}
	}
	return sum, nil
}

// Do processes one item, as Run does for each: it skips an item that the
// manifest records as done, tries the operation (again after a stall, up
// to Retries times), records the Result in the manifest and reports it
// as an event. It is what a pipeline's step calls per element.
func (j *Job) Do(ctx context.Context, it *Item) *Result {
	start := time.Now()
	r := &Result{
		Op: j.opts.Operation.Name(), Input: it.In.String(), Output: outString(it),
		InputSize: it.Size, Source: it.SourceVersion(),
	}
	j.emit(Event{Kind: EventStarted, Item: it})
	if err := j.checkSettings(ctx); err != nil {
		r.Status, r.err, r.Error, r.ErrorClass = StatusFailed, err, err.Error(), ClassOther
		r.Time = time.Now().UTC()
		j.emit(Event{Kind: EventItem, Item: it, Result: r})
		return r
	}
	if j.skip(ctx, it, r) {
		r.Status, r.Time = StatusSkipped, time.Now().UTC()
		j.emit(Event{Kind: EventItem, Item: it, Result: r})
		return r
	}
	err := j.attempts(ctx, it, r)
	r.Time, r.Elapsed = time.Now().UTC(), time.Since(start)
	if err != nil {
		j.fail(ctx, r, err)
	} else if r.Status == "" {
		r.Status = StatusDone
		if j.manifest != nil {
			j.record(ctx, r)
		}
	}
	j.emit(Event{Kind: EventItem, Item: it, Result: r})
	return r
}

// checkSettings records, on first use, the job's settings in its
// manifest, or refuses a rerun with other settings than those recorded
// (see Configured). It runs when work starts, not in New: a program
// may set the operation's keys after planning.
func (j *Job) checkSettings(ctx context.Context) error {
	j.settingsOnce.Do(func() {
		if j.manifest != nil {
			j.settingsErr = j.manifest.useSettings(ctx, j.settings(), j.opts.Overwrite)
		}
	})
	return j.settingsErr
}

// IsLocal reports whether l is a local file (not S3, not stdio).
func (l Location) IsLocal() bool { return !l.IsS3() && !l.IsStd() }

func (j *Job) fail(ctx context.Context, r *Result, err error) {
	r.Status, r.err, r.Error, r.ErrorClass = StatusFailed, err, err.Error(), Classify(err)
	r.OutputSize = 0
	var ae *s3io.AbortError
	if errors.As(err, &ae) {
		r.UploadID = ae.UploadID
	}
	if j.manifest != nil {
		j.record(ctx, r)
	}
}

// record adds r to the manifest; a manifest that cannot be written fails
// the item, since a rerun would not know it was done.
func (j *Job) record(ctx context.Context, r *Result) {
	if err := j.manifest.add(ctx, r); err != nil && (r.Status == StatusDone || r.Status == StatusCommitting) {
		r.Status, r.err = StatusFailed, fmt.Errorf("recording it in the manifest: %w", err)
		r.Error, r.ErrorClass = r.err.Error(), Classify(err)
	}
}

// skip reports whether an earlier run did the item: the manifest records
// it done from the same version of the source, and its output is still
// there with the size recorded.
func (j *Job) skip(ctx context.Context, it *Item, r *Result) bool {
	if j.manifest == nil || it.Refused != "" {
		return false
	}
	prev, ok := j.manifest.previous(it)
	if !ok || prev.Source != r.Source || prev.InputSize != it.Size && it.Size >= 0 {
		return false
	}
	if outString(it) != "" && j.outputSize(ctx, it.Out) != prev.OutputSize {
		return false
	}
	*r = prev
	return true
}

// attempts runs the operation on the item, again after a stall.
func (j *Job) attempts(ctx context.Context, it *Item, r *Result) error {
	if it.Refused != "" {
		return &nameError{it.Name, it.Refused}
	}
	for attempt := 0; ; attempt++ {
		r.Attempts = attempt + 1
		err := j.attempt(ctx, it, r)
		if err == nil || !errors.Is(err, ErrStalled) || attempt >= j.opts.Retries || it.In.IsStd() || ctx.Err() != nil {
			return err
		}
		j.emit(Event{Kind: EventRetry, Item: it, Err: err})
	}
}

// CheckOutput returns an error that wraps ErrExists if the item's output
// exists and Overwrite is not set. Run checks each item's output itself
// (and, with a manifest, recognises outputs a killed run wrote); a
// program calls CheckOutput to fail early, before costly preparations.
func (j *Job) CheckOutput(ctx context.Context, it *Item) error {
	if d := j.opts.StallTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return j.checkOutput(ctx, it, nil)
}

// checkOutput fails an item whose output exists, unless Overwrite is
// set. With a manifest, an S3 output that this job wrote for the same
// version of the input (a run killed before it recorded it) counts as
// done.
func (j *Job) checkOutput(ctx context.Context, it *Item, r *Result) error {
	if j.opts.Overwrite || outString(it) == "" || it.Out.IsStd() {
		return nil
	}
	if it.Out.IsLocal() {
		if j.outputSize(ctx, it.Out) >= 0 {
			return &existsError{it.Out.Path}
		}
		return nil
	}
	c, err := j.s3Client(ctx)
	if err != nil {
		return err
	}
	info, err := c.Head(ctx, it.Out.Bucket, it.Out.Key)
	switch {
	case errors.Is(err, s3io.ErrNotFound):
		return nil
	case err != nil:
		return err
	case j.manifest != nil && info.Metadata[MetaSource] == sourceTag(it) && it.SourceVersion() != "":
		if r == nil {
			return nil
		}
		r.Status, r.OutputSize = StatusDone, info.Size
		r.Time = time.Now().UTC()
		j.record(ctx, r)
		return nil
	}
	return &existsError{it.Out.String()}
}

// outputSize returns the size of an existing output, or -1.
func (j *Job) outputSize(ctx context.Context, out Location) int64 {
	if out.IsS3() {
		c, err := j.s3Client(ctx)
		if err != nil {
			return -1
		}
		info, err := c.Head(ctx, out.Bucket, out.Key)
		if err != nil {
			return -1
		}
		return info.Size
	}
	fi, err := os.Stat(out.Path)
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	return fi.Size()
}

// recordStopped writes, once, the line that says why the batch stopped to
// the manifest and the audit trail.
func (j *Job) recordStopped(why error) {
	if !j.stopRecorded.CompareAndSwap(false, true) {
		return
	}
	ctx := context.Background()
	if j.manifest != nil {
		r := &Result{Time: time.Now().UTC(), Op: j.opts.Operation.Name(), Status: StatusStopped, Error: why.Error(), ErrorClass: Classify(why)}
		j.manifest.add(ctx, r)
	}
	if j.audit != nil {
		j.audit.event(ctx, Event{Kind: EventStopped, Err: why})
	}
}

// running are the jobs in Run, whose manifests and audit trails
// RemoveTemporaryFiles tells that they stopped.
var running runningJobs

type runningJobs struct {
	mu   sync.Mutex
	jobs map[*Job]bool
}

func (r *runningJobs) add(j *Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobs == nil {
		r.jobs = map[*Job]bool{}
	}
	r.jobs[j] = true
}

func (r *runningJobs) remove(j *Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.jobs, j)
}

// stopAll records that every running job stopped.
func (r *runningJobs) stopAll(why error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for j := range r.jobs {
		j.recordStopped(why)
	}
}
