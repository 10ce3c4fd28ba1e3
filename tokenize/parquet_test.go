package tokenize

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

type customerRow struct {
	CustomerID string   `parquet:"customer_id"`
	Email      string   `parquet:"email"`
	SSN        string   `parquet:"ssn"`
	BirthDate  string   `parquet:"birth_date"`
	Notes      *string  `parquet:"notes,optional"`
	Tags       []string `parquet:"tags,list"`
	Age        int64    `parquet:"age"`
}

func writeParquet(t *testing.T, rows []customerRow, perGroup int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[customerRow](&buf, parquet.Compression(&parquet.Zstd), parquet.KeyValueMetadata("origin", "test"))
	for i := 0; i < len(rows); i += perGroup {
		if _, err := w.Write(rows[i:min(i+perGroup, len(rows))]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readParquet(t *testing.T, data []byte) []customerRow {
	t.Helper()
	return readRows[customerRow](t, data)
}

func TestParquet(t *testing.T) {
	p, err := ParsePolicy([]byte(`{"version":1,"fields":[
		{"name":"email","op":"deterministic","domain":"email"},
		{"name":"ssn","op":"fpe","alphabet":"digits","separators":"-"},
		{"name":"birth_date","op":"date-shift","entity":"customer_id"},
		{"name":"notes","op":"scan"},
		{"name":"tags","op":"hash","length":10}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tk := mustNew(t, p)
	note := "reach me at ada@example.com"
	var rows []customerRow
	for i := range 2500 {
		r := customerRow{CustomerID: fmt.Sprintf("C-%d", i%7), Email: fmt.Sprintf("u%d@example.com", i%100),
			SSN: fmt.Sprintf("%03d-45-%04d", 100+i%800, i), BirthDate: "1990-03-01", Tags: []string{"a", "b"}, Age: int64(i)}
		if i%3 == 0 {
			r.Notes = &note
		}
		rows = append(rows, r)
	}
	in := writeParquet(t, rows, 1000)
	var out bytes.Buffer
	st, err := tk.TokenizeParquet(&out, bytes.NewReader(in), int64(len(in)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 2500 {
		t.Errorf("%d rows", st.Records)
	}
	f, err := parquet.OpenFile(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.RowGroups()) != 3 {
		t.Errorf("%d row groups, want 3 as in the input", len(f.RowGroups()))
	}
	if v, _ := f.Lookup("origin"); v != "test" {
		t.Error("key-value metadata lost")
	}
	if f.Metadata().RowGroups[0].Columns[0].MetaData.Codec.String() != "ZSTD" {
		t.Errorf("codec %v, want ZSTD", f.Metadata().RowGroups[0].Columns[0].MetaData.Codec)
	}
	tok := readParquet(t, out.Bytes())
	ssnRE := regexp.MustCompile(`^\d{3}-\d{2}-\d{4}$`)
	for i, r := range tok {
		o := rows[i]
		if r.CustomerID != o.CustomerID || r.Age != o.Age || r.Email == o.Email || !ssnRE.MatchString(r.SSN) || r.SSN == o.SSN ||
			r.BirthDate == o.BirthDate || len(r.Tags) != 2 || len(r.Tags[0]) != 10 || (o.Notes == nil) != (r.Notes == nil) {
			t.Fatalf("row %d: %+v from %+v", i, r, o)
		}
		if i == 7 && (r.Email != tok[107].Email || r.BirthDate != tok[7+7*100].BirthDate) {
			t.Error("same value or entity, different tokens")
		}
	}
	var back bytes.Buffer
	if _, err := tk.DetokenizeParquet(&back, bytes.NewReader(out.Bytes()), int64(out.Len()), Options{}); err != nil {
		t.Fatal(err)
	}
	for i, r := range readParquet(t, back.Bytes()) {
		o := rows[i]
		if r.Email != o.Email || r.SSN != o.SSN || (o.Notes != nil && *r.Notes != note) {
			t.Fatalf("row %d back: %+v, want %+v", i, r, o)
		}
	}

	// Errors name the row and the field; non-string columns are refused.
	rows[1234].SSN = "12-x"
	bad := writeParquet(t, rows, 1000)
	_, err = tk.TokenizeParquet(&bytes.Buffer{}, bytes.NewReader(bad), int64(len(bad)), Options{})
	var re *RecordError
	if !errors.As(err, &re) || re.Record != 1235 || re.Field != "ssn" || !errors.Is(err, ErrValue) {
		t.Errorf("bad row: %v", err)
	}
	p2, _ := ParsePolicy([]byte(`{"version":1,"fields":[{"name":"age","op":"hash"}]}`))
	if _, err := mustNew(t, p2).TokenizeParquet(&bytes.Buffer{}, bytes.NewReader(in), int64(len(in)), Options{}); !errors.Is(err, ErrPolicy) {
		t.Errorf("int64 column: %v", err)
	}
}

func TestScanParquet(t *testing.T) {
	var rows []customerRow
	for i := range 50 {
		rows = append(rows, customerRow{CustomerID: fmt.Sprint("C-", i), Email: fmt.Sprintf("u%d@example.com", i),
			SSN: fmt.Sprintf("%03d-45-%04d", 100+i, 1000+i), BirthDate: "1990-03-01", Age: int64(i)})
	}
	data := writeParquet(t, rows, 20)
	rep, err := ScanParquet(bytes.NewReader(data), int64(len(data)), ScanOptions{SampleRecords: 30})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 30 {
		t.Errorf("%d rows sampled", rep.Records)
	}
	got := map[string]string{}
	for _, f := range rep.Fields {
		if len(f.Types) > 0 {
			got[f.Field] = f.Types[0].Type
		}
	}
	if got["email"] != TypeEmail || got["ssn"] != TypeSSN || got["birth_date"] != TypeDateOfBirth {
		t.Errorf("found %v", got)
	}
}

type datedRow struct {
	ID      string    `parquet:"id"`
	Born    int32     `parquet:"born,date"` // days since 1970-01-01
	Seen    time.Time `parquet:"seen,timestamp(millisecond)"`
	Account int64     `parquet:"account"`
	Pin     int32     `parquet:"pin"`
	Score   float64   `parquet:"score"`
}

// TestParquetDatesAndIntegers checks date-shift of DATE and TIMESTAMP
// columns (one offset per entity across both), fpe of INT64 and INT32
// columns over their digits (round trip, same number of digits, in range),
// refusals with the reason, and that row groups in parallel give the same
// file as one at a time.
func TestParquetDatesAndIntegers(t *testing.T) {
	tk := mustNew(t, mustPolicy(t, `{"version":1,"fields":[
		{"name":"born","op":"date-shift","entity":"id"},
		{"name":"seen","op":"date-shift","entity":"id"},
		{"name":"account","op":"fpe","alphabet":"digits"},
		{"name":"pin","op":"fpe","alphabet":"digits","on_invalid":"pass"}]}`))
	day := time.Date(2001, 2, 3, 0, 0, 0, 0, time.UTC)
	var rows []datedRow
	for i := range 3000 {
		rows = append(rows, datedRow{ID: fmt.Sprint("C-", i%10), Born: int32(day.Unix() / 86400), Seen: day.Add(time.Duration(i) * time.Second),
			Account: []int64{1234567, -9223372036854775808, 9223372036854775807, 5000000000000000000}[i%4] + int64(i%4/3*i),
			Pin:     []int32{2147483647, 1000000, -1999999999, 42}[i%4]})
	}
	var in bytes.Buffer
	w := parquet.NewGenericWriter[datedRow](&in)
	for i := 0; i < len(rows); i += 500 {
		w.Write(rows[i : i+500])
		w.Flush()
	}
	w.Close()
	var one, many bytes.Buffer
	if _, err := tk.TokenizeParquet(&one, bytes.NewReader(in.Bytes()), int64(in.Len()), Options{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	st, err := tk.TokenizeParquet(&many, bytes.NewReader(in.Bytes()), int64(in.Len()), Options{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one.Bytes(), many.Bytes()) {
		t.Error("row groups in parallel change the output")
	}
	if st.Records != 3000 || st.Passed["pin"] != 750 || len(st.Passed) != 1 {
		t.Errorf("stats %+v, want 3000 records and 750 pins passed", st)
	}
	out := readRows[datedRow](t, many.Bytes())
	digits := func(x int64) int { return len(strings.TrimPrefix(fmt.Sprint(x), "-")) }
	for i, r := range out {
		o := rows[i]
		shift := time.Duration(r.Born-o.Born) * 24 * time.Hour
		if shift == 0 || r.Seen.Sub(o.Seen) != shift {
			t.Fatalf("row %d: born moved %v, seen %v: want one whole number of days", i, shift, r.Seen.Sub(o.Seen))
		}
		if r.Account == o.Account || digits(r.Account) != digits(o.Account) || (r.Account < 0) != (o.Account < 0) {
			t.Fatalf("row %d: account %d from %d", i, r.Account, o.Account)
		}
		if (o.Pin == 42) != (r.Pin == 42) || o.Pin != 42 && (digits(int64(r.Pin)) != digits(int64(o.Pin)) || r.Pin == o.Pin) {
			t.Fatalf("row %d: pin %d from %d", i, r.Pin, o.Pin)
		}
	}
	var back bytes.Buffer
	if _, err := tk.DetokenizeParquet(&back, bytes.NewReader(many.Bytes()), int64(many.Len()), Options{}); err != nil {
		t.Fatal(err)
	}
	for i, r := range readRows[datedRow](t, back.Bytes()) {
		if r.Account != rows[i].Account || r.Pin != rows[i].Pin {
			t.Fatalf("row %d back: %d %d, want %d %d", i, r.Account, r.Pin, rows[i].Account, rows[i].Pin)
		}
	}

	for policy, reason := range map[string]string{
		`{"name":"score","op":"fpe","alphabet":"digits"}`:                 "fpe encrypts strings and the digits of INT32 and INT64",
		`{"name":"account","op":"fpe","alphabet":"digits","keep_last":2}`: "needs alphabet digits and no keep_last",
		`{"name":"account","op":"date-shift","entity":"id"}`:              "without a DATE or TIMESTAMP type",
		`{"name":"born","op":"hash"}`:                                     "hash transforms string (BYTE_ARRAY) columns only",
	} {
		p := mustPolicy(t, `{"version":1,"fields":[`+policy+`]}`)
		_, err := mustNew(t, p).TokenizeParquet(&bytes.Buffer{}, bytes.NewReader(in.Bytes()), int64(in.Len()), Options{})
		if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: %v, want %q", policy, err, reason)
		}
	}
}

func readRows[T any](t *testing.T, data []byte) []T {
	t.Helper()
	r := parquet.NewGenericReader[T](bytes.NewReader(data))
	rows := make([]T, r.NumRows())
	n, err := r.Read(rows)
	if err != nil && n != len(rows) {
		t.Fatal(err)
	}
	return rows[:n]
}
