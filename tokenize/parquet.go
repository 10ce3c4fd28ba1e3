package tokenize

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// parquetBatch is the rows read and transformed at a time.
const parquetBatch = 1024

// TokenizeParquet reads a Parquet file from src (size bytes) and writes it
// to dst with the policy's fields transformed, row group by row group, with
// the schema, compression and key-value metadata kept. Fields are columns
// by path (group and column names joined by "."; the "list.element" levels
// of lists are left out). Policy fields must be string (BYTE_ARRAY)
// columns, since tokens are text; nulls stay null. Memory holds one row
// group of the output, as Parquet writers must. Options.Rejects and
// Workers do not apply: the first bad value stops the run with a
// *RecordError whose Record is the 1-based row number. It does not close
// dst.
func (t *Tokenizer) TokenizeParquet(dst io.Writer, src io.ReaderAt, size int64, opts Options) (Stats, error) {
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
	cols := schema.Columns()
	ops := make([]*fieldOp, len(cols))
	entity := make([]int, len(cols))
	index := map[string]int{}
	for i, path := range cols {
		index[parquetFieldName(path)] = i
	}
	for _, o := range t.ops {
		i, ok := index[o.f.Name]
		if !ok {
			if o.f.Optional {
				continue
			}
			return st, fmt.Errorf("%w: the policy names field %q, which the Parquet schema lacks", ErrPolicy, o.f.Name)
		}
		leaf, _ := schema.Lookup(cols[i]...)
		if k := leaf.Node.Type().Kind(); k != parquet.ByteArray {
			return st, fmt.Errorf("%w: field %q is a %s column; tokenize transforms string (BYTE_ARRAY) columns only", ErrPolicy, o.f.Name, k)
		}
		if o.f.Op == OpRedact && o.f.Drop {
			return st, fmt.Errorf("%w: field %q: drop is not supported for Parquet; use replace", ErrPolicy, o.f.Name)
		}
		ops[i] = o
		entity[i] = -1
		if o.f.Op == OpDateShift {
			e, ok := index[o.f.Entity]
			if !ok {
				return st, fmt.Errorf("%w: field %q: its entity %q is not a column", ErrPolicy, o.f.Name, o.f.Entity)
			}
			entity[i] = e
		}
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
	buf := make([]parquet.Row, parquetBatch)
	var done int64
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		for {
			n, rerr := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				st.Records++
				if err := transformRow(row, ops, entity, detok); err != nil {
					rows.Close()
					err.Record = st.Records
					return st, err
				}
			}
			if n > 0 {
				if _, err := w.WriteRows(buf[:n]); err != nil {
					rows.Close()
					return st, err
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				rows.Close()
				return st, fmt.Errorf("%w: %v", ErrMalformed, rerr)
			}
		}
		rows.Close()
		if err := w.Flush(); err != nil {
			return st, err
		}
		done += rg.NumRows()
		if opts.Progress != nil {
			opts.Progress(Progress{BytesRead: size * done / max(f.NumRows(), 1), Records: st.Records})
		}
	}
	return st, w.Close()
}

func transformRow(row parquet.Row, ops []*fieldOp, entity []int, detok bool) *RecordError {
	for j, v := range row {
		c := v.Column()
		o := ops[c]
		if o == nil || v.IsNull() || len(v.ByteArray()) == 0 {
			continue
		}
		s := string(v.ByteArray())
		var out string
		var err error
		if detok {
			out, err = o.detokenize(s)
		} else {
			ent := ""
			if e := entity[c]; e >= 0 {
				for _, x := range row {
					if x.Column() == e && !x.IsNull() {
						ent = x.String()
						if x.Kind() == parquet.ByteArray {
							ent = string(x.ByteArray())
						}
						break
					}
				}
			}
			out, err = o.tokenize(s, ent)
		}
		if err != nil {
			return &RecordError{Field: o.f.Name, Err: err}
		}
		row[j] = parquet.ByteArrayValue([]byte(out)).Level(v.RepetitionLevel(), v.DefinitionLevel(), c)
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
