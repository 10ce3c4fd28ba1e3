package tokenize

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzValidJSON checks validJSON against json.Valid on any input.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `{"a":[1,-2.5e+3,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9"]}`, ` {"a" : {"b":[ ]} } `,
		`01`, `1.`, `-`, `1e`, `.5`, `"\u12"`, `"a` + "\x01" + `"`, `"` + "\xff" + `"`, `{"a":1,}`, `[1 2]`,
		`{"a"}`, `{1:2}`, `tru`, `nulll`, `"\x"`, `{"a":1}{}`, "\t[\r\n]\n", strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		if got, want := validJSON(d), json.Valid(d); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid %v", d, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	data := benchJSONL(2000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		for line := range bytes.Lines(data) {
			if !validJSON(line) {
				b.Fatal("invalid")
			}
		}
	}
}
