package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestBench runs a tiny mlseal bench and checks that every measurement is
// printed with a positive rate, and that it touches no key.
func TestBench(t *testing.T) {
	e := newEnv(t)
	r := e.ok(nil, "bench", "--size", "1", "--duration", "1ms")
	out := string(r.stdout)
	for _, want := range []string{"AES-256-GCM seal, 1 core", "SHA-384", "mlseal encrypt 0x0478, 1 worker", "mlseal encrypt 0x0578", "mlseal decrypt 0x0478"} {
		line := regexp.MustCompile(regexp.QuoteMeta(want) + `[^\n]*?\s+(\d+)\s`).FindStringSubmatch(out)
		if line == nil {
			t.Fatalf("no line for %q in:\n%s", want, out)
		}
		if v, _ := strconv.Atoi(line[1]); v <= 0 {
			t.Errorf("%s: rate %s", want, line[1])
		}
	}
	if !strings.Contains(out, "x AES-GCM") || !strings.Contains(out, "x SHA-384") {
		t.Errorf("ratios missing:\n%s", out)
	}
	if _, err := os.Lstat(e.defaultKey()); err == nil {
		t.Error("bench created the default key")
	}
	e.fail(2, nil, "bench", "--size", "0")
}
