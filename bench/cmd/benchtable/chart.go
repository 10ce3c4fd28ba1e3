package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/mlseal/mlseal/bench/throughput"
)

// A series of the chart: MB/s by frame length.
type series struct {
	label  string
	color  string
	dashed bool
	points map[int]float64
}

// chart draws mlseal 0x0478's encrypt throughput at 64 MiB against frame
// length (log scale), one line per worker count, with raw AES-GCM Seal over
// the same frames at the same worker counts dashed: a hand-written SVG.
func chart(env *environment, r *results) string {
	colors := []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd"}
	var ss []*series
	frames := map[int]bool{}
	for i, w := range throughput.Workers(r.procs) {
		color := colors[i%len(colors)]
		ml := &series{label: fmt.Sprintf("mlseal 0x0478, workers=%d", w), color: color, points: map[int]float64{}}
		lim := &series{label: fmt.Sprintf("raw AES-GCM Seal, workers=%d", w), color: color, dashed: true, points: map[int]float64{}}
		for _, name := range r.order {
			c := parseName(name)
			if c.size != "64MiB" || c.workers != w || c.frame == 0 {
				continue
			}
			v, ok := r.get(name, "MB/s")
			if !ok {
				continue
			}
			switch {
			case c.group == "Encrypt" && c.impl == "mlseal-0x0478":
				ml.points[c.frame] = v
				frames[c.frame] = true
			case c.group == "Limit" && c.impl == "AESGCM-seal":
				lim.points[c.frame] = v
				frames[c.frame] = true
			}
		}
		ss = append(ss, ml, lim)
	}
	xs := make([]int, 0, len(frames))
	for f := range frames {
		xs = append(xs, f)
	}
	slices.Sort(xs)

	const (
		width, height            = 780, 460
		left, right, top, bottom = 70, 230, 50, 60
	)
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	ymax := 0.0
	for _, s := range ss {
		for _, v := range s.points {
			ymax = max(ymax, v)
		}
	}
	step := niceStep(ymax / 5)
	ytop := math.Max(step, math.Ceil(ymax*1.05/step)*step)
	x := func(f int) float64 {
		if len(xs) < 2 {
			return float64(left) + pw/2
		}
		lo, hi := math.Log2(float64(xs[0])), math.Log2(float64(xs[len(xs)-1]))
		return float64(left) + (math.Log2(float64(f))-lo)/(hi-lo)*pw
	}
	y := func(v float64) float64 { return float64(top) + ph - v/ytop*ph }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	text(&b, float64(left), 22, "start", "14", "mlseal 0x0478 encrypt, 64 MiB in memory: MB/s against frame length")
	text(&b, float64(left), 38, "start", "11", fmt.Sprintf("%s, GOMAXPROCS %d, %s, %s", env.cpu, env.procs, env.goVersion, env.date))
	// Axes, grid and ticks.
	for v := 0.0; v <= ytop+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(v), float64(left)+pw, y(v))
		text(&b, float64(left-6), y(v)+4, "end", "11", fmt.Sprintf("%.0f", v))
	}
	for _, f := range xs {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x(f), top, x(f), float64(top)+ph)
		text(&b, x(f), float64(top)+ph+16, "middle", "11", throughput.SizeName(f))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	text(&b, float64(left)+pw/2, float64(height-18), "middle", "12", "frame length (plaintext bytes per frame, log scale)")
	fmt.Fprintf(&b, `<text x="18" y="%.1f" text-anchor="middle" font-size="12" transform="rotate(-90 18 %.1f)">MB/s</text>`+"\n", float64(top)+ph/2, float64(top)+ph/2)
	// Lines and legend.
	for i, s := range ss {
		var pts []string
		for _, f := range xs {
			if v, ok := s.points[f]; ok {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(f), y(v)))
			}
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.color, dash)
			for _, p := range pts {
				cx, cy, _ := strings.Cut(p, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", cx, cy, s.color)
			}
		}
		ly := float64(top + 10 + 22*i)
		lx := float64(left) + pw + 16
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly, lx+28, ly, s.color, dash)
		text(&b, lx+34, ly+4, "start", "11", s.label)
	}
	if len(xs) == 0 {
		text(&b, float64(left)+pw/2, float64(top)+ph/2, "middle", "14", "no measurements")
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func text(b *bytes.Buffer, x, y float64, anchor, size, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%s">`, x, y, anchor, size)
	xml.EscapeText(b, []byte(s))
	b.WriteString("</text>\n")
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
