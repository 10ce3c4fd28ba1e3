package tokenize

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// TokenizeParquet reads a Parquet file from src (size bytes) and writes it
// to dst with the policy's fields transformed, row group by row group, with
// the schema, compression and key-value metadata kept. Fields are columns
// by path (group and column names joined by "."; the "list.element" levels
// of lists are left out); nulls stay null. Policy fields are string
// (BYTE_ARRAY) columns, with two exceptions: date-shift also moves DATE and
// TIMESTAMP columns, and fpe also encrypts the digits of INT32 and INT64
// columns (see FORMAT.md); other columns are refused with the reason.
// Options.Workers row groups are read and transformed at once (GOMAXPROCS
// when zero), and written in order, so memory holds about Workers + 1 row
// groups. Options.Rejects does not apply: the first bad value stops the
// run with a *RecordError whose Record is the 1-based row number. It does
// not close dst.
func (t *Tokenizer) TokenizeParquet(dst io.Writer, src io.ReaderAt, size int64, opts Options) (Stats, error) {
	if err := t.keyRecorded(); err != nil {
		return Stats{}, err
	}
	return t.runParquet(dst, src, size, opts, false)
}

// DetokenizeParquet reverses TokenizeParquet for the reversible fields.
func (t *Tokenizer) DetokenizeParquet(dst io.Writer, src io.ReaderAt, size int64, opts Options) (Stats, error) {
	return t.runParquet(dst, src, size, opts, true)
}

// parquetFieldName is the policy name of a leaf column path.
func parquetFieldName(path []string) string {
	var parts []string
	for i := 0; i < len(path); i++ {
		if path[i] == "list" && i+1 < len(path) && (path[i+1] == "element" || path[i+1] == "item") {
			i++
			continue
		}
		parts = append(parts, path[i])
	}
	return strings.Join(parts, ".")
}

// A parquetColumn is how one leaf column is transformed.
type parquetColumn struct {
	op     *fieldOp
	kind   parquet.Kind
	entity int           // the date-shift entity's column, or -1
	unit   time.Duration // a TIMESTAMP column's unit; 0 for others
	date   bool          // a DATE column
}

// parquetColumns matches the policy's fields to the schema's columns.
func (t *Tokenizer) parquetColumns(schema *parquet.Schema) ([]parquetColumn, error) {
	paths := schema.Columns()
	cols := make([]parquetColumn, len(paths))
	index := map[string]int{}
	for i, path := range paths {
		index[parquetFieldName(path)] = i
		cols[i].entity = -1
	}
	for _, o := range t.ops {
		i, ok := index[o.f.Name]
		if !ok {
			if o.f.Optional {
				continue
			}
			return nil, fmt.Errorf("%w: the policy names field %q, which the Parquet schema lacks", ErrPolicy, o.f.Name)
		}
		leaf, _ := schema.Lookup(paths[i]...)
		c := &cols[i]
		c.op, c.kind = o, leaf.Node.Type().Kind()
		var logical any
		if lt := leaf.Node.Type().LogicalType(); lt != nil {
			logical = lt.Value
		}
		switch lt := logical.(type) {
		case *format.DateType:
			c.date = true
		case *format.TimestampType:
			c.unit = lt.Unit.Value.Duration()
		}
		if o.f.Op == OpRedact && o.f.Drop {
			return nil, fmt.Errorf("%w: field %q: drop is not supported for Parquet; use replace", ErrPolicy, o.f.Name)
		}
		switch {
		case c.kind == parquet.ByteArray:
		case o.f.Op == OpDateShift && (c.date && c.kind == parquet.Int32 || c.unit != 0 && c.kind == parquet.Int64):
		case o.f.Op == OpFPE && (c.kind == parquet.Int32 || c.kind == parquet.Int64) && !c.date && c.unit == 0:
			if o.f.Alphabet != "digits" || o.keepLast != 0 {
				return nil, fmt.Errorf("%w: field %q is an integer (%s) column: fpe encrypts its digits, so it needs alphabet digits and no keep_last", ErrPolicy, o.f.Name, c.kind)
			}
		case o.f.Op == OpDateShift:
			return nil, fmt.Errorf("%w: field %q is a %s column without a DATE or TIMESTAMP type; date-shift moves strings in a layout, DATE and TIMESTAMP columns", ErrPolicy, o.f.Name, c.kind)
		case o.f.Op == OpFPE:
			return nil, fmt.Errorf("%w: field %q is a %s column; fpe encrypts strings and the digits of INT32 and INT64 columns", ErrPolicy, o.f.Name, c.kind)
		default:
			return nil, fmt.Errorf("%w: field %q is a %s column; %s transforms string (BYTE_ARRAY) columns only, since its tokens are text", ErrPolicy, o.f.Name, c.kind, o.f.Op)
		}
		if o.f.Op == OpDateShift {
			e, ok := index[o.f.Entity]
			if !ok {
				return nil, fmt.Errorf("%w: field %q: its entity %q is not a column", ErrPolicy, o.f.Name, o.f.Entity)
			}
			c.entity = e
		}
	}
	return cols, nil
}

