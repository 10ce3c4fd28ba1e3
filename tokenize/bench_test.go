package tokenize

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

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
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		// A new Tokenizer each time, so that its token cache starts empty.
		tk := mustNew(b, p)
		if _, err := tk.Tokenize(io.Discard, bytes.NewReader(data), Options{Format: FormatCSV}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkTokenizeJSONL is BenchmarkTokenizeCSV's data as JSON Lines.
func BenchmarkTokenizeJSONL(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	var buf bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&buf, `{"id":%d,"name":"Customer Number %d","email":"customer%d@example.com","ssn":"%03d-%02d-%04d","phone":"+1-415-555-%04d","city":"San Francisco","plan":"premium-annual"}`+"\n",
			i, i, i, 100+rng.IntN(600), 1+rng.IntN(98), 1+rng.IntN(9998), rng.IntN(10000))
	}
	data := buf.Bytes()
	p, _ := ParsePolicy([]byte(benchPolicy))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		tk := mustNew(b, p)
		if _, err := tk.Tokenize(io.Discard, bytes.NewReader(data), Options{Format: FormatJSONL}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "records/s")
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
					_, err = o.deterministic(c.value, o.ad) // past the token cache
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
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		// A new Tokenizer each time, so that its token cache starts empty.
		tk := mustNew(b, p)
		if _, err := tk.Tokenize(io.Discard, bytes.NewReader(data), Options{Format: FormatCSV}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "records/s")
}
