package tokenize

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
)

// Format names a record format.
type Format string

// Record formats.
const (
	FormatCSV     Format = "csv"     // RFC 4180 with a header row
	FormatJSONL   Format = "jsonl"   // JSON Lines: one JSON object per line
	FormatParquet Format = "parquet" // Apache Parquet (TokenizeParquet)
)

// Defaults used when the corresponding Options field is zero.
const (
	// DefaultBatchSize is the input bytes handed to a worker at a time.
	DefaultBatchSize = 1 << 20
	// DefaultMaxRecordSize bounds one record (a CSV record or a JSON line).
	DefaultMaxRecordSize = 64 << 20
)

// Options configure Tokenize and Detokenize. The zero value of each field
// selects its default; Format is required.
type Options struct {
	// Format is FormatCSV or FormatJSONL.
	Format Format
	// Workers is the number of goroutines transforming batches of records
	// (for Parquet, row groups), GOMAXPROCS when zero. Output order is input
	// order whatever it is.
	Workers int
	// BatchSize is the input bytes per batch, DefaultBatchSize when zero.
	// Memory stays below about 3 x BatchSize x (2 x Workers + 2), plus the
	// largest record.
	BatchSize int
	// MaxRecordSize bounds one record, DefaultMaxRecordSize when zero.
	MaxRecordSize int
	// Rejects, when set, receives each record that cannot be parsed or
	// transformed, as it was read (for CSV, after a copy of the header),
	// and the run goes on without it. When nil, the first bad record stops
	// the run with a *RecordError.
	Rejects io.Writer
	// OnReject, when set, is called with the error of each rejected record,
	// in input order, from the goroutine that called Tokenize.
	OnReject func(*RecordError)
	// Progress, when set, is called after each batch is written, from the
	// goroutine that called Tokenize. The library never prints.
	Progress func(Progress)
}

// Progress reports how far a run has got.
type Progress struct {
	BytesRead int64 // input bytes consumed
	Records   int64 // records read, rejected ones included
}

// Stats sum up a run.
type Stats struct {
	Records  int64 // records read, header excluded, rejected ones included
	Rejected int64 // records sent to Options.Rejects
	// Passed counts, by field, the values that on_invalid: pass left as
	// they were because the field's operation could not transform them:
	// values that may hold personal data in the clear. Nil when none.
	Passed map[string]int64
}

// addPassed adds a batch's counts of values passed through.
func (st *Stats) addPassed(ops []*fieldOp, passed []int64) {
	for i, n := range passed {
		if n == 0 {
			continue
		}
		if st.Passed == nil {
			st.Passed = map[string]int64{}
		}
		st.Passed[ops[i].f.Name] += n
	}
}

// ErrMalformed means a record cannot be parsed: bad CSV quoting, a wrong
// number of fields, a line that is not a JSON object.
var ErrMalformed = errors.New("malformed record")

// A RecordError reports a record that could not be parsed or transformed.
type RecordError struct {
	Record int64  // 1-based index of the record, the CSV header excluded; 0 when unknown (the header, a record too long to read)
	Line   int64  // 1-based line of the input where the record starts; 0 for Parquet rows
	Field  string // the field, when the error is about one
	Err    error  // wraps ErrMalformed, ErrValue, ErrToken, ...
}

func (e *RecordError) Error() string {
	var s string
	switch {
	case e.Record == 0:
		s = fmt.Sprintf("line %d", e.Line)
	case e.Line == 0:
		s = fmt.Sprintf("record %d", e.Record) // Parquet rows have no lines
	default:
		s = fmt.Sprintf("record %d (line %d)", e.Record, e.Line)
	}
	if e.Field != "" {
		s += fmt.Sprintf(", field %q", e.Field)
	}
	return s + ": " + e.Err.Error()
}

func (e *RecordError) Unwrap() error { return e.Err }

