package tokenize

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
)

func seedsPresent(f *testing.F, name string) {
	seeds, _ := os.ReadDir("testdata/fuzz/" + name)
	if len(seeds) == 0 {
		f.Fatalf("the seed corpus testdata/fuzz/%s is empty", name)
	}
}

// FuzzCSV tokenizes arbitrary input as CSV. Whatever the input, nothing
// panics; output is valid CSV; cutting the input into tiny batches gives
// the same output as one batch (the record splitter agrees with the
// parser); and for valid CSV, detokenizing gives the input's records back.
func FuzzCSV(f *testing.F) {
	seedsPresent(f, "FuzzCSV")
	p, err := ParsePolicy([]byte(`{"version":1,"fields":[
		{"name":"a","op":"deterministic","optional":true},
		{"name":"b","op":"fpe","alphabet":"digits","on_invalid":"pass","optional":true}]}`))
	if err != nil {
		f.Fatal(err)
	}
	tk := mustNew(f, p)
	f.Fuzz(func(t *testing.T, data []byte) {
		var one, many, rej bytes.Buffer
		st1, err1 := tk.Tokenize(&one, bytes.NewReader(data), Options{Format: FormatCSV, Rejects: &rej})
		st2, err2 := tk.Tokenize(&many, bytes.NewReader(data), Options{Format: FormatCSV, Rejects: io.Discard, BatchSize: 7, Workers: 3})
		if (err1 == nil) != (err2 == nil) || one.String() != many.String() || !reflect.DeepEqual(st1, st2) {
			t.Fatalf("batch size changes the result:\n%q %v %+v\n%q %v %+v", one.String(), err1, st1, many.String(), err2, st2)
		}
		if err1 != nil {
			return
		}
		// A byte order mark is kept, and encoding/csv does not know it.
		noBOM := func(b []byte) []byte { return bytes.TrimPrefix(b, []byte(bom)) }
		if _, err := csv.NewReader(bytes.NewReader(noBOM(one.Bytes()))).ReadAll(); err != nil {
			t.Fatalf("output is not CSV: %v\n%q", err, one.String())
		}
		in, err := csv.NewReader(bytes.NewReader(noBOM(data))).ReadAll()
		if err != nil || st1.Rejected > 0 {
			return
		}
		var back bytes.Buffer
		if _, err := tk.Detokenize(&back, &one, Options{Format: FormatCSV}); err != nil {
			t.Fatalf("detokenize: %v", err)
		}
		got, err := csv.NewReader(bytes.NewReader(noBOM(back.Bytes()))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(in) {
			t.Fatalf("%d records back, %d in", len(got), len(in))
		}
		for i := range in {
			if !equalStrings(got[i], in[i]) {
				t.Fatalf("record %d: %q back, %q in", i, got[i], in[i])
			}
		}
	})
}

// FuzzJSONL tokenizes arbitrary input as JSON Lines. Nothing panics;
// every output line is a JSON object; batch sizes do not matter;
// tokenizing the detokenized output gives the same output again; and a
// policy whose paths lead into the records' objects and arrays but reach no
// value gives the input back byte for byte.
func FuzzJSONL(f *testing.F) {
	seedsPresent(f, "FuzzJSONL")
	p, err := ParsePolicy([]byte(`{"version":1,"fields":[
		{"name":"a","op":"deterministic"},
		{"name":"b.c","op":"fpe","alphabet":"digits","on_invalid":"pass"},
		{"name":"d","op":"redact","drop":true}]}`))
	if err != nil {
		f.Fatal(err)
	}
	tk := mustNew(f, p)
	// The walker goes into a, b and b.c, but no record has a member zq
	// unless its text holds "zq" or a \u escape.
	miss := mustNew(f, mustPolicy(f, `{"version":1,"fields":[
		{"name":"a.zq","op":"hash"},
		{"name":"b.c.zq","op":"redact","drop":true}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var same bytes.Buffer
		st, err := miss.Tokenize(&same, bytes.NewReader(data), Options{Format: FormatJSONL, Rejects: io.Discard, BatchSize: 5})
		if err == nil && st.Rejected == 0 && !bytes.Contains(data, []byte("zq")) && !bytes.Contains(data, []byte(`\u`)) && same.String() != string(data) {
			t.Fatalf("untouched records changed:\n%q\n%q", data, same.String())
		}
		var one, many bytes.Buffer
		st1, err1 := tk.Tokenize(&one, bytes.NewReader(data), Options{Format: FormatJSONL, Rejects: io.Discard})
		st2, err2 := tk.Tokenize(&many, bytes.NewReader(data), Options{Format: FormatJSONL, Rejects: io.Discard, BatchSize: 5, Workers: 3})
		if (err1 == nil) != (err2 == nil) || one.String() != many.String() || !reflect.DeepEqual(st1, st2) {
			t.Fatalf("batch size changes the result")
		}
		if err1 != nil {
			return
		}
		for _, line := range strings.Split(strings.TrimPrefix(one.String(), bom), "\n") {
			if strings.Trim(line, " \t\r") == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("output line %q: %v", line, err)
			}
		}
		var back, again bytes.Buffer
		if _, err := tk.Detokenize(&back, bytes.NewReader(one.Bytes()), Options{Format: FormatJSONL}); err != nil {
			if errors.Is(err, ErrToken) {
				t.Fatalf("detokenize: %v", err)
			}
			return
		}
		if _, err := tk.Tokenize(&again, &back, Options{Format: FormatJSONL}); err != nil {
			t.Fatalf("tokenizing the detokenized output: %v", err)
		}
		if again.String() != one.String() {
			t.Fatalf("tokenize(detokenize(x)) differs:\n%q\n%q", again.String(), one.String())
		}
	})
}
