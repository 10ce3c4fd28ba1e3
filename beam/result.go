package beam

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

// Statuses of a Result.
const (
	StatusDone    = "done"    // the destination was written
	StatusSkipped = "skipped" // nothing to do: the destination is already there
	StatusFailed  = "failed"  // nothing was written; Error says why
)

// A Result is what became of one item (one file or object) of a file
// transform: its source and destination, sizes, the message id of the
// message written or read, and its status. A failed item is a Result with
// StatusFailed and leaves no destination behind; the pipeline goes on with
// the other items unless the transform's FailOnError is set.
type Result struct {
	Op          string // encrypt, decrypt, rewrap, tokenize or detokenize
	Source      string
	Destination string
	Status      string
	Error       string `json:",omitempty"`
	BytesIn     int64  // bytes read from Source
	BytesOut    int64  // bytes written to Destination
	Records     int64  `json:",omitempty"` // tokenize: records read
	MessageID   string `json:",omitempty"` // hex, for envelope operations
}

func (r Result) String() string {
	if r.Status == StatusFailed {
		return fmt.Sprintf("%s %s: failed: %s", r.Op, r.Source, r.Error)
	}
	return fmt.Sprintf("%s %s -> %s: %s (%d -> %d bytes)", r.Op, r.Source, r.Destination, r.Status, r.BytesIn, r.BytesOut)
}

// ResultsJSON turns a PCollection of Result into JSON lines, one object
// per result, such as textio.Write writes as a job's report.
func ResultsJSON(s beam.Scope, results beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("mlseal.ResultsJSON"), resultJSON, results)
}

func resultJSON(r Result) (string, error) {
	b, err := json.Marshal(r)
	return string(b), err
}

// MetricsNamespace is the namespace of the counters CountResults keeps.
const MetricsNamespace = "mlseal"

var (
	itemsDone    = beam.NewCounter(MetricsNamespace, "items_done")
	itemsSkipped = beam.NewCounter(MetricsNamespace, "items_skipped")
	itemsFailed  = beam.NewCounter(MetricsNamespace, "items_failed")
	bytesIn      = beam.NewCounter(MetricsNamespace, "bytes_in")
	bytesOut     = beam.NewCounter(MetricsNamespace, "bytes_out")
)

// CountResults keeps Beam counters of the results (items_done,
// items_skipped, items_failed, bytes_in and bytes_out in MetricsNamespace),
// which a runner shows in its console and a launcher reads from the
// PipelineResult.
func CountResults(s beam.Scope, results beam.PCollection) {
	beam.ParDo0(s.Scope("mlseal.CountResults"), countResult, results)
}

func countResult(ctx context.Context, r Result) {
	switch r.Status {
	case StatusDone:
		itemsDone.Inc(ctx, 1)
	case StatusSkipped:
		itemsSkipped.Inc(ctx, 1)
	default:
		itemsFailed.Inc(ctx, 1)
	}
	bytesIn.Inc(ctx, r.BytesIn)
	bytesOut.Inc(ctx, r.BytesOut)
}

func init() {
	beam.RegisterType(reflect.TypeFor[Result]())
	register.Function1x2(resultJSON)
	register.Function2x0(countResult)
}
