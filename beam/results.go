package beam

import (
	"context"
	"encoding/json"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/mlseal/mlseal/dataset"
)

// The file transforms' elements are the dataset engine's own records:
// dataset.Item between planning and processing, dataset.Result out. Both
// are plain JSON-serializable structs, and JSON is their coder.
func init() {
	beam.RegisterCoder(reflect.TypeFor[dataset.Item](), encodeItem, decodeItem)
	beam.RegisterCoder(reflect.TypeFor[dataset.Result](), encodeResult, decodeResult)
	register.Function1x2(resultJSON)
	register.Function2x0(countResult)
}

// Beam finds coder functions by name: each type needs its own (the
// instances of one generic function share a name).
func encodeItem(it dataset.Item) ([]byte, error)    { return json.Marshal(it) }
func encodeResult(r dataset.Result) ([]byte, error) { return json.Marshal(r) }
func decodeItem(b []byte) (dataset.Item, error)     { return decodeJSON[dataset.Item](b) }
func decodeResult(b []byte) (dataset.Result, error) { return decodeJSON[dataset.Result](b) }

func decodeJSON[T any](b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// ResultsJSON turns a PCollection of dataset.Result into JSON lines, one
// object per result (the lines of a dataset manifest), such as
// textio.Write writes as a job's report.
func ResultsJSON(s beam.Scope, results beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("mlseal.ResultsJSON"), resultJSON, results)
}

func resultJSON(r dataset.Result) (string, error) {
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

func countResult(ctx context.Context, r dataset.Result) {
	switch r.Status {
	case dataset.StatusDone:
		itemsDone.Inc(ctx, 1)
		bytesIn.Inc(ctx, r.InputSize)
		bytesOut.Inc(ctx, r.OutputSize)
	case dataset.StatusSkipped:
		itemsSkipped.Inc(ctx, 1)
	default:
		itemsFailed.Inc(ctx, 1)
	}
}
