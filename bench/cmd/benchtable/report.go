package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/mlseal/mlseal/bench/throughput"
	"github.com/mlseal/mlseal/envelope"
)

// caseName is a benchmark name taken apart: group/size/impl/settings.
type caseName struct {
	group, size, impl string
	// msgSize is the bytes of one message: the size, or S of a NxS batch.
	msgSize  int
	frame    int // 0 when not named
	workers  int // 1 when not named; parallel=N counts as N
	parallel bool
}

func parseName(name string) caseName {
	parts := strings.Split(name, "/")
	c := caseName{group: parts[0], workers: 1}
	if len(parts) > 1 {
		c.size = parts[1]
		s := c.size
		if _, after, ok := strings.Cut(s, "x"); ok {
			s = after
		}
		c.msgSize = parseSize(s)
	}
	if len(parts) > 2 {
		c.impl = parts[2]
	}
	for _, p := range parts[3:] {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "frame":
			c.frame = parseSize(v)
		case "workers":
			c.workers, _ = strconv.Atoi(v)
		case "parallel":
			c.workers, _ = strconv.Atoi(v)
			c.parallel = true
		}
	}
	return c
}

// parseSize reads 4KiB, 64MiB, 1GiB, 17B; 0 when it cannot.
func parseSize(s string) int {
	for _, u := range []struct {
		suffix string
		mul    int
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil {
				return 0
			}
			return v * u.mul
		}
	}
	return 0
}

func isLimit(c caseName) bool {
	return c.group == "Limit" || strings.HasPrefix(c.impl, "AESGCM-") || c.impl == "SHA384"
}

// limitFor names the raw AES-GCM benchmark of the same run that c is
// compared with: the same size (a message's, for batches), the same frame
// length and worker count, Open for decryption. one is true when only the
// one-goroutine limit exists for c's worker count.
func (r *results) limitFor(c caseName) (name string, one bool, ok bool) {
	if isLimit(c) || c.frame == 0 || c.msgSize == 0 || strings.HasSuffix(c.impl, "-decrypt") {
		// (No streamed Open limit is measured.)
		return "", false, false
	}
	op := "AESGCM-seal"
	if c.group == "Decrypt" {
		op = "AESGCM-open"
	}
	group, size := "Limit", throughput.SizeName(c.msgSize)
	if c.group == "Stream" {
		group = "Stream"
	}
	f := throughput.SizeName(min(c.frame, c.msgSize))
	for _, w := range []int{c.workers, 1} {
		n := fmt.Sprintf("%s/%s/%s/frame=%s/workers=%d", group, size, op, f, w)
		if _, ok := r.get(n, "MB/s"); ok {
			return n, w != c.workers, true
		}
	}
	return "", false, false
}

// ratio returns a's unit over b's. When both ran the same number of
// times, the runner ran them in the same rounds (round i of every benchmark
// before round i+1 of any), so the ratio is the median of the ratios of each
// round's pair; otherwise it is the ratio of the medians.
func (r *results) ratio(a, b, unit string) (float64, bool) {
	ra, rb := r.runs[a], r.runs[b]
	if len(ra) > 0 && len(ra) == len(rb) {
		var rs []float64
		for i := range ra {
			x, ok1 := ra[i][unit]
			y, ok2 := rb[i][unit]
			if ok1 && ok2 && y > 0 {
				rs = append(rs, x/y)
			}
		}
		if len(rs) == len(ra) {
			return median(rs), true
		}
	}
	x, ok1 := r.get(a, unit)
	y, ok2 := r.get(b, unit)
	if !ok1 || !ok2 || y == 0 {
		return 0, false
	}
	return x / y, true
}

// sha384For names the SHA-384 limit of the same size.
func sha384For(c caseName) string {
	g := "Limit"
	if c.group == "Stream" {
		g = "Stream"
	}
	return g + "/" + c.size + "/SHA384"
}

type row struct {
	name, mbs, cpu, ratio, allocs, peak, notes string
}