// A parquetGroup is one row group read and transformed by a worker.
type parquetGroup struct {
	rg    parquet.RowGroup
	first int64 // rows before it
	rows  []parquet.Row
	arena []byte // the transformed values
	err   error
	n     *valueCounts
	done  chan struct{}
}

func (t *Tokenizer) runParquet(dst io.Writer, src io.ReaderAt, size int64, opts Options, detok bool) (Stats, error) {
	var st Stats
	if opts.Rejects != nil {
		return st, errors.New("tokenize: Options.Rejects is not supported for Parquet")
	}
	f, err := parquet.OpenFile(src, size)
	if err != nil {
		return st, fmt.Errorf("%w: not a Parquet file: %v", ErrMalformed, err)
	}
	schema := f.Schema()
	cols, err := t.parquetColumns(schema)
	if err != nil {
		return st, err
	}
	wopts := []parquet.WriterOption{schema}
	md := f.Metadata()
	if len(md.RowGroups) > 0 && len(md.RowGroups[0].Columns) > 0 {
		wopts = append(wopts, parquet.Compression(parquet.LookupCompressionCodec(md.RowGroups[0].Columns[0].MetaData.Codec)))
	}
	for _, kv := range md.KeyValueMetadata {
		wopts = append(wopts, parquet.KeyValueMetadata(kv.Key, kv.Value))
	}
	w := parquet.NewWriter(dst, wopts...)

	workers := positive(opts.Workers, runtime.GOMAXPROCS(0))
	work := make(chan *parquetGroup)
	ordered := make(chan *parquetGroup, workers)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		defer close(work)
		defer close(ordered)
		var first int64
		for _, rg := range f.RowGroups() {
			g := &parquetGroup{rg: rg, first: first, done: make(chan struct{})}
			first += rg.NumRows()
			select {
			case ordered <- g:
			case <-quit:
				return
			}
			select {
			case work <- g:
			case <-quit:
				return
			}
		}
	}()
	for range workers {
		go func() {
			for g := range work {
				t.parquetGroup(g, cols, detok)
				close(g.done)
			}
		}()
	}
	var done int64
	for g := range ordered {
		<-g.done
		st.Records += int64(len(g.rows))
		if g.err != nil {
			return st, g.err
		}
		st.addPassed(t.ops, g.n.passed)
		if _, err := w.WriteRows(g.rows); err != nil {
			return st, err
		}
		if err := w.Flush(); err != nil {
			return st, err
		}
		done += g.rg.NumRows()
		g.rows, g.arena = nil, nil
		if opts.Progress != nil {
			opts.Progress(Progress{BytesRead: size * done / max(f.NumRows(), 1), Records: st.Records})
		}
	}
	return st, w.Close()
}

// parquetGroup reads and transforms one row group.
func (t *Tokenizer) parquetGroup(g *parquetGroup, cols []parquetColumn, detok bool) {
	g.n = t.newCounts()
	defer t.reportCaches(g.n)
	rows := g.rg.Rows()
	defer rows.Close()
	g.rows = make([]parquet.Row, g.rg.NumRows())
	texts := 0
	for _, c := range cols {
		if c.op != nil && c.kind == parquet.ByteArray {
			texts++
		}
	}
	g.arena = make([]byte, 0, len(g.rows)*texts*48) // tokens are about as long
	for read := 0; read < len(g.rows); {
		n, err := rows.ReadRows(g.rows[read:])
		for _, row := range g.rows[read : read+n] {
			if e := g.transformRow(row, cols, detok); e != nil {
				e.Record = g.first + int64(read) + 1
				g.err = e
				return
			}
			read++
		}
		if err == io.EOF {
			g.rows = g.rows[:read]
			break
		}
		if err != nil {
			g.err = fmt.Errorf("%w: %v", ErrMalformed, err)
			return
		}
	}
}

