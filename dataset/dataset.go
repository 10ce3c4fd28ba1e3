package dataset

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mlseal/mlseal/s3io"
)

// Defaults used when the corresponding option is zero.
const (
	// DefaultJobs is the number of items processed in parallel.
	DefaultJobs = 4
	// DefaultStallTimeout is how long an item may go without moving a byte
	// before its transfer counts as stalled.
	DefaultStallTimeout = time.Minute
	// DefaultRetries is how many more times an item whose transfer stalled
	// is tried.
	DefaultRetries = 1
)

// A Source names inputs: a local file or directory, an S3 object
// ("s3://bucket/key"), an S3 prefix ("s3://bucket/prefix/" or
// "s3://bucket"), or "-" for Options.Stdin.
type Source string

// A Destination names where outputs go: a local file or an existing
// directory, an S3 object or a prefix (ending in "/"), or "" or "-" for
// Options.Stdout. Several inputs, a directory or a prefix as a source need
// a directory or a prefix as the destination.
type Destination string

// Options describe a dataset job. The zero value of each field selects its
// default.
type Options struct {
	// Sources are the inputs; none means Stdin.
	Sources []Source
	// Destination is where the outputs go. Operations that write nothing
	// (Verify) ignore it.
	Destination Destination
	// Operation is what is done to each item.
	Operation Operation

	// Jobs is the number of items processed in parallel, DefaultJobs
	// when zero.
	Jobs int
	// Manifest names a JSON-lines file, local or s3://, that records each
	// item's Result and lets a rerun skip what is done.
	Manifest string
	// Audit names an audit trail, a local file (appended to) or an s3://
	// object: one JSON line (an AuditRecord) per item and operation.
	Audit string
	// AuditContextValues records the encryption context's values in the
	// audit trail, not only its keys.
	AuditContextValues bool
	// Shard, when Count > 0, keeps only the items of shard Index of Count.
	Shard Shard
	// Overwrite replaces existing outputs; without it an existing output
	// fails its item (ErrExists).
	Overwrite bool
	// FollowSymlinks follows symbolic links in local source directories
	// that point out of the directory, to files and to directories (which
	// are walked, except one that is or holds a directory walked already:
	// a loop); without it such an item is refused. Links that stay inside
	// the directory are always followed.
	FollowSymlinks bool

	// ItemTimeout bounds each attempt at an item; zero means no deadline.
	ItemTimeout time.Duration
	// StallTimeout is how long an item may move no bytes before its
	// attempt is cancelled as stalled, DefaultStallTimeout when zero;
	// negative disables the check. Time spent waiting for stdin to say
	// something, or for stdout to take what is written, does not count.
	StallTimeout time.Duration
	// Retries is how many more times an item whose attempt stalled is
	// tried (not for stdin), DefaultRetries when zero; negative means none.
	Retries int

	// S3 is the client for s3:// sources, destinations and manifests.
	// When nil, one is made from S3Config on first use.
	S3 *s3io.Client
	// S3Config configures the client made when S3 is nil.
	S3Config s3io.Config

	// Stdin and Stdout are the streams "-" names, os.Stdin and os.Stdout
	// when nil. Stdin is read in a goroutine of its own, so that a
	// cancelled job returns even while a read from it is blocked; that
	// read ends when Stdin has something to say, or the program exits.
	Stdin  io.Reader
	Stdout io.Writer

	// Keys, when set, is the KeyCounter under the operation's keyring or
	// materials manager, and Summary reports the key calls of the run.
	Keys *KeyCounter

	// Events, when set, receives progress and each item's result. Calls
	// are serialized, from the job's goroutines; the callback must not
	// block for long.
	Events func(Event)
}

// A Shard is one of Count parts of a job: the items whose names hash to
// Index. Workers that run the same job with Index 0 to Count-1 do every
// item once between them.
type Shard struct {
	Index, Count int
}

// A Location is where an item is read from or written to.
type Location struct {
	// Bucket and Key name an S3 object when Bucket is set.
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key,omitempty"`
	// Path names a local file, or "-" for stdin or stdout.
	Path string `json:"path,omitempty"`
}

// IsS3 reports whether l is an S3 object.
func (l Location) IsS3() bool { return l.Bucket != "" }

// IsStd reports whether l is stdin or stdout.
func (l Location) IsStd() bool { return !l.IsS3() && (l.Path == "" || l.Path == "-") }

// String returns l as an s3:// URL or a path.
func (l Location) String() string {
	switch {
	case l.IsS3():
		return s3io.URL(l.Bucket, l.Key)
	case l.IsStd():
		return "-"
	}
	return l.Path
}

// An Item is one input of a job and where its output goes. Plan makes
// items; all fields are exported (and JSON-serializable) so that a
// pipeline can plan in one place and process in another.
type Item struct {
	// Name is the input's path relative to its source, with "/" between
	// segments: an object's key below the prefix, a file's path below its
	// directory, or the base name of a single input.
	Name string `json:"name"`
	// In and Out are the input and output; Out is zero for operations
	// that write nothing.
	In  Location `json:"in"`
	Out Location `json:"out"`
	// InRoot is the local source directory In lies in, if any: the item is
	// opened through it, so that a link swapped in later cannot escape it.
	InRoot string `json:"in_root,omitempty"`
	// OutRoot is the local destination directory Out lies in, if any.
	OutRoot string `json:"out_root,omitempty"`
	// Size is the input's length in bytes, -1 when unknown (stdin).
	Size int64 `json:"size"`
	// ETag and ModTime identify the input's version.
	ETag    string    `json:"etag,omitempty"`
	ModTime time.Time `json:"mtime,omitzero"`
	// Refused, when set, says why the item is not processed (an unsafe
	// name, a link out of its directory): Run fails it with ErrUnsafeName.
	Refused string `json:"refused,omitempty"`
}

