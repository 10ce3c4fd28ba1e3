package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/mlseal/mlseal/bench/throughput"
	"github.com/mlseal/mlseal/envelope"
)

// A pair is a case and the limit (or baseline) a target compares it with.
// The runner runs the two alternately, each in a process of its own (limit,
// case, limit, case, ...) and takes the ratio of each adjacent pair of runs,
// so that load that comes and goes on a shared machine falls on both sides
// of a ratio rather than on one: a ratio above 1.0 against a true limit
// cannot come from noise between separate phases of the run.
type pair struct {
	name, limit string
	stream      bool // a streamed case: one iteration per process
}

// pairKey names a pair in results.
func pairKey(name, limit string) string { return name + " / " + limit }

// pairs are the in-memory and streamed pairs of the targets.
func pairs(procs int) []pair {
	def := throughput.SizeName(envelope.DefaultFrameLength)
	all := strconv.Itoa(procs)
	mem := func(group, impl, w string) string {
		return fmt.Sprintf("%s/64MiB/%s/frame=%s/workers=%s", group, impl, def, w)
	}
	stream := func(impl, w string) string {
		return fmt.Sprintf("Stream/1GiB/%s/frame=%s/workers=%s", impl, def, w)
	}
	ps := []pair{
		{name: mem("Encrypt", "mlseal-0x0478", "1"), limit: mem("Limit", "AESGCM-seal", "1")},
		{name: mem("Decrypt", "mlseal-0x0478", "1"), limit: mem("Limit", "AESGCM-open", "1")},
	}
	if procs > 1 {
		ps = append(ps,
			pair{name: mem("Encrypt", "mlseal-0x0478", all), limit: mem("Encrypt", "mlseal-0x0478", "1")},
			pair{name: mem("Decrypt", "mlseal-0x0478", all), limit: mem("Decrypt", "mlseal-0x0478", "1")},
			pair{name: stream("mlseal-0x0478-decrypt", all), limit: stream("mlseal-0x0478-decrypt", "1"), stream: true},
		)
	}
	return ps
}

// runPairs runs each pair c.count times, alternately, and records the
// ratio of each adjacent pair of runs.
func runPairs(c *config, res *results, bin string) error {
	for _, p := range pairs(c.procs) {
		benchtime, n := c.benchtime, c.count
		if p.stream {
			benchtime, n = "1x", c.streamCount
		}
		for i := range n {
			logf("interleaved pair %d/%d: %s", i+1, n, pairKey(p.name, p.limit))
			var got [2]map[string]float64
			for k, name := range []string{p.limit, p.name} {
				one := newResults(c.procs)
				if err := runBench(c, one, bin, benchRegexp("Benchmark"+name), benchtime, 1); err != nil {
					return err
				}
				if len(one.runs[name]) == 0 {
					return fmt.Errorf("%s did not run", name)
				}
				got[k] = one.runs[name][0]
			}
			res.addPair(p.name, p.limit, got[1], got[0])
		}
	}
	return nil
}

// pairRun is one run of a pair: the case's metrics and the limit's.
type pairRun struct{ name, limit map[string]float64 }

func (r *results) addPair(name, limit string, nm, lm map[string]float64) {
	if r.pairs == nil {
		r.pairs = map[string][]pairRun{}
	}
	k := pairKey(name, limit)
	r.pairs[k] = append(r.pairs[k], pairRun{nm, lm})
}

// pairRatio returns the median over a pair's runs of the case's unit over
// the limit's, with the median of each side, and whether the pair ran.
func (r *results) pairRatio(name, limit, unit string) (ratio, a, b float64, n int, ok bool) {
	var rs, as, bs []float64
	for _, run := range r.pairs[pairKey(name, limit)] {
		x, ok1 := run.name[unit]
		y, ok2 := run.limit[unit]
		if !ok1 || !ok2 || y == 0 {
			continue
		}
		rs, as, bs = append(rs, x/y), append(as, x), append(bs, y)
	}
	if len(rs) == 0 {
		return 0, 0, 0, 0, false
	}
	return median(rs), median(as), median(bs), len(rs), true
}

func median(vs []float64) float64 {
	vs = append([]float64(nil), vs...)
	sort.Float64s(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}

// pairMeasured describes a pair's result: the median ratio of MB/s, the
// medians of each side in MB/s and MB per CPU-second, and how many pairs.
func (r *results) pairMeasured(name, limit string) (ratio float64, measured string, ok bool) {
	ratio, a, b, n, ok := r.pairRatio(name, limit, "MB/s")
	if !ok {
		return 0, "", false
	}
	measured = fmt.Sprintf("%sx (%s / %s MB/s", fmtRatio(ratio), fmtMBs(a), fmtMBs(b))
	if _, ca, cb, _, ok := r.pairRatio(name, limit, "MB/cpu-s"); ok {
		measured += fmt.Sprintf("; %s / %s MB per CPU-second", fmtMBs(ca), fmtMBs(cb))
	}
	measured += fmt.Sprintf("; median of %d interleaved pairs)", n)
	return ratio, measured, true
}

// pairTargets are the targets judged on interleaved pairs.
func pairTargets(r *results, procs int) []target {
	var ts []target
	for _, p := range pairs(procs) {
		what := pairTarget(p, procs)
		ratio, measured, ok := r.pairMeasured(p.name, p.limit)
		want := 0.90
		if strings.Contains(what, "1.7x") {
			want = 1.7
		}
		ts = append(ts, target{what, measured, verdict(ok, ratio, want)})
	}
	return ts
}

func pairTarget(p pair, procs int) string {
	n, l := parseName(p.name), parseName(p.limit)
	size := "64 MiB in memory"
	if p.stream {
		size = "1 GiB streamed from a file"
	}
	op := "encrypt"
	if n.group == "Decrypt" || strings.HasSuffix(n.impl, "-decrypt") {
		op = "decrypt"
	}
	if isLimit(l) {
		fn := map[string]string{"AESGCM-seal": "Seal", "AESGCM-open": "Open"}[l.impl]
		return fmt.Sprintf("0x0478 %s, 1 worker: >= 0.90x raw AES-GCM %s, same frames (%s), interleaved", op, fn, size)
	}
	return fmt.Sprintf("0x0478 %s, %d workers: >= 1.7x one worker (%s), interleaved", op, procs, size)
}
