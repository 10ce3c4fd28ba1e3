package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress draws a one-line progress bar of a dataset job on a terminal:
// objects done of the total, bytes read, and both rates.
type progress struct {
	w                     io.Writer
	total                 int
	bytes                 *atomic.Int64
	done, skipped, failed *atomic.Int64
	start                 time.Time

	mu      sync.Mutex
	quit    chan struct{}
	stopped bool
	drawn   bool
	wg      sync.WaitGroup
}

func newProgress(w io.Writer, on bool, total int, bytes, done, skipped, failed *atomic.Int64) *progress {
	p := &progress{w: w, total: total, bytes: bytes, done: done, skipped: skipped, failed: failed, start: time.Now(), quit: make(chan struct{})}
	if !on {
		p.stopped = true
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	secs := max(time.Since(p.start).Seconds(), 1e-3)
	n := p.done.Load() + p.skipped.Load() + p.failed.Load()
	b := float64(p.bytes.Load())
	const width = 24
	fill := 0
	if p.total > 0 {
		fill = int(int64(width) * n / int64(p.total))
	}
	bar := make([]byte, width)
	for i := range bar {
		if i < fill {
			bar[i] = '#'
		} else {
			bar[i] = '.'
		}
	}
	fmt.Fprintf(p.w, "\r\033[K[%s] %d/%d objects (%.1f/s), %d failed, %s (%s/s)",
		bar, n, p.total, float64(p.done.Load())/secs, p.failed.Load(), humanBytes(b), humanBytes(b/secs))
	p.drawn = true
}

// clear erases the bar so that a message can be printed; the next tick
// draws it again. The caller prints right after.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// stop erases the bar for good.
func (p *progress) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	close(p.quit)
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.mu.Unlock()
	p.wg.Wait()
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