// SourceVersion identifies the version of the input: its ETag, or its
// modification time and size.
func (it *Item) SourceVersion() string {
	if it.ETag != "" {
		return "etag:" + it.ETag
	}
	if !it.ModTime.IsZero() {
		return "mtime:" + it.ModTime.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

// Status is the outcome of an item.
type Status string

// Statuses of a Result.
const (
	StatusDone    Status = "done"
	StatusSkipped Status = "skipped" // done by an earlier run (manifest)
	StatusFailed  Status = "failed"
	// StatusCommitting is a manifest's record that a local output is
	// complete and about to be renamed into place; a "done" record follows
	// once it is. A rerun that finds the output with the recorded size
	// counts it done; without the output, it does the item again.
	StatusCommitting Status = "committing"
	// StatusStopped is a manifest's last line for a batch that stopped
	// early (Error says why), not an item's status.
	StatusStopped Status = "stopped"
)

// A Result is what happened to one item. It is the line a manifest records
// and the record an audit trail or a pipeline step returns: plain fields,
// JSON-serializable.
type Result struct {
	Time       time.Time `json:"time"`
	Op         string    `json:"op"`
	Input      string    `json:"input"`
	Output     string    `json:"output"`
	InputSize  int64     `json:"input_size"`
	OutputSize int64     `json:"output_size,omitempty"`
	// Source is the input's version (see Item.SourceVersion).
	Source string `json:"source,omitempty"`
	// MessageID is the hex message id of the message written or read.
	MessageID string `json:"message_id,omitempty"`
	// Suite is the name of the message's algorithm suite.
	Suite string `json:"suite,omitempty"`
	// WrappingKeys name the keys that wrap the message's data key, as
	// "provider-id provider-info" (a KMS key ARN, a raw key's namespace
	// and name).
	WrappingKeys []string `json:"wrapping_keys,omitempty"`
	// ContextKeys are the keys of the encryption context (not the values,
	// which may be sensitive).
	ContextKeys []string `json:"context_keys,omitempty"`
	// Records and Rejected count the records of Tokenize and Detokenize.
	Records  int64 `json:"records,omitempty"`
	Rejected int64 `json:"rejected,omitempty"`
	// Passed counts, by field, the values that the policy's
	// on_invalid: pass left in the clear (tokenize.Stats.Passed).
	Passed map[string]int64 `json:"passed,omitempty"`
	Status Status           `json:"status"`
	Error  string           `json:"error,omitempty"`
	// ErrorClass sorts failures for metrics and retries; see Class.
	ErrorClass Class `json:"error_class,omitempty"`
	// Attempts counts the tries at the item (retries after a stall).
	Attempts int `json:"attempts,omitempty"`
	// UploadID names a multipart upload left behind because aborting it
	// failed: abort it by hand with the output's bucket and key.
	UploadID string `json:"upload_id,omitempty"`
	// Elapsed is the item's processing time.
	Elapsed time.Duration `json:"elapsed_ns,omitempty"`

	err error
	// context is the message's stored encryption context, for an audit
	// trail that records its values; never in a manifest.
	context map[string]string
}

// Err returns the item's error, with its chain intact for errors.Is and
// errors.As (Error is its text).
func (r *Result) Err() error { return r.err }

// EventKind says what an Event reports.
type EventKind string

// Kinds of Event.
const (
	// EventStarted: an item is about to be processed (Item).
	EventStarted EventKind = "started"
	// EventProgress: Bytes more bytes of an item's input were read.
	EventProgress EventKind = "progress"
	// EventRetry: an attempt failed (Err) and the item is tried again.
	EventRetry EventKind = "retry"
	// EventItem: an item is done, skipped or failed (Result).
	EventItem EventKind = "item"
	// EventStopped: the batch stops early (Err says why); the items not
	// yet started are not run.
	EventStopped EventKind = "stopped"
)

// An Event reports the progress of a job.
type Event struct {
	Kind   EventKind
	Item   *Item
	Bytes  int64
	Result *Result
	Err    error
}

// A Summary counts what a job did.
type Summary struct {
	Op                    string
	Total                 int
	Done, Skipped, Failed int
	BytesIn, BytesOut     int64
	Elapsed               time.Duration
	// DataKeysGenerated and DataKeysUnwrapped count the calls that reached
	// Options.Keys during the run (zero without it): with AWS KMS keys,
	// the KMS calls that a data-key cache did not save.
	DataKeysGenerated, DataKeysUnwrapped int64
	// Stopped, when set, says why the batch stopped before running every
	// item (a dependency that stopped answering, a cancelled context).
	Stopped error
}

// A BatchError reports a job in which some items failed; each item's
// error is in its Result.
type BatchError struct {
	Failed, Total int
	// Stopped is Summary.Stopped.
	Stopped error
}

func (e *BatchError) Error() string {
	s := fmt.Sprintf("%d of %d inputs failed", e.Failed, e.Total)
	if e.Stopped != nil {
		s += "; stopped: " + e.Stopped.Error()
	}
	return s
}

func (e *BatchError) Unwrap() error { return e.Stopped }

// Errors that classify an item's failure; test them with errors.Is.
var (
	// ErrUnsafeName: the item's name could escape the destination or
	// clash with another output, or a link points out of its directory.
	ErrUnsafeName = errors.New("unsafe name")
	// ErrExists: the output exists and Overwrite is not set.
	ErrExists = errors.New("already exists")
	// ErrStalled: the item's transfer moved no bytes for StallTimeout.
	ErrStalled = errors.New("transfer stalled")
	// ErrUnavailable: a service (key service, object store) did not
	// answer in time or could not be reached. The first such failure
	// stops the batch.
	ErrUnavailable = errors.New("service unavailable")
)
