package tokenize

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// csvFormat transforms CSV records by column.
type csvFormat struct {
	ncols     int
	ops       []*fieldOp // by column; nil for columns copied as they are
	drop      []bool     // by column: redact with drop
	entity    []int      // by column: the entity column of a date-shift, or -1
	rawHeader []byte
}

// newCSV reads the header record, matches the policy's fields to its
// columns and returns the header to write.
func (t *Tokenizer) newCSV(rd *recordReader, detok bool) (*csvFormat, []byte, error) {
	f := &csvFormat{}
	data, _, err := rd.next(headerSplitter{}, 4096)
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("%w: the CSV input is empty; it needs a header row", ErrMalformed)
	}
	f.rawHeader = data
	r := csv.NewReader(bytes.NewReader(data))
	header, perr := r.Read()
	if perr != nil {
		return nil, nil, &RecordError{Line: 1, Err: fmt.Errorf("%w: header row: %v", ErrMalformed, perr)}
	}
	if len(header) > 0 {
		// A byte order mark is not part of the first column's name.
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	f.ncols = len(header)
	f.ops = make([]*fieldOp, f.ncols)
	f.drop = make([]bool, f.ncols)
	f.entity = make([]int, f.ncols)
	col := map[string]int{}
	for i, h := range header {
		if _, dup := col[h]; dup {
			return nil, nil, fmt.Errorf("%w: the header names column %q twice", ErrMalformed, h)
		}
		col[h] = i
	}
	for _, o := range t.ops {
		i, ok := col[o.f.Name]
		if !ok {
			if o.f.Optional {
				continue
			}
			return nil, nil, fmt.Errorf("%w: the policy names field %q, which the CSV header lacks (it has %q); mark it optional if it may be absent", ErrPolicy, o.f.Name, header)
		}
		f.ops[i] = o
		f.drop[i] = o.f.Op == OpRedact && o.f.Drop
		f.entity[i] = -1
		if o.f.Op == OpDateShift {
			e, ok := col[o.f.Entity]
			if !ok {
				return nil, nil, fmt.Errorf("%w: field %q: its entity column %q is not in the CSV header", ErrPolicy, o.f.Name, o.f.Entity)
			}
			f.entity[i] = e
		}
	}
	var out []string
	for i, h := range header {
		if !f.drop[i] || detok {
			out = append(out, h)
		}
	}
	if detok {
		// Dropped columns are not in a tokenized file: nothing to drop.
		f.drop = make([]bool, f.ncols)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	writeCSV(w, &buf, out)
	w.Flush()
	return f, buf.Bytes(), w.Error()
}

// headerSplitter splits off the first CSV record.
type headerSplitter struct{}

func (headerSplitter) split(data []byte, atEOF bool) int {
	n := csvSplit(data, atEOF, true)
	return n
}

func (headerSplitter) process(*batch, bool, bool) {}

func (f *csvFormat) split(data []byte, atEOF bool) int { return csvSplit(data, atEOF, false) }

// csvSplit returns the length of the whole CSV records at the start of
// data (only the first one if first is set), following RFC 4180: a quote
// opens a quoted field only at the start of a field, and newlines inside
// quoted fields do not end a record.
func csvSplit(data []byte, atEOF, first bool) int {
	const (
		fieldStart = iota
		unquoted
		quoted
		quoteInQuoted
	)
	state := fieldStart
	last := 0
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch state {
		case fieldStart, unquoted, quoteInQuoted:
			switch c {
			case '\n':
				last = i + 1
				if first {
					return last
				}
				state = fieldStart
				continue
			case ',':
				state = fieldStart
				continue
			case '"':
				switch state {
				case fieldStart:
					state = quoted
				case quoteInQuoted:
					state = quoted // an escaped quote
				}
				continue
			}
			state = unquoted
			if state == unquoted {
				// Skip to the next delimiter quickly.
				j := bytes.IndexAny(data[i:], ",\n")
				if j < 0 {
					i = len(data) - 1
				} else {
					i += j - 1
				}
			}
		case quoted:
			j := bytes.IndexByte(data[i:], '"')
			if j < 0 {
				i = len(data) - 1
				continue
			}
			i += j
			state = quoteInQuoted
		}
	}
	if atEOF {
		return len(data)
	}
	return last
}

func (f *csvFormat) process(b *batch, detok, reject bool) {
	r := csv.NewReader(bytes.NewReader(b.data))
	r.FieldsPerRecord = f.ncols
	r.ReuseRecord = true
	w := csv.NewWriter(&b.out)
	out := make([]string, 0, f.ncols)
	var prev int64
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		off := r.InputOffset()
		raw := b.data[prev:off]
		prev = off
		b.records++
		if err != nil {
			e := &RecordError{Record: b.records, Line: b.line, Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				e.Line = b.line + int64(pe.StartLine) - 1
				e.Err = fmt.Errorf("%w: %v", ErrMalformed, pe.Err)
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					e.Err = fmt.Errorf("%w: %d fields, the header has %d", ErrMalformed, len(rec), f.ncols)
				}
			}
			if !b.fail(reject, raw, e) {
				return
			}
			continue
		}
		out = out[:0]
		var bad *RecordError
		for i, v := range rec {
			o := f.ops[i]
			switch {
			case f.drop[i]:
				continue
			case o == nil || v == "":
			case detok:
				v, err = o.detokenize(v)
			default:
				entity := ""
				if f.entity[i] >= 0 {
					entity = rec[f.entity[i]]
				}
				v, err = o.tokenize(v, entity)
			}
			if err != nil {
				line, _ := r.FieldPos(0)
				bad = &RecordError{Record: b.records, Line: b.line + int64(line) - 1, Field: o.f.Name, Err: err}
				break
			}
			out = append(out, v)
		}
		if bad != nil {
			if !b.fail(reject, raw, bad) {
				return
			}
			continue
		}
		if err := writeCSV(w, &b.out, out); err != nil {
			b.other = err
			return
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		b.other = err
	}
}

// writeCSV writes one record. encoding/csv writes a record of one empty
// field as an empty line, which readers skip; it is written as "" instead.
func writeCSV(w *csv.Writer, buf *bytes.Buffer, rec []string) error {
	if len(rec) == 1 && rec[0] == "" {
		w.Flush()
		buf.WriteString("\"\"\n")
		return w.Error()
	}
	return w.Write(rec)
}
