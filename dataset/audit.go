package dataset

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mlseal/mlseal/s3io"
)

// An AuditRecord is one line of an audit trail (Options.Audit): what one
// operation did to one item. It holds names, sizes and identifiers, never
// key material, data, or secret values; the encryption context's values
// only when Options.AuditContextValues is set, since they may be
// sensitive. Together with AWS CloudTrail's records of the KMS calls
// (which carry the encryption context) it answers which objects a job
// encrypted, under which key.
type AuditRecord struct {
	Time time.Time `json:"time"`
	// Run identifies the job run that wrote the line (random per Job).
	Run       string `json:"run"`
	Operation string `json:"operation"`
	Input     string `json:"input,omitempty"`
	// Output is empty for operations that write nothing and in place.
	Output     string `json:"output,omitempty"`
	InputSize  int64  `json:"input_size,omitempty"`
	OutputSize int64  `json:"output_size,omitempty"`
	// MessageID is the hex message id of the message written, or read by
	// operations that only read one.
	MessageID string `json:"message_id,omitempty"`
	Suite     string `json:"suite,omitempty"`
	// WrappingKeys are the keys that wrap the message's data key.
	WrappingKeys []AuditKey `json:"wrapping_keys,omitempty"`
	// ContextKeys are the keys of the encryption context stored in the
	// message; Context has their values when asked for.
	ContextKeys []string          `json:"context_keys,omitempty"`
	Context     map[string]string `json:"context,omitempty"`
	// Result is "done", "skipped" (done by an earlier run), "failed", or
	// "stopped" for the line that says why a batch stopped early.
	Result     string `json:"result"`
	ErrorClass Class  `json:"error_class,omitempty"`
	Error      string `json:"error,omitempty"`
}

// An AuditKey names one wrapping key: for AWS KMS (Provider "aws-kms")
// Key is the key ARN; for raw keys, Provider is the key's namespace and
// Key its name.
type AuditKey struct {
	Provider string `json:"provider"`
	Key      string `json:"key"`
}

// NewAuditRecord returns the audit record of an item's result.
// contextValues adds the encryption context's values.
func NewAuditRecord(r *Result, contextValues bool) AuditRecord {
	a := AuditRecord{
		Time: r.Time, Operation: r.Op, Input: r.Input, Output: r.Output,
		InputSize: max(r.InputSize, 0), OutputSize: r.OutputSize,
		MessageID: r.MessageID, Suite: r.Suite, ContextKeys: r.ContextKeys,
		Result: string(r.Status), ErrorClass: r.ErrorClass, Error: r.Error,
	}
	for _, k := range r.WrappingKeys {
		a.WrappingKeys = append(a.WrappingKeys, auditKey(k))
	}
	if contextValues && len(r.context) > 0 {
		a.Context = maps.Clone(r.context)
	}
	return a
}

// auditKey parses a Result's "provider-id provider-info" wrapping key. A
// raw AES key's provider info is its name followed by the tag length (128
// bits), the IV length (12) and the IV, and is shown in hex: only the name
// is kept.
func auditKey(s string) AuditKey {
	provider, info, _ := strings.Cut(s, " ")
	if b, err := hex.DecodeString(info); err == nil && len(b) > 20 &&
		binary.BigEndian.Uint32(b[len(b)-20:]) == 128 && binary.BigEndian.Uint32(b[len(b)-16:]) == 12 {
		if name := string(b[:len(b)-20]); printable([]byte(name)) == name {
			info = name
		}
	}
	return AuditKey{Provider: provider, Key: info}
}

// auditTrail writes AuditRecords as JSON lines: a local file appended to
// and synced line by line, or an S3 object rewritten whole from time to
// time and when the job closes (as an S3 manifest is).
type auditTrail struct {
	sink   *manifest
	values bool
	run    string

	mu  sync.Mutex
	op  string // the operation of the items seen, for a "stopped" line
	err error  // the first write error, returned by close
}

// openAudit opens the audit trail named name, local or s3://, adding to
// what it already holds.
func openAudit(ctx context.Context, name string, values bool, s3c func(context.Context) (*s3io.Client, error)) (*auditTrail, error) {
	var id [8]byte
	rand.Read(id[:])
	a := &auditTrail{values: values, run: hex.EncodeToString(id[:])}
	if strings.HasPrefix(name, "s3://") {
		m, err := openManifest(ctx, name, s3c)
		if err != nil {
			return nil, fmt.Errorf("opening the audit trail: %w", err)
		}
		a.sink = m
		return a, nil
	}
	// 0600: the context's values, when recorded, may be sensitive.
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the audit trail: %w", err)
	}
	a.sink = &manifest{f: f}
	return a, nil
}

// event records an item's result, or why the batch stopped.
func (a *auditTrail) event(ctx context.Context, e Event) {
	var rec AuditRecord
	switch {
	case e.Kind == EventItem && e.Result != nil:
		rec = NewAuditRecord(e.Result, a.values)
		a.mu.Lock()
		a.op = rec.Operation
		a.mu.Unlock()
	case e.Kind == EventStopped:
		a.mu.Lock()
		rec = AuditRecord{Time: time.Now().UTC(), Operation: a.op, Result: "stopped", ErrorClass: Classify(e.Err)}
		a.mu.Unlock()
		if e.Err != nil {
			rec.Error = e.Err.Error()
		}
	default:
		return
	}
	rec.Run = a.run
	b, err := json.Marshal(rec)
	if err == nil {
		err = a.sink.addLine(ctx, b)
	}
	if err != nil {
		a.mu.Lock()
		if a.err == nil {
			a.err = fmt.Errorf("writing the audit trail: %w", err)
		}
		a.mu.Unlock()
	}
}

// close writes out the trail and returns the first error writing it.
func (a *auditTrail) close(ctx context.Context) error {
	err := a.sink.close(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	if err != nil {
		return fmt.Errorf("writing the audit trail: %w", err)
	}
	return nil
}