// Tokenize reads records in opts.Format from src and writes them to dst
// with the policy's fields transformed. Fields the policy does not name are
// copied. It refuses, with ErrKeyVersion, a policy with fpe fields that
// names no PRF key when the keyset holds several (after Keyset.Rotate).
// It returns when src is exhausted or at the first error; dst may
// then hold a partial output, which the caller should discard (the CLI
// writes through a temporary file for that reason). It does not close dst.
func (t *Tokenizer) Tokenize(dst io.Writer, src io.Reader, opts Options) (Stats, error) {
	if err := t.keyRecorded(); err != nil {
		return Stats{}, err
	}
	return t.run(dst, src, opts, false)
}

// Detokenize reverses Tokenize for the reversible fields (deterministic,
// fpe, and the deterministic spans of scan fields); the others are copied
// as they are, since they cannot be reversed. Dropped fields stay dropped.
func (t *Tokenizer) Detokenize(dst io.Writer, src io.Reader, opts Options) (Stats, error) {
	return t.run(dst, src, opts, true)
}

// A recordFormat splits input into whole records and transforms batches.
type recordFormat interface {
	// split returns the length of the longest prefix of data made of whole
	// records; at EOF that is all of data.
	split(data []byte, atEOF bool) int
	// process transforms the records of b.data into b.out.
	process(b *batch, detok bool, reject bool)
}

// batch is a run of whole records and what became of them.
type batch struct {
	data    []byte
	line    int64 // line of data[0]
	out     []byte
	rej     bytes.Buffer
	errs    []*RecordError // rejected records (Record relative to the batch)
	records int64
	passed  []int64      // values passed through, by Tokenizer.ops index
	err     *RecordError // the fatal error (Record relative to the batch)
	other   error
	done    chan struct{}
}

// fail records a bad record: rejected when rejecting, else fatal. It
// reports whether processing may go on.
func (b *batch) fail(reject bool, raw []byte, e *RecordError) bool {
	if !reject {
		b.err = e
		return false
	}
	b.rej.Write(raw)
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		b.rej.WriteByte('\n')
	}
	b.errs = append(b.errs, e)
	return true
}

func (t *Tokenizer) run(dst io.Writer, src io.Reader, opts Options, detok bool) (Stats, error) {
	var st Stats
	batchSize := positive(opts.BatchSize, DefaultBatchSize)
	maxRecord := positive(opts.MaxRecordSize, DefaultMaxRecordSize)
	workers := positive(opts.Workers, runtime.GOMAXPROCS(0))
	rd := &recordReader{src: src, maxRecord: maxRecord, line: 1}

	var f recordFormat
	switch opts.Format {
	case FormatCSV:
		cf, header, err := t.newCSV(rd, detok)
		if err != nil {
			return st, err
		}
		if _, err := dst.Write(header); err != nil {
			return st, err
		}
		if opts.Rejects != nil {
			if _, err := opts.Rejects.Write(cf.rawHeader); err != nil {
				return st, err
			}
		}
		f = cf
	case FormatJSONL:
		f = t.newJSONL()
	case FormatParquet:
		return st, errors.New("tokenize: Parquet needs an io.ReaderAt: use TokenizeParquet")
	case "":
		return st, errors.New("tokenize: Options.Format is not set")
	default:
		return st, fmt.Errorf("tokenize: unknown format %q", opts.Format)
	}
	reject := opts.Rejects != nil

	work := make(chan *batch, workers)
	ordered := make(chan *batch, 2*workers)
	quit := make(chan struct{})
	var readErr error
	go func() {
		defer close(work)
		defer close(ordered)
		for {
			data, line, err := rd.next(f, batchSize)
			if len(data) > 0 {
				b := &batch{data: data, line: line, done: make(chan struct{})}
				b.out = getBuf(len(data) + len(data)/2 + 512)
				select {
				case ordered <- b:
				case <-quit:
					return
				}
				select {
				case work <- b:
				case <-quit:
					return
				}
			}
			if err != nil {
				if err != io.EOF {
					readErr = err
				}
				return
			}
		}
	}()
	for range workers {
		go func() {
			for b := range work {
				select {
				case <-quit:
				default:
					f.process(b, detok, reject)
				}
				close(b.done)
			}
		}()
	}

	var firstErr error
	stop := func(err error) {
		if firstErr == nil {
			firstErr = err
			close(quit)
		}
	}
	for b := range ordered {
		if firstErr != nil {
			continue // draining: b may never reach a worker
		}
		<-b.done
		base := st.Records
		if b.err != nil {
			b.err.Record += base
			stop(b.err)
			continue
		}
		if b.other != nil {
			stop(b.other)
			continue
		}
		if _, err := dst.Write(b.out); err != nil {
			stop(err)
			continue
		}
		if len(b.errs) > 0 {
			if _, err := opts.Rejects.Write(b.rej.Bytes()); err != nil {
				stop(err)
				continue
			}
			for _, e := range b.errs {
				e.Record += base
				if opts.OnReject != nil {
					opts.OnReject(e)
				}
			}
			st.Rejected += int64(len(b.errs))
		}
		st.Records += b.records
		st.addPassed(t.ops, b.passed)
		putBuf(b.data)
		putBuf(b.out)
		b.data, b.out = nil, nil
		if opts.Progress != nil {
			opts.Progress(Progress{BytesRead: rd.consumed(), Records: st.Records})
		}
	}
	if firstErr != nil {
		return st, firstErr
	}
	if readErr != nil {
		return st, readErr
	}
	return st, nil
}

