package tokenize

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
)

// csvFormat transforms CSV records by column. It rewrites only the fields
// the policy names: every other byte of a record (the other fields as they
// were quoted, the delimiters, a CRLF or LF line ending, CRLF inside quoted
// fields, blank lines) is copied as it was read.
type csvFormat struct {
	t         *Tokenizer
	ncols     int
	ops       []*fieldOp // by column; nil for columns copied as they are
	drop      []bool     // by column: redact with drop
	entity    []int      // by column: the entity column of a date-shift, or -1
	rawHeader []byte
}

// bom is the UTF-8 byte order mark. It is not part of the first column's
// name; it is kept on output.
const bom = "\ufeff"

// newCSV reads the header record, matches the policy's fields to its
// columns and returns the header to write.
func (t *Tokenizer) newCSV(rd *recordReader, detok bool) (*csvFormat, []byte, error) {
	f := &csvFormat{t: t}
	data, _, err := rd.next(headerSplitter{}, 4096)
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("%w: the CSV input is empty; it needs a header row", ErrMalformed)
	}
	f.rawHeader = data
	rest := bytes.TrimPrefix(data, []byte(bom))
	var rec csvRecord
	if _, err := rec.scan(rest, 0); err != nil {
		return nil, nil, &RecordError{Line: 1, Err: fmt.Errorf("%w: header row: %v", ErrMalformed, err)}
	}
	if len(rec.fields) == 0 {
		return nil, nil, &RecordError{Line: 1, Err: fmt.Errorf("%w: header row: an empty line", ErrMalformed)}
	}
	header := make([]string, len(rec.fields))
	for i := range rec.fields {
		header[i] = string(rec.value(rest, i, nil))
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
		dropped := o.f.Op == OpRedact && o.f.Drop
		i, ok := col[o.f.Name]
		if !ok {
			if o.f.Optional || detok && dropped {
				// A tokenized file lacks the columns its policy dropped.
				continue
			}
			return nil, nil, fmt.Errorf("%w: the policy names field %q, which the CSV header lacks (it has %q); mark it optional if it may be absent", ErrPolicy, o.f.Name, header)
		}
		f.ops[i] = o
		f.drop[i] = dropped && !detok
		f.entity[i] = -1
		if o.f.Op == OpDateShift && !detok {
			e, ok := col[o.f.Entity]
			if !ok {
				return nil, nil, fmt.Errorf("%w: field %q: its entity column %q is not in the CSV header", ErrPolicy, o.f.Name, o.f.Entity)
			}
			f.entity[i] = e
		}
	}
	out := append([]byte(nil), data[:len(data)-len(rest)]...)
	out = f.appendKept(out, rest, &rec, func(out []byte, i int) []byte {
		return append(out, rest[rec.fields[i].start:rec.fields[i].end]...)
	})
	return f, out, nil
}