// transformRow transforms the policy's values of one row in place; new
// byte arrays go to g.arena.
func (g *parquetGroup) transformRow(row parquet.Row, cols []parquetColumn, detok bool) *RecordError {
	for j, v := range row {
		c := &cols[v.Column()]
		o := c.op
		if o == nil || v.IsNull() {
			continue
		}
		var err error
		var out parquet.Value
		switch {
		case c.kind == parquet.ByteArray:
			if len(v.ByteArray()) == 0 {
				continue
			}
			at := len(g.arena)
			if detok {
				var s string
				if s, err = o.detokenize(string(v.ByteArray())); err == nil {
					g.arena = append(g.arena, s...)
				}
			} else {
				g.arena, err = o.appendToken(g.arena, v.ByteArray(), parquetEntity(row, c.entity), g.n)
			}
			out = parquet.ByteArrayValue(g.arena[at:len(g.arena):len(g.arena)])
		case o.f.Op == OpFPE:
			x := v.Int64()
			if c.kind == parquet.Int32 {
				x = int64(v.Int32())
			}
			in := x
			if x, err = o.fpeInt(x, c.kind == parquet.Int32, detok); err != nil && o.pass && errors.Is(err, ErrValue) {
				x, err = in, nil
				if !detok {
					g.n.passed[o.idx]++
				}
			}
			out = parquet.Int64Value(x)
			if c.kind == parquet.Int32 {
				out = parquet.Int32Value(int32(x))
			}
		case detok: // date-shift: one way
			continue
		default: // date-shift of a DATE or TIMESTAMP
			ent := parquetEntity(row, c.entity)
			if len(ent) == 0 {
				err = fmt.Errorf("%w: the entity field %q is empty or missing", ErrValue, o.f.Entity)
				if o.pass {
					g.n.passed[o.idx]++
					continue
				}
				break
			}
			days := int64(o.shiftDays(string(ent)))
			if c.date {
				out = parquet.Int32Value(v.Int32() + int32(days))
			} else {
				out = parquet.Int64Value(v.Int64() + days*int64(24*time.Hour/c.unit))
			}
		}
		if err != nil {
			return &RecordError{Field: o.f.Name, Err: err}
		}
		row[j] = out.Level(v.RepetitionLevel(), v.DefinitionLevel(), v.Column())
	}
	return nil
}

// parquetEntity returns the text of the first non-null value of column e in
// row, or nil.
func parquetEntity(row parquet.Row, e int) []byte {
	if e < 0 {
		return nil
	}
	for _, x := range row {
		if x.Column() == e && !x.IsNull() {
			if x.Kind() == parquet.ByteArray || x.Kind() == parquet.FixedLenByteArray {
				return x.ByteArray()
			}
			return []byte(x.String())
		}
	}
	return nil
}

// ScanParquet is Scan for a Parquet file: it reads the first
// opts.SampleRecords rows (opts.Format is ignored) and reports on every
// leaf column, numbers included (a card number may be stored as INT64).
func ScanParquet(src io.ReaderAt, size int64, opts ScanOptions) (*ScanReport, error) {
	limit := positive(opts.SampleRecords, DefaultSampleRecords)
	f, err := parquet.OpenFile(src, size)
	if err != nil {
		return nil, fmt.Errorf("%w: not a Parquet file: %v", ErrMalformed, err)
	}
	cols := f.Schema().Columns()
	stats := make([]*fieldStats, len(cols))
	for i, path := range cols {
		name := parquetFieldName(path)
		stats[i] = newFieldStats(name)
	}
	rep := &ScanReport{}
	buf := make([]parquet.Row, 256)
	for _, rg := range f.RowGroups() {
		if rep.Records >= limit {
			break
		}
		rows := rg.Rows()
		for rep.Records < limit {
			n, rerr := rows.ReadRows(buf[:min(len(buf), limit-rep.Records)])
			for _, row := range buf[:n] {
				rep.Records++
				for _, v := range row {
					if v.IsNull() {
						continue
					}
					s := v.String()
					if v.Kind() == parquet.ByteArray || v.Kind() == parquet.FixedLenByteArray {
						s = string(v.ByteArray())
					}
					stats[v.Column()].observe(s)
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				rows.Close()
				return nil, fmt.Errorf("%w: %v", ErrMalformed, rerr)
			}
		}
		rows.Close()
	}
	for _, fs := range stats {
		rep.Fields = append(rep.Fields, fs.report())
	}
	return rep, nil
}
