package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdata/short-run.txt is the output of one -benchtime 1x run of the
// suite on a loaded machine: its numbers mean nothing, its shape is real.
func sampleResults(t *testing.T) *results {
	t.Helper()
	f, err := os.Open("testdata/short-run.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := newResults(2)
	if err := r.parse(f); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParse(t *testing.T) {
	r := sampleResults(t)
	if len(r.order) < 80 {
		t.Fatalf("parsed %d benchmarks", len(r.order))
	}
	v, ok := r.get("Encrypt/64MiB/mlseal-0x0478/frame=256KiB/workers=1", "MB/s")
	if !ok || v != 4317.92 {
		t.Errorf("MB/s = %v, %v", v, ok)
	}
	if v, ok := r.get("Stream/1GiB/sio/frame=64KiB", "peak-RSS-MiB"); !ok || v != 93.65 {
		t.Errorf("peak = %v, %v", v, ok)
	}
	if v, ok := r.get("SmallMessages/10000x4KiB/mlseal-0x0478/cached-key/workers=1/parallel=2", "msgs/s/core"); !ok || v != 95317 {
		t.Errorf("msgs/s/core = %v, %v", v, ok)
	}
}

func TestParseSkipAndMedian(t *testing.T) {
	r := newResults(2)
	out := `BenchmarkStream
BenchmarkStream/1GiB/esdk-0x0578/frame=4KiB
    bench_test.go:416: refuses plaintexts over 1 GiB
--- SKIP: BenchmarkStream/1GiB/esdk-0x0578/frame=4KiB
BenchmarkX/1MiB/a-2   1   10 ns/op   300 MB/s
BenchmarkX/1MiB/a-2   1   10 ns/op   100 MB/s
BenchmarkX/1MiB/a-2   1   10 ns/op   200 MB/s
PASS
`
	if err := r.parse(strings.NewReader(out)); err != nil {
		t.Fatal(err)
	}
	if got := r.skips["Stream/1GiB/esdk-0x0578/frame=4KiB"]; got != "refuses plaintexts over 1 GiB" {
		t.Errorf("skip reason %q", got)
	}
	if v, _ := r.get("X/1MiB/a", "MB/s"); v != 200 {
		t.Errorf("median %v", v)
	}
}

func TestReport(t *testing.T) {
	r := sampleResults(t)
	rep := newReport(&config{}, &environment{cpu: "test <cpu>", procs: 2}, r)
	text := rep.text()
	for _, want := range []string{"TARGETS", "limit", "x workers=1", "SHA-384"} {
		if !strings.Contains(text, want) {
			t.Errorf("the text table lacks %q", want)
		}
	}
	if n := len(rep.targets); n != 18 {
		t.Errorf("%d targets", n)
	}
	for _, tg := range rep.targets {
		// The sample has neither interleaved pairs nor command runs.
		if tg.result == "not measured" && !strings.Contains(tg.what, "mlseal ") && !strings.Contains(tg.what, "interleaved") {
			t.Errorf("target %q not measured", tg.what)
		}
	}
	row := r.row("Encrypt/64MiB/mlseal-0x0478/frame=256KiB/workers=1")
	if row.ratio != "0.89" { // 4317.92 / 4864.01
		t.Errorf("ratio %q", row.ratio)
	}

	readme := filepath.Join(t.TempDir(), "README.md")
	os.WriteFile(readme, []byte("intro\n<!-- benchtable:begin -->\nold\n<!-- benchtable:end -->\nend\n"), 0o644)
	if err := replaceSection(readme, rep.markdown()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(readme)
	if s := string(b); strings.Contains(s, "old") || !strings.HasPrefix(s, "intro\n") || !strings.HasSuffix(s, "<!-- benchtable:end -->\nend\n") || !strings.Contains(s, "| Target |") {
		t.Errorf("README:\n%s", s)
	}
}

func TestChart(t *testing.T) {
	svg := chart(&environment{cpu: "a <b> & c", procs: 2}, sampleResults(t))
	d := xml.NewDecoder(strings.NewReader(svg))
	lines := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 4 {
		t.Errorf("%d lines, want 4", lines)
	}
}

func TestBenchRegexp(t *testing.T) {
	if got, want := benchRegexp("BenchmarkStream/1GiB/tink/frame=1MiB"), `^BenchmarkStream$/^1GiB$/^tink$/^frame=1MiB$`; got != want {
		t.Errorf("got %s", got)
	}
	if got := parseName("SmallMessages/10000x4KiB/mlseal-0x0478/cached-key/workers=1/parallel=2"); got.msgSize != 4096 || got.workers != 2 || !got.parallel {
		t.Errorf("%+v", got)
	}
}

// TestPairRatios: a pair's ratio is the median of the ratios of runs made
// in turn, not the ratio of the two medians, and the targets read it.
func TestPairRatios(t *testing.T) {
	r := newResults(2)
	p := pairs(2)[1] // decrypt, 1 worker, against AES-GCM Open
	for _, run := range [][2]float64{{90, 100}, {45, 50}, {190, 200}} {
		r.addPair(p.name, p.limit, map[string]float64{"MB/s": run[0], "MB/cpu-s": run[0]}, map[string]float64{"MB/s": run[1], "MB/cpu-s": run[1]})
	}
	ratio, measured, ok := r.pairMeasured(p.name, p.limit)
	if !ok || ratio != 0.9 || !strings.Contains(measured, "median of 3 interleaved pairs") || !strings.Contains(measured, "MB per CPU-second") {
		t.Fatalf("ratio %v, %q, %v", ratio, measured, ok)
	}
	for _, tg := range pairTargets(r, 2) {
		if strings.Contains(tg.what, "decrypt, 1 worker") && tg.result != "met" {
			t.Errorf("%s: %s (%s)", tg.what, tg.result, tg.measured)
		}
	}
}

// TestCLITargets: the command's file cases are judged run by run.
func TestCLITargets(t *testing.T) {
	r := newResults(2)
	for _, run := range [][4]float64{{500, 1000, 950, 800}, {250, 500, 480, 400}} {
		r.add(cliSealer, map[string]float64{"MB/s": run[0]})
		r.add(cliEncrypt, map[string]float64{"MB/s": run[1]})
		r.add(cliEncryptOut, map[string]float64{"MB/s": run[1]})
		r.add(cliDecrypt, map[string]float64{"MB/s": run[2], "peak-RSS-MiB": 30})
		r.add(cliDecryptOut, map[string]float64{"MB/s": run[3], "peak-RSS-MiB": 70})
	}
	want := []string{"met", "missed by", "met", "met", "missed by 6 MiB"}
	for i, tg := range cliTargets(r) {
		if !strings.HasPrefix(tg.result, want[i]) {
			t.Errorf("%s: %s (%s), want %s", tg.what, tg.result, tg.measured, want[i])
		}
	}
}

// TestSealer: the one-goroutine sealer seals 1 MiB at a time.
func TestSealer(t *testing.T) {
	var out bytes.Buffer
	if err := seal(io.LimitReader(newPatternReader(), 3<<20+5), &out); err != nil {
		t.Fatal(err)
	}
	if want := 3<<20 + 5 + 4*16; out.Len() != want {
		t.Fatalf("sealed %d bytes, want %d", out.Len(), want)
	}
}

// TestRatioByRound: benchmarks that ran in the same rounds are compared
// round by round (the median of 1, 0.5 and 2 is 1), not by their medians
// (200 / 150).
func TestRatioByRound(t *testing.T) {
	r := newResults(2)
	for i, v := range [][2]float64{{100, 100}, {200, 400}, {300, 150}} {
		r.add("A/1MiB/x", map[string]float64{"MB/s": v[0]})
		r.add("B/1MiB/y", map[string]float64{"MB/s": v[1]})
		if i == 0 {
			r.add("C/1MiB/z", map[string]float64{"MB/s": 150})
		}
	}
	if v, ok := r.ratio("A/1MiB/x", "B/1MiB/y", "MB/s"); !ok || v != 1 {
		t.Errorf("paired ratio %v, %v; want 1", v, ok)
	}
	if v, ok := r.ratio("A/1MiB/x", "C/1MiB/z", "MB/s"); !ok || math.Abs(v-200.0/150) > 1e-9 {
		t.Errorf("unpaired ratio %v, %v; want the ratio of medians", v, ok)
	}
}
