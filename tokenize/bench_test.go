package tokenize

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far, 0 where unknown
// (set in cputime_test.go).
var cpuTime = func() time.Duration { return 0 }

// loop runs f b.N times and reports, besides MB/s from b.SetBytes(size),
// MB per CPU-second of the process (garbage collection included: on a
// shared machine the stable figure) and records per second.
func loop(b *testing.B, size int, records int, f func()) {
	b.ReportAllocs()
	b.SetBytes(int64(size))
	cpu0 := cpuTime()
	for b.Loop() {
		f()
	}
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
	b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
}

// benchCSV returns n rows of 10 columns, about 200 bytes each.
func benchCSV(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 1))
	var b bytes.Buffer
	b.WriteString("id,name,email,ssn,phone,city,country,plan,signup,notes\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,Customer Number %d,customer%d@example.com,%03d-%02d-%04d,+1-415-555-%04d,San Francisco,United States,premium-annual,2024-%02d-%02d,\"returning customer, likes the newsletter %d\"\n",
			i, i, i, 100+rng.IntN(600), 1+rng.IntN(98), 1+rng.IntN(9998), rng.IntN(10000), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(1000))
	}
	return b.Bytes()
}

const benchPolicy = `{"version":1,"fields":[
	{"name":"email","op":"deterministic"},
	{"name":"ssn","op":"fpe","alphabet":"digits","separators":"-"},
	{"name":"phone","op":"hash"}]}`

// BenchmarkTokenizeCSV measures tokenizing a CSV of 10 columns, about 200
// bytes a row, with three fields tokenized (deterministic, fpe, hash), on
// all cores (Options.Workers = GOMAXPROCS).
func BenchmarkTokenizeCSV(b *testing.B) {
	data := benchCSV(20000)
	p, err := ParsePolicy([]byte(benchPolicy))
	if err != nil {
		b.Fatal(err)
	}
	loop(b, len(data), 20000, func() {
		// A new Tokenizer each time, so that its token cache starts empty.
		tk := mustNew(b, p)
		if _, err := tk.Tokenize(io.Discard, bytes.NewReader(data), Options{Format: FormatCSV}); err != nil {
			b.Fatal(err)
		}
	})
}

// benchJSONL returns n records of benchCSV's content as JSON Lines.
func benchJSONL(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 1))
	var buf bytes.Buffer
	for i := range n {
		fmt.Fprintf(&buf, `{"id":%d,"name":"Customer Number %d","email":"customer%d@example.com","ssn":"%03d-%02d-%04d","phone":"+1-415-555-%04d","city":"San Francisco","plan":"premium-annual"}`+"\n",
			i, i, i, 100+rng.IntN(600), 1+rng.IntN(98), 1+rng.IntN(9998), rng.IntN(10000))
	}
	return buf.Bytes()
}

// BenchmarkTokenizeJSONL is BenchmarkTokenizeCSV's data as JSON Lines.
func BenchmarkTokenizeJSONL(b *testing.B) {
	data := benchJSONL(20000)
	p, _ := ParsePolicy([]byte(benchPolicy))
	loop(b, len(data), 20000, func() {
		tk := mustNew(b, p)
		if _, err := tk.Tokenize(io.Discard, bytes.NewReader(data), Options{Format: FormatJSONL}); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkValue measures one value of each operation on one core.
func BenchmarkValue(b *testing.B) {
	tk := mustNew(b, customersPolicy(b))
	for _, c := range []struct{ field, value string }{
		{"email", "customer12345@example.com"},
		{"ssn", "123-45-6789"},
		{"phone", "+1-415-555-0132"},
		{"birth_date", "1990-03-01"},
	} {
		b.Run(c.field, func(b *testing.B) {
			o := tk.byName[c.field]
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if o.f.Op == OpDeterministic {
					_, err = o.deterministic(c.value, o.siv) // past the token cache
				} else {
					_, err = o.tokenize(c.value, "C-1")
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTokenizeCSVRepeats is BenchmarkTokenizeCSV with each email
// appearing 20 times (as a customer in an orders table), where the token
// cache saves most AES-SIV calls.
func BenchmarkTokenizeCSVRepeats(b *testing.B) {
	data := benchCSV(20000)
	rows := bytes.Split(data, []byte("\n"))
	var buf bytes.Buffer
	buf.Write(rows[0])
	buf.WriteByte('\n')
	for i, r := range rows[1:] {
		if len(r) == 0 {
			continue
		}
		f := bytes.SplitN(r, []byte(","), 4)
		fmt.Fprintf(&buf, "%s,%s,customer%d@example.com,%s\n", f[0], f[1], i/20, f[3])
	}
	data = buf.Bytes()
	p, _ := ParsePolicy([]byte(benchPolicy))
	loop(b, len(data), 20000, func() {
		// A new Tokenizer each time, so that its token cache starts empty.
		tk := mustNew(b, p)
		if _, err := tk.Tokenize(io.Discard, bytes.NewReader(data), Options{Format: FormatCSV}); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkFloor measures what tokenizing the benchmark files cannot beat,
// on one goroutine: the CSV parsed and written again by encoding/csv, each
// JSON line checked by json.Valid, and either file copied through a 1 MiB
// buffer (cat).
func BenchmarkFloor(b *testing.B) {
	csvData, jsonData := benchCSV(20000), benchJSONL(20000)
	var sink bytes.Buffer
	b.Run("csv/encoding-csv", func(b *testing.B) {
		loop(b, len(csvData), 20000, func() {
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
					b.Fatal(err)
				}
				w.Write(rec)
			}
			w.Flush()
		})
	})
	b.Run("jsonl/json-valid", func(b *testing.B) {
		loop(b, len(jsonData), 20000, func() {
			for line := range bytes.Lines(jsonData) {
				if !json.Valid(line) {
					b.Fatal("invalid JSON")
				}
			}
		})
	})
	for _, c := range []struct {
		name string
		data []byte
	}{{"csv/copy", csvData}, {"jsonl/copy", jsonData}} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 1<<20)
			loop(b, len(c.data), 20000, func() {
				sink.Reset()
				io.CopyBuffer(&sink, onlyReader{bytes.NewReader(c.data)}, buf)
			})
		})
	}
}

// onlyReader hides a reader's WriteTo, so that a copy goes through the
// buffer as cat's does.
type onlyReader struct{ io.Reader }
