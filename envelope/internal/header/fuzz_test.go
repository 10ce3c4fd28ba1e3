package header

import (
	"bytes"
	"os"
	"testing"
)

func fuzzLimits() Limits {
	return Limits{
		MaxHeaderSize:        1 << 16,
		MaxEncryptedDataKeys: 8,
		SuiteDataLen: func(s uint16) (int, bool) {
			switch s {
			case 0x0478, 0x0578:
				return 32, true
			case 0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378:
				return 0, true
			}
			return 0, false
		},
	}
}

// FuzzParse checks that no input makes Parse panic or read past the header,
// and that a version 2 header it accepts serializes back to the same bytes.
func FuzzParse(f *testing.F) {
	seeds, _ := os.ReadDir("testdata/fuzz/FuzzParse")
	if len(seeds) == 0 {
		f.Fatal("the seed corpus testdata/fuzz/FuzzParse is empty")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h, err := Parse(r, fuzzLimits())
		if err != nil {
			return
		}
		consumed := len(data) - r.Len()
		want := len(h.Body) + len(h.AuthIV) + len(h.AuthTag)
		if consumed != want {
			t.Fatalf("consumed %d bytes, header is %d", consumed, want)
		}
		if h.Version == 2 {
			body, err := MarshalBody(h)
			if err != nil {
				// The only header a parser accepts and the writer refuses
				// is one whose stored context is not in canonical order.
				return
			}
			if !bytes.Equal(body, h.Body) {
				ctx, _ := SerializeContext(h.Context)
				if bytes.Contains(h.Body, ctx) {
					t.Fatalf("re-serialized header differs:\n%x\n%x", body, h.Body)
				}
			}
		}
	})
}

// FuzzParseContext checks that a parsed context serializes back to a
// canonical form that parses to the same pairs.
func FuzzParseContext(f *testing.F) {
	seeds, _ := os.ReadDir("testdata/fuzz/FuzzParseContext")
	if len(seeds) == 0 {
		f.Fatal("the seed corpus testdata/fuzz/FuzzParseContext is empty")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, err := ParseContext(data)
		if err != nil {
			return
		}
		b, err := SerializeContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseContext(b)
		if err != nil || len(again) != len(ctx) {
			t.Fatalf("canonical form does not parse back: %v", err)
		}
		for k, v := range ctx {
			if again[k] != v {
				t.Fatalf("key %q: %q != %q", k, again[k], v)
			}
		}
	})
}
