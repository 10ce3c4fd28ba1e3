package tokenize

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/mlseal/mlseal/tokenize"
)

// size is the input of each case, about.
const size = 32 << 20

// policy tokenizes the three fields that hold personal data.
const policy = `{"version":1,"fields":[
	{"name":"email","op":"deterministic","domain":"email"},
	{"name":"ssn","op":"fpe","alphabet":"digits","separators":"-"},
	{"name":"phone","op":"hash"}]}`

// row is one record: about 200 bytes as CSV, every email, SSN and phone
// number distinct (the worst case for a token cache).
type row struct {
	ID      int64  `parquet:"id" json:"id"`
	Name    string `parquet:"name" json:"name"`
	Email   string `parquet:"email" json:"email"`
	SSN     string `parquet:"ssn" json:"ssn"`
	Phone   string `parquet:"phone" json:"phone"`
	City    string `parquet:"city" json:"city"`
	Country string `parquet:"country" json:"country"`
	Plan    string `parquet:"plan" json:"plan"`
	Signup  string `parquet:"signup" json:"signup"`
	Notes   string `parquet:"notes" json:"notes"`
}

func rows(n int) []row {
	rng := rand.New(rand.NewPCG(13, 13))
	out := make([]row, n)
	for i := range out {
		out[i] = row{
			ID:      int64(i),
			Name:    fmt.Sprintf("Customer Number %d", i),
			Email:   fmt.Sprintf("customer%d@example.com", i),
			SSN:     fmt.Sprintf("%03d-%02d-%04d", 100+i/1000000%600, 1+i/10000%98, 1+i%9998),
			Phone:   fmt.Sprintf("+1-%03d-555-%04d", 200+i/10000%800, i%10000),
			City:    "San Francisco",
			Country: "United States",
			Plan:    "premium-annual",
			Signup:  fmt.Sprintf("2024-%02d-%02d", 1+rng.IntN(12), 1+rng.IntN(28)),
			Notes:   fmt.Sprintf("returning customer since %d, likes the monthly newsletter", 2000+rng.IntN(25)),
		}
	}
	return out
}