type target struct {
	what, measured, result string
}

type report struct {
	env     *environment
	rows    []row
	targets []target
}

func newReport(c *config, env *environment, r *results) *report {
	rep := &report{env: env}
	for _, name := range r.order {
		rep.rows = append(rep.rows, r.row(name))
	}
	rep.targets = targets(r, env.procs)
	return rep
}

func (r *results) row(name string) row {
	c := parseName(name)
	rw := row{name: name}
	if why, ok := r.skips[name]; ok {
		rw.mbs, rw.notes = "-", "skipped: "+why
		return rw
	}
	mbs, ok := r.get(name, "MB/s")
	if ok {
		rw.mbs = fmtMBs(mbs)
	}
	if v, ok := r.get(name, "MB/cpu-s"); ok {
		rw.cpu = fmtMBs(v)
	}
	var notes []string
	switch lim, one, found := r.limitFor(c); {
	case isLimit(c) && strings.HasPrefix(c.impl, "AESGCM"):
		rw.ratio = "limit"
	case found && ok:
		v, _ := r.ratio(name, lim, "MB/s")
		rw.ratio = fmtRatio(v)
		if one {
			rw.ratio += "¹"
		}
	}
	if v, ok := r.get(name, "allocs/op"); ok {
		rw.allocs = fmt.Sprintf("%.0f", v)
	}
	if v, ok := r.get(name, "peak-RSS-MiB"); ok {
		rw.peak = fmt.Sprintf("%.0f MiB", v)
		if b, ok := r.get(name, "base-RSS-MiB"); ok {
			rw.peak += fmt.Sprintf(" (from %.0f)", b)
		}
	}
	if strings.HasPrefix(c.impl, "mlseal-") && c.workers > 1 && !c.parallel {
		one := strings.Replace(name, fmt.Sprintf("workers=%d", c.workers), "workers=1", 1)
		if v, ok := r.ratio(name, one, "MB/s"); ok {
			notes = append(notes, fmt.Sprintf("%.2fx workers=1", v))
		}
	}
	if c.impl == "mlseal-0x0578" {
		if v, ok := r.ratio(name, sha384For(c), "MB/s"); ok {
			notes = append(notes, fmt.Sprintf("%.2fx SHA-384", v))
		}
	}
	if strings.HasPrefix(c.impl, "age") {
		notes = append(notes, "ChaCha20-Poly1305")
	}
	if c.group == "SmallMessages" {
		for _, u := range []string{"msgs/s", "msgs/s/core", "msgs/cpu-s"} {
			if v, ok := r.get(name, u); ok {
				notes = append(notes, fmt.Sprintf("%.0f %s", v, u))
			}
		}
		if v, ok := r.get(name, "allocs/msg"); ok {
			notes = append(notes, fmt.Sprintf("%.1f allocs/msg", v))
		}
	}
	if c.group == "CLI" {
		notes = append(notes, "peak RSS: the process's ru_maxrss")
		if strings.HasSuffix(name, "stdin-to-stdout") {
			notes = append(notes, "MB/s includes the pipes")
		}
	}
	rw.notes = strings.Join(notes, ", ")
	return rw
}