func positive(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// recordReader cuts the input into batches of whole records. Each batch is
// read straight into a buffer of its own (pooled), and only the partial
// record at its end is copied to the next.
type recordReader struct {
	src       io.Reader
	carry     []byte // the start of a record that the last batch cut off
	eof       bool
	err       error
	maxRecord int
	line      int64 // line of carry[0]
	done      atomic.Int64
}

func (r *recordReader) consumed() int64 { return r.done.Load() }

var bufPool sync.Pool // *[]byte

func getBuf(n int) []byte {
	if p, ok := bufPool.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]byte, 0, n)
}

func putBuf(b []byte) {
	if cap(b) > 0 && cap(b) <= 4*DefaultBatchSize {
		bufPool.Put(&b)
	}
}

// readInto reads into buf until it holds n bytes or the input ends.
func (r *recordReader) readInto(buf []byte, n int) []byte {
	if cap(buf) < n {
		nb := make([]byte, len(buf), n)
		copy(nb, buf)
		buf = nb
	}
	for len(buf) < n && !r.eof {
		k, err := r.src.Read(buf[len(buf):n])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			r.eof = true
		} else if err != nil {
			r.eof, r.err = true, err
		}
	}
	return buf
}

// next returns the next batch of whole records, of about size bytes, in a
// buffer that putBuf may recycle, and the line it starts at. The error is
// io.EOF after the last batch.
func (r *recordReader) next(f recordFormat, size int) ([]byte, int64, error) {
	want := max(size, len(r.carry)+size/4)
	buf := append(getBuf(want), r.carry...)
	for {
		buf = r.readInto(buf, want)
		if r.err != nil {
			return nil, r.line, r.err
		}
		n := f.split(buf, r.eof)
		if n == 0 && len(buf) > 0 && !r.eof {
			// No whole record yet: read more, up to the record limit.
			if len(buf) >= r.maxRecord {
				return nil, r.line, &RecordError{Line: r.line, Err: fmt.Errorf("%w: a record longer than %d bytes (or an unterminated quoted field)", ErrMalformed, r.maxRecord)}
			}
			want = min(2*len(buf), r.maxRecord+1)
			continue
		}
		r.carry = append(r.carry[:0], buf[n:]...)
		out := buf[:n]
		r.done.Add(int64(n))
		line := r.line
		r.line += int64(bytes.Count(out, []byte{'\n'}))
		if r.eof && len(r.carry) == 0 {
			return out, line, io.EOF
		}
		return out, line, nil
	}
}
