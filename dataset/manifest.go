package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mlseal/mlseal/s3io"
)

// manifestFlushInterval is how often a manifest kept in S3 is rewritten
// while a job runs (S3 objects cannot be appended to).
const manifestFlushInterval = 10 * time.Second

// A manifest records Results as JSON lines and remembers what earlier
// runs completed. A local manifest is appended to and synced line by line;
// an S3 manifest is rewritten whole every manifestFlushInterval and when
// the job closes.
type manifest struct {
	mu   sync.Mutex
	name string
	done map[[2]string]Result // by input and output
	// settings are those of the last job line: what the job was run with.
	settings map[string]string

	f *os.File // a local manifest

	s3          *s3io.Client // an S3 manifest
	bucket, key string
	buf         bytes.Buffer
	dirty       bool
	flushed     time.Time
}

// openManifest reads the manifest named name, local or s3://, creating it
// if need be.
func openManifest(ctx context.Context, name string, s3c func(context.Context) (*s3io.Client, error)) (*manifest, error) {
	m := &manifest{name: name, done: map[[2]string]Result{}, flushed: time.Now()}
	if strings.HasPrefix(name, "s3://") {
		b, k, err := s3io.ParseURL(name)
		if err != nil {
			return nil, err
		}
		if k == "" || strings.HasSuffix(k, "/") {
			return nil, fmt.Errorf("the manifest %s names a prefix, not an object", name)
		}
		c, err := s3c(ctx)
		if err != nil {
			return nil, err
		}
		m.s3, m.bucket, m.key = c, b, k
		obj, err := c.Get(ctx, b, k, s3io.GetOptions{})
		switch {
		case errors.Is(err, s3io.ErrNotFound):
			return m, nil
		case err != nil:
			return nil, err
		}
		defer obj.Close()
		if _, err := m.buf.ReadFrom(obj); err != nil {
			return nil, fmt.Errorf("reading the manifest %s: %w", name, err)
		}
		if err := m.load(bytes.NewReader(m.buf.Bytes())); err != nil {
			return nil, fmt.Errorf("reading the manifest %s: %w", name, err)
		}
		return m, nil
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if err := m.load(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("reading the manifest %s: %w", name, err)
	}
	m.f = f
	return m, nil
}

// A manifestLine is a Result, or a job line: the settings that the
// results after it were made with.
type manifestLine struct {
	Result
	Job map[string]string `json:"job,omitempty"`
}

// load reads earlier records: the last record of each input and output
// decides whether it is done. A job line with other settings than the one
// before it (a run with --force) starts afresh.
func (m *manifest) load(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line manifestLine
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			continue // a line cut short by a crash
		}
		if line.Job != nil {
			if m.settings != nil && !maps.Equal(m.settings, line.Job) {
				clear(m.done)
			}
			m.settings = line.Job
			continue
		}
		r := line.Result
		k := [2]string{r.Input, r.Output}
		if r.Status == StatusDone || r.Status == StatusCommitting {
			m.done[k] = r
		} else {
			delete(m.done, k)
		}
	}
	return sc.Err()
}

// useSettings records the settings of this run. It refuses settings
// other than the recorded ones while some item is recorded done, unless
// redo is set: then those records no longer count.
func (m *manifest) useSettings(ctx context.Context, now map[string]string, redo bool) error {
	m.mu.Lock()
	switch {
	case maps.Equal(m.settings, now):
		m.mu.Unlock()
		return nil
	case m.settings == nil && len(m.done) > 0:
		// A manifest from before job lines: it cannot say; trust it.
	case len(m.done) > 0 && !redo:
		err := &settingsError{manifest: m.name, diffs: diffSettings(m.settings, now)}
		m.mu.Unlock()
		return err
	default:
		clear(m.done)
	}
	m.settings = now
	m.mu.Unlock()
	b, err := json.Marshal(struct {
		Time time.Time         `json:"time"`
		Job  map[string]string `json:"job"`
	}{time.Now().UTC(), now})
	if err != nil {
		return err
	}
	if err := m.addLine(ctx, b); err != nil {
		return fmt.Errorf("writing the manifest %s: %w", m.name, err)
	}
	return nil
}

// previous returns the record of an earlier run that completed it.
func (m *manifest) previous(it *Item) (Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.done[[2]string{it.In.String(), outString(it)}]
	return r, ok
}

func outString(it *Item) string {
	if it.Out == (Location{}) {
		return ""
	}
	return it.Out.String()
}

// add appends a record. A local manifest is synced, so that a crash loses
// at most the line being written.
func (m *manifest) add(ctx context.Context, r *Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return m.addLine(ctx, b)
}

// addLine appends one JSON line (a manifest's, or an audit trail's).
func (m *manifest) addLine(ctx context.Context, b []byte) error {
	b = append(b, '\n')
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f != nil {
		if _, err := m.f.Write(b); err != nil {
			return err
		}
		return m.f.Sync()
	}
	m.buf.Write(b)
	m.dirty = true
	if time.Since(m.flushed) >= manifestFlushInterval {
		return m.flushLocked(ctx)
	}
	return nil
}

func (m *manifest) flushLocked(ctx context.Context) error {
	if m.s3 == nil || !m.dirty {
		return nil
	}
	_, err := m.s3.Put(ctx, m.bucket, m.key, bytes.NewReader(m.buf.Bytes()),
		s3io.PutOptions{Size: int64(m.buf.Len()), ContentType: "application/x-ndjson"})
	if err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	m.dirty, m.flushed = false, time.Now()
	return nil
}

// close writes out an S3 manifest and closes a local one.
func (m *manifest) close(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f != nil {
		return m.f.Close()
	}
	// The job's context may be cancelled: still record what was done.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return m.flushLocked(ctx)
}