// appendKept appends the record's fields that are not dropped, each as
// field(out, i) writes it, and its line ending.
func (f *csvFormat) appendKept(out, data []byte, rec *csvRecord, field func([]byte, int) []byte) []byte {
	start, n := len(out), 0
	for i := range rec.fields {
		if f.drop[i] {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		n++
		out = field(out, i)
	}
	if n == 1 && len(out) == start {
		// A record of one empty field would be a blank line, which
		// readers skip.
		out = append(out, '"', '"')
	}
	return append(out, data[rec.eol:rec.next]...)
}

// headerSplitter splits off the first CSV record.
type headerSplitter struct{}

func (headerSplitter) split(data []byte, atEOF bool) int {
	if bytes.HasPrefix(data, []byte(bom)) {
		return len(bom) + csvSplit(data[len(bom):], atEOF, true)
	}
	return csvSplit(data, atEOF, true)
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
			for i+1 < len(data) && data[i+1] != ',' && data[i+1] != '\n' {
				i++ // what follows a field's first byte up to a delimiter
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

// A csvRecord is where one record's fields are in its input: it is parsed
// in place, so that what is not rewritten can be copied as it was.
type csvRecord struct {
	fields []csvField
	eol    int // where the line ending starts
	next   int // where the next record starts
}

// A csvField is data[start:end], quotes included when quoted.
type csvField struct {
	start, end int
	quoted     bool
}

// scan parses the record at data[pos:] as encoding/csv does (RFC 4180,
// no lazy quotes): "\r\n" and "\n" end a record, as does a "\r" or the end
// of data at the end of the input; a blank line is a record of no fields.
// The error is encoding/csv's csv.ErrQuote or csv.ErrBareQuote.
func (r *csvRecord) scan(data []byte, pos int) (int, error) {
	r.fields = r.fields[:0]
	i := pos
	if end, ok := lineEnd(data, i); ok {
		r.eol, r.next = i, end
		return end, nil
	}
	for {
		var fl csvField
		fl.start = i
		if i < len(data) && data[i] == '"' {
			fl.quoted = true
			i++
			for {
				k := bytes.IndexByte(data[i:], '"')
				if k < 0 {
					return 0, csv.ErrQuote
				}
				i += k + 1
				if i < len(data) && data[i] == '"' {
					i++ // an escaped quote
					continue
				}
				break
			}
			fl.end = i
			if i < len(data) && data[i] != ',' {
				if _, ok := lineEnd(data, i); !ok {
					return 0, csv.ErrQuote
				}
			}
		} else {
			for i < len(data) && data[i] != ',' && data[i] != '\n' && data[i] != '"' {
				i++
			}
			if i < len(data) && data[i] == '"' {
				return 0, csv.ErrBareQuote
			}
			fl.end = i
			if i > fl.start && data[i-1] == '\r' {
				if _, ok := lineEnd(data, i-1); ok {
					fl.end, i = i-1, i-1
				}
			}
		}
		r.fields = append(r.fields, fl)
		if i < len(data) && data[i] == ',' {
			i++
			continue
		}
		end, _ := lineEnd(data, i)
		r.eol, r.next = i, end
		return end, nil
	}
}

// lineEnd reports whether a line ends at data[i]: "\n", "\r\n", or "\r"
// or nothing at the end of data. It returns where the next line starts.
func lineEnd(data []byte, i int) (int, bool) {
	switch {
	case i == len(data):
		return i, true
	case data[i] == '\n':
		return i + 1, true
	case data[i] == '\r' && (i+1 == len(data) || data[i+1] == '\n'):
		return min(i+2, len(data)), true
	}
	return 0, false
}

// value appends the value of field i to dst: unquoted, with "" read as ".
func (r *csvRecord) value(data []byte, i int, dst []byte) []byte {
	fl := r.fields[i]
	if !fl.quoted {
		return append(dst, data[fl.start:fl.end]...)
	}
	v := data[fl.start+1 : fl.end-1]
	for {
		k := bytes.IndexByte(v, '"')
		if k < 0 {
			return append(dst, v...)
		}
		dst = append(dst, v[:k+1]...)
		v = v[k+2:]
	}
}

// rawValue returns the value of field i, in data itself when unquoted
// and without quotes to unescape, else in *scratch.
func (r *csvRecord) rawValue(data []byte, i int, scratch *[]byte) []byte {
	fl := r.fields[i]
	if !fl.quoted {
		return data[fl.start:fl.end]
	}
	if v := data[fl.start+1 : fl.end-1]; bytes.IndexByte(v, '"') < 0 {
		return v
	}
	*scratch = r.value(data, i, (*scratch)[:0])
	return *scratch
}

// appendCSVField appends v as a field: quoted when the field was quoted
// or v needs quotes.
func appendCSVField(out []byte, v []byte, quoted bool) []byte {
	if !quoted && !needsQuotes(v) {
		return append(out, v...)
	}
	out = append(out, '"')
	for {
		k := bytes.IndexByte(v, '"')
		if k < 0 {
			break
		}
		out = append(out, v[:k+1]...)
		out = append(out, '"')
		v = v[k+1:]
	}
	out = append(out, v...)
	return append(out, '"')
}

func needsQuotes(v []byte) bool {
	for _, c := range v {
		if c == ',' || c == '"' || c == '\r' || c == '\n' {
			return true
		}
	}
	return false
}

func (f *csvFormat) process(b *batch, detok, reject bool) {
	data := b.data
	line := b.line
	counts := f.t.newCounts()
	defer f.t.report(b, counts)
	var rec csvRecord
	var scratch, ent, tok []byte
	for pos := 0; pos < len(data); {
		next, err := rec.scan(data, pos)
		if err != nil {
			// Set the bad record aside up to where the splitter ends it.
			next = pos + csvSplit(data[pos:], false, true)
			if next == pos {
				next = len(data)
			}
		}
		raw := data[pos:next]
		pos = next
		thisLine := line
		line += int64(bytes.Count(raw, []byte{'\n'}))
		if err == nil && len(rec.fields) == 0 {
			b.out = append(b.out, raw...) // a blank line is not a record
			continue
		}
		b.records++
		if err == nil && len(rec.fields) != f.ncols {
			err = fmt.Errorf("%d fields, the header has %d", len(rec.fields), f.ncols)
		}
		if err != nil {
			e := &RecordError{Record: b.records, Line: thisLine, Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
			if !b.fail(reject, raw, e) {
				return
			}
			continue
		}
		start := len(b.out)
		counts.startRecord()
		var bad *RecordError
		b.out = f.appendKept(b.out, data, &rec, func(out []byte, i int) []byte {
			fl := rec.fields[i]
			o := f.ops[i]
			if o == nil || bad != nil {
				return append(out, data[fl.start:fl.end]...)
			}
			v := rec.rawValue(data, i, &scratch)
			if len(v) == 0 {
				return append(out, data[fl.start:fl.end]...)
			}
			at := len(out)
			var err error
			if detok {
				var s string
				s, err = o.detokenize(string(v))
				out = append(out, s...)
			} else {
				ent = ent[:0]
				if e := f.entity[i]; e >= 0 {
					ent = rec.value(data, e, ent)
				}
				out, err = o.appendToken(out, v, ent, counts)
			}
			if err != nil {
				bad = &RecordError{Record: b.records, Line: thisLine, Field: o.f.Name, Err: err}
				return out[:at]
			}
			if fl.quoted || needsQuotes(out[at:]) {
				tok = append(tok[:0], out[at:]...)
				out = appendCSVField(out[:at], tok, true)
			}
			return out
		})
		if bad != nil {
			b.out = b.out[:start]
			counts.dropRecord()
			if !b.fail(reject, raw, bad) {
				return
			}
		}
	}
}