func fmtMBs(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// The targets of the performance issue, evaluated on this run's numbers.
func targets(r *results, procs int) []target {
	def := throughput.SizeName(envelope.DefaultFrameLength)
	all := strconv.Itoa(procs)
	enc := func(size, suite, w string) string {
		return fmt.Sprintf("Encrypt/%s/mlseal-%s/frame=%s/workers=%s", size, suite, def, w)
	}
	stream := func(suite, w string) string {
		return fmt.Sprintf("Stream/1GiB/mlseal-%s/frame=%s/workers=%s", suite, def, w)
	}
	// ratio is a/b over the named benchmarks' MB/s.
	ratio := func(a, b string) (float64, string, bool) {
		x, ok1 := r.get(a, "MB/s")
		y, ok2 := r.get(b, "MB/s")
		v, ok3 := r.ratio(a, b, "MB/s")
		if !ok1 || !ok2 || !ok3 {
			return 0, "", false
		}
		return v, fmt.Sprintf("%sx (%s / %s MB/s)", fmtRatio(v), fmtMBs(x), fmtMBs(y)), true
	}
	var ts []target
	atLeast := func(what string, want float64, pairs ...[2]string) {
		var ms []string
		worst, have := 0.0, false
		for _, p := range pairs {
			v, m, ok := ratio(p[0], p[1])
			if !ok {
				continue
			}
			ms = append(ms, m)
			if !have || v < worst {
				worst, have = v, true
			}
		}
		ts = append(ts, target{what, strings.Join(ms, "; "), verdict(have, worst, want)})
	}
	// One worker against its limit and all cores against one worker, on
	// interleaved pairs of runs.
	ts = append(ts, pairTargets(r, procs)...)
	ts = append(ts, cliTargets(r)...)
	// Peak RSS of a stream through the command, or of the library's
	// stream when the command was not measured.
	{
		what := "a 4 GiB stream through `mlseal encrypt`, stdin to stdout: peak RSS <= 64 MiB"
		name := cliName(4 << 30)
		v, ok := r.get(name, "peak-RSS-MiB")
		measured := fmt.Sprintf("%.0f MiB", v)
		if !ok {
			for cand := range r.runs {
				if strings.HasPrefix(cand, "CLI/") {
					if v, ok = r.get(cand, "peak-RSS-MiB"); ok {
						measured = fmt.Sprintf("%.0f MiB (%s, not 4 GiB)", v, cand)
						break
					}
				}
			}
		}
		if !ok {
			if v, ok = r.get(stream("0x0478", all), "peak-RSS-MiB"); ok {
				measured = fmt.Sprintf("%.0f MiB (the library's 1 GiB stream: the command was not measured)", v)
			}
		}
		ts = append(ts, target{what, measured, verdictAtMost(ok, v, 64, "MiB")})
	}
	atLeast("mlseal >= 10x the AWS Encryption SDK for Go, each at its defaults (64 MiB)", 10,
		[2]string{enc("64MiB", "0x0478", all), "Encrypt/64MiB/esdk-0x0578/frame=4KiB"})
	atLeast("mlseal faster than the ESDK for Go at equal settings: 0x0478, "+def+" frames, mlseal on 1 worker (64 MiB)", 1.0,
		[2]string{enc("64MiB", "0x0478", "1"), "Encrypt/64MiB/esdk-0x0478/frame=" + def})
	for _, p := range []string{"tink/frame=1MiB", "age/frame=64KiB", "sio/frame=64KiB"} {
		peer, _, _ := strings.Cut(p, "/")
		atLeast("mlseal (defaults) ahead of "+peer+" (64 MiB in memory; 1 GiB streamed)", 1.0,
			[2]string{enc("64MiB", "0x0478", all), "Encrypt/64MiB/" + p},
			[2]string{stream("0x0478", all), "Stream/1GiB/" + p})
	}
	atLeast("0x0578 >= 0.85x raw SHA-384 (64 MiB in memory; 1 GiB streamed)", 0.85,
		[2]string{enc("64MiB", "0x0578", all), "Limit/64MiB/SHA384"},
		[2]string{stream("0x0578", all), "Stream/1GiB/SHA384"})
	{
		what := "10,000 messages of 4 KiB, 0x0478, cached data key: >= 50,000 messages/s per core"
		// The product's cache when it was measured, the benchmark's own
		// cached key otherwise; one goroutine per core.
		var name string
		var v float64
		var ok bool
		for _, kind := range []string{"cache-manager", "cached-key"} {
			name = "SmallMessages/10000x4KiB/mlseal-0x0478/" + kind + "/workers=1"
			if procs > 1 {
				name += "/parallel=" + all
			}
			if v, ok = r.get(name, "msgs/s/core"); ok {
				break
			}
		}
		measured := fmt.Sprintf("%.0f msgs/s/core (%s)", v, strings.TrimPrefix(name, "SmallMessages/10000x4KiB/mlseal-0x0478/"))
		if cpu, ok := r.get(name, "msgs/cpu-s"); ok {
			measured += fmt.Sprintf("; %.0f per CPU-second", cpu)
		}
		ts = append(ts, target{what, measured, verdict(ok, v, 50000)})
	}
	return ts
}

func verdict(have bool, got, want float64) string {
	switch {
	case !have:
		return "not measured"
	case got >= want:
		return "met"
	}
	return fmt.Sprintf("missed by %s%% (%s, target %s)", fmtPct(100*(want-got)/want), fmtNum(got), fmtNum(want))
}

// fmtNum prints ratios with two decimals and counts whole.
func fmtNum(v float64) string {
	if math.Abs(v) >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmtRatio(v)
}

// fmtRatio keeps two significant digits of small ratios.
func fmtRatio(v float64) string {
	if v != 0 && math.Abs(v) < 0.1 {
		return fmt.Sprintf("%.2g", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtPct(p float64) string {
	if p < 10 {
		return fmt.Sprintf("%.1f", p)
	}
	return fmt.Sprintf("%.0f", p)
}

func verdictAtMost(have bool, got, limit float64, unit string) string {
	switch {
	case !have:
		return "not measured"
	case got <= limit:
		return "met"
	}
	return fmt.Sprintf("missed by %.0f %s (%s%% over)", got-limit, unit, fmtPct(100*(got-limit)/limit))
}

func (rep *report) heading() []string {
	e := rep.env
	return []string{
		fmt.Sprintf("CPU: %s, %d cores, GOMAXPROCS %d; %s; %s", e.cpu, e.cores, e.procs, e.goVersion, e.date),
		fmt.Sprintf("In-memory benchmarks: -benchtime %s, median of %d; streamed 1 GiB cases and the command: one process each, median of %d; load average %s at the start, %s at the end",
			e.benchtime, e.count, e.streamCount, e.loadStart, e.loadEnd),
		"Targets marked interleaved or run in turn: the case and its limit ran alternately, each in its own process, and the ratio is the median of the per-pair ratios; MB/cpu-s is MB per second of the process's CPU time, which stays steady on a shared machine",
	}
}

const footnote = "¹ compared with the one-goroutine limit: no limit at this worker count was measured."

func (rep *report) text() string {
	var b strings.Builder
	for _, h := range rep.heading() {
		b.WriteString(h + "\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BENCHMARK\tMB/s\tMB/cpu-s\tx AES-GCM\tallocs/op\tpeak RSS\tnotes")
	for _, r := range rep.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.name, r.mbs, r.cpu, r.ratio, r.allocs, r.peak, r.notes)
	}
	tw.Flush()
	b.WriteString(footnote + "\n\nTARGETS\n")
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, t := range rep.targets {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.result, t.what, t.measured)
	}
	tw.Flush()
	return b.String()
}

func (rep *report) markdown() string {
	var b strings.Builder
	for _, h := range rep.heading() {
		b.WriteString(h + "  \n")
	}
	b.WriteString("\n| Target | Measured | Result |\n|---|---|---|\n")
	for _, t := range rep.targets {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", mdEscape(t.what), mdEscape(t.measured), t.result)
	}
	b.WriteString("\n| Benchmark | MB/s | MB/cpu-s | x raw AES-GCM | allocs/op | peak RSS | Notes |\n|---|--:|--:|--:|--:|--:|---|\n")
	for _, r := range rep.rows {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", r.name, r.mbs, r.cpu, r.ratio, r.allocs, r.peak, mdEscape(r.notes))
	}
	b.WriteString("\n" + footnote + "\n\n![mlseal throughput against frame length and worker count](throughput.svg)\n")
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
