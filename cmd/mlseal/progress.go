package main

// The progress of a dataset job on a terminal: one bar, whatever the job
// (a large file, a list of files, a directory or an S3 prefix), drawn by
// mpb from the job's events, and a summary line at the end. Nothing is
// drawn when stderr is not a terminal or --quiet is given.

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/mlseal/mlseal/dataset"
)

// A progressBar shows bytes read of the job's total, the rate, the time
// left, and for several items how many are finished.
type progressBar struct {
	w   io.Writer // the terminal
	p   *mpb.Progress
	bar *mpb.Bar

	items    int
	finished atomic.Int64 // read by the label, on mpb's goroutine

	// mu guards what events update; it is never held by a decorator, as
	// an event may wait for mpb while holding it.
	mu    sync.Mutex
	total int64 // the bytes the job is expected to read; <0: unknown
	read  map[*dataset.Item]int64
}

// newProgressBar starts drawing the progress of items on w, a terminal.
func newProgressBar(w io.Writer, items []*dataset.Item) *progressBar {
	b := &progressBar{w: w, read: map[*dataset.Item]int64{}, items: len(items)}
	for _, it := range items {
		if it.In.IsStd() {
			b.total = -1 // stdin has no size
			break
		}
		b.total += max(it.Size, 0) // a missing file is -1
	}
	b.p = mpb.New(mpb.WithConsoleWriter(sizedConsole{cupwriter.New(w, false)}), mpb.WithWidth(24), mpb.WithRefreshRate(200*time.Millisecond))
	// A bar made with no total never completes on its own: the job's
	// total moves with retries and failures, and only stop ends it.
	var filler mpb.BarFillerBuilder = mpb.BarStyle().Lbound("[").Filler("=").Tip(">").Padding(" ").Rbound("]")
	counts := decor.CountersKibiByte("% .1f / % .1f")
	eta := decor.Any(func(decor.Statistics) string { return "" })
	if b.total < 0 {
		// No size, so no bar to fill: a spinner shows that bytes move.
		filler = mpb.SpinnerStyle()
		counts = decor.CurrentKibiByte("% .1f")
	} else {
		eta = decor.OnComplete(decor.Meta(decor.AverageETA(decor.ET_STYLE_GO), func(s string) string { return "  ETA " + s }), "")
	}
	b.bar = b.p.New(0, filler,
		mpb.PrependDecorators(decor.Any(b.label(items[0].Name), decor.WC{C: decor.DindentRight})),
		mpb.AppendDecorators(
			decor.Meta(counts, func(s string) string { return " " + s }),
			decor.Meta(decor.AverageSpeed(decor.SizeB1024(0), "% .1f"), func(s string) string { return ", " + s }),
			eta,
		),
		mpb.BarRemoveOnComplete(),
	)
	if b.total >= 0 {
		b.bar.SetTotal(b.total, false)
	}
	return b
}

// label is the text before the bar: the name of a single item, or how
// many of several are finished.
func (b *progressBar) label(name string) decor.DecorFunc {
	if strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) {
		name = strconv.Quote(name) // an object key may hold escape sequences
	}
	return func(decor.Statistics) string {
		if b.items == 1 {
			return name + " "
		}
		return fmt.Sprintf("%d/%d ", b.finished.Load(), b.items)
	}
}

// event updates the bar from one of the job's events.
func (b *progressBar) event(e dataset.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e.Kind {
	case dataset.EventProgress:
		b.read[e.Item] += e.Bytes
		b.bar.IncrInt64(e.Bytes)
	case dataset.EventRetry:
		// The item is read again from its start.
		b.grow(b.read[e.Item])
		b.read[e.Item] = 0
	case dataset.EventItem:
		b.finished.Add(1)
		// A skipped or failed item reads less than its size.
		b.grow(b.read[e.Item] - max(e.Item.Size, 0))
		delete(b.read, e.Item)
	}
}

// grow changes the expected total by n bytes.
func (b *progressBar) grow(n int64) {
	if b.total < 0 || n == 0 {
		return
	}
	b.total += n
	b.bar.SetTotal(b.total, false)
}

// Write prints p above the bar; p holds whole lines.
func (b *progressBar) Write(p []byte) (int, error) {
	n, err := b.p.Write(p)
	if err != nil {
		// mpb gave up drawing (it could not size the terminal): no line
		// may be lost with it.
		return b.w.Write(p)
	}
	return n, nil
}

// stop completes the bar, which removes it, and waits until it is gone.
func (b *progressBar) stop() {
	b.bar.SetTotal(-1, true)
	b.p.Wait()
}

// sizedConsole is a terminal that reports a size of 80 by 24 when it
// does not know its own (a pseudo-terminal nobody sized reports 0 by 0,
// and mpb draws nothing in no rows).
type sizedConsole struct{ *cupwriter.Writer }

func (c sizedConsole) GetTermSize() (width, height int, err error) {
	width, height, err = c.Writer.GetTermSize()
	if err == nil && (width <= 0 || height <= 0) {
		return 80, 24, nil
	}
	return width, height, err
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", n, units[i])
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}