// files returns the same records as CSV, JSON Lines and Parquet, the CSV
// about size bytes.
func files(b *testing.B) (csvData, jsonData, parquetData []byte) {
	rs := rows(size / 200)
	var c, j, p bytes.Buffer
	w := csv.NewWriter(&c)
	w.Write([]string{"id", "name", "email", "ssn", "phone", "city", "country", "plan", "signup", "notes"})
	enc := json.NewEncoder(&j)
	for _, r := range rs {
		w.Write([]string{fmt.Sprint(r.ID), r.Name, r.Email, r.SSN, r.Phone, r.City, r.Country, r.Plan, r.Signup, r.Notes})
		enc.Encode(r)
	}
	w.Flush()
	pw := parquet.NewGenericWriter[row](&p, parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(16384))
	if _, err := pw.Write(rs); err != nil {
		b.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		b.Fatal(err)
	}
	return c.Bytes(), j.Bytes(), p.Bytes()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run runs f b.N times over n bytes and reports MB/s and MB/cpu-s.
func run(b *testing.B, n int, f func() error) {
	b.SetBytes(int64(n))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
}

// BenchmarkTokenize runs every case; see the package documentation.
func BenchmarkTokenize(b *testing.B) {
	csvData, jsonData, parquetData := files(b)
	ks, err := tokenize.NewKeyset()
	if err != nil {
		b.Fatal(err)
	}
	p, err := tokenize.ParsePolicy([]byte(policy))
	if err != nil {
		b.Fatal(err)
	}
	workers := runtime.GOMAXPROCS(0)
	var sink bytes.Buffer
	stream := func(format tokenize.Format, data []byte) func() error {
		return func() error {
			// A new Tokenizer each time: its token cache starts empty.
			tk, err := tokenize.New(ks, p)
			if err != nil {
				return err
			}
			_, err = tk.Tokenize(io.Discard, bytes.NewReader(data), tokenize.Options{Format: format, Workers: workers})
			return err
		}
	}
	copyBuf := make([]byte, 1<<20)
	cat := func(data []byte) func() error {
		return func() error {
			sink.Reset()
			_, err := io.CopyBuffer(&sink, struct{ io.Reader }{bytes.NewReader(data)}, copyBuf)
			return err
		}
	}
	csvName, jsonName, pqName := "CSV/"+sizeName(len(csvData)), "JSONL/"+sizeName(len(jsonData)), "Parquet/"+sizeName(len(parquetData))
	all := fmt.Sprintf("workers=%d", workers)

	b.Run(csvName+"/mlseal/"+all, func(b *testing.B) { run(b, len(csvData), stream(tokenize.FormatCSV, csvData)) })
	b.Run(csvName+"/encoding-csv/workers=1", func(b *testing.B) {
		run(b, len(csvData), func() error {
			sink.Reset()
			r := csv.NewReader(bytes.NewReader(csvData))
			r.ReuseRecord = true
			w := csv.NewWriter(&sink)
			for {
				rec, err := r.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				w.Write(rec)
			}
			w.Flush()
			return w.Error()
		})
	})
	b.Run(csvName+"/copy", func(b *testing.B) { run(b, len(csvData), cat(csvData)) })

	b.Run(jsonName+"/mlseal/"+all, func(b *testing.B) { run(b, len(jsonData), stream(tokenize.FormatJSONL, jsonData)) })
	b.Run(jsonName+"/json-valid/workers=1", func(b *testing.B) {
		run(b, len(jsonData), func() error {
			for line := range bytes.Lines(jsonData) {
				if !json.Valid(line) {
					return fmt.Errorf("invalid JSON line %q", line)
				}
			}
			return nil
		})
	})
	b.Run(jsonName+"/copy", func(b *testing.B) { run(b, len(jsonData), cat(jsonData)) })

	b.Run(pqName+"/mlseal/"+all, func(b *testing.B) {
		run(b, len(parquetData), func() error {
			tk, err := tokenize.New(ks, p)
			if err != nil {
				return err
			}
			_, err = tk.TokenizeParquet(io.Discard, bytes.NewReader(parquetData), int64(len(parquetData)), tokenize.Options{Workers: workers})
			return err
		})
	})
	b.Run(pqName+"/parquet-go-copy/workers=1", func(b *testing.B) {
		// The floor: every row read and written again, nothing changed.
		run(b, len(parquetData), func() error {
			f, err := parquet.OpenFile(bytes.NewReader(parquetData), int64(len(parquetData)))
			if err != nil {
				return err
			}
			w := parquet.NewWriter(io.Discard, f.Schema(), parquet.Compression(&parquet.Snappy))
			for _, rg := range f.RowGroups() {
				if _, err := parquet.CopyRows(w, rg.Rows()); err != nil {
					return err
				}
			}
			return w.Close()
		})
	})
}

func sizeName(n int) string {
	return fmt.Sprintf("%dMiB", (n+1<<19)>>20)
}

// TestRoundTrip checks, quickly, that the benchmark's files tokenize and
// come back (so that the benchmark measures work that is right).
func TestRoundTrip(t *testing.T) {
	ks, err := tokenize.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := tokenize.ParsePolicy([]byte(policy))
	tk, err := tokenize.New(ks, p)
	if err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	w := csv.NewWriter(&in)
	w.Write([]string{"id", "email", "ssn", "phone"})
	for _, r := range rows(1000) {
		w.Write([]string{fmt.Sprint(r.ID), r.Email, r.SSN, r.Phone})
	}
	w.Flush()
	var tok, back bytes.Buffer
	if _, err := tk.Tokenize(&tok, bytes.NewReader(in.Bytes()), tokenize.Options{Format: tokenize.FormatCSV}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(tok.Bytes(), []byte("@example.com")) {
		t.Fatal("an email left in the clear")
	}
	if _, err := tk.Detokenize(&back, &tok, tokenize.Options{Format: tokenize.FormatCSV}); err != nil {
		t.Fatal(err)
	}
	// The phone numbers are hashed, one way: compare the other columns.
	got, want := columns(t, back.Bytes(), 0, 1, 2), columns(t, in.Bytes(), 0, 1, 2)
	if got != want {
		t.Fatal("the detokenized file differs from the input")
	}
}

func columns(t *testing.T, data []byte, cols ...int) string {
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, r := range recs {
		for _, c := range cols {
			b.WriteString(r[c] + ",")
		}
		b.WriteByte('\n')
	}
	return b.String()
}
