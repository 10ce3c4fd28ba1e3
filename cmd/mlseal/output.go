package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// isStd reports whether name means stdin or stdout.
func isStd(name string) bool { return name == "" || name == "-" }

// displayName is how an input or output is named in messages.
func displayName(name string, stdout bool) string {
	if !isStd(name) {
		return name
	}
	if stdout {
		return "stdout"
	}
	return "stdin"
}

// openInput opens the named input, or stdin for "" and "-".
func (a *app) openInput(name string) (io.Reader, func(), error) {
	if isStd(name) {
		return a.stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is a directory", name)
	}
	return f, func() { f.Close() }, nil
}

// An output is where one command writes its result: stdout, a device or
// pipe written in place, or a regular file written through a temporary file
// in the same directory that replaces the destination only on commit.
type output struct {
	w      io.Writer
	name   string   // destination path; "" for stdout
	tmp    *os.File // nil unless writing through a temporary file
	direct *os.File // an existing non-regular file opened in place
	force  bool
}

// checkOutput fails early, before any input is read, when name exists and
// force is not set.
func checkOutput(name string, force bool) error {
	if isStd(name) || force {
		return nil
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil
	}
	if !fi.Mode().IsRegular() {
		return nil // a device or pipe such as /dev/null: written in place
	}
	return existsError(name)
}

func existsError(name string) error {
	return &cliError{
		err:  fmt.Errorf("%s already exists", name),
		hint: "pass --force to overwrite it",
	}
}

// createOutput prepares the output named name. perm is the mode of a new
// file (before the umask).
func (a *app) createOutput(name string, force bool, perm fs.FileMode) (*output, error) {
	if isStd(name) {
		return &output{w: a.stdout}, nil
	}
	if err := checkOutput(name, force); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(name); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory", name)
		}
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		return &output{w: f, name: name, direct: f}, nil
	}
	tmp, err := createTemp(name, perm)
	if err != nil {
		return nil, err
	}
	return &output{w: tmp, name: name, tmp: tmp, force: force}, nil
}

// commit makes the output visible under its name.
func (o *output) commit() error {
	switch {
	case o.direct != nil:
		return o.direct.Close()
	case o.tmp == nil:
		return nil
	}
	tmp := o.tmp.Name()
	if err := o.tmp.Sync(); err != nil {
		o.abort()
		return err
	}
	if err := o.tmp.Close(); err != nil {
		o.abort()
		return err
	}
	temps.Lock()
	defer temps.Unlock()
	delete(temps.names, tmp)
	if o.force {
		if err := os.Rename(tmp, o.name); err != nil {
			os.Remove(tmp)
			return err
		}
		return nil
	}
	// Without --force, never replace a file that appeared meanwhile: a hard
	// link fails if the name exists. Where links are not supported, fall
	// back to a check and a rename.
	err := os.Link(tmp, o.name)
	if errors.Is(err, fs.ErrExist) {
		os.Remove(tmp)
		return existsError(o.name)
	}
	if err != nil {
		if _, serr := os.Lstat(o.name); serr == nil {
			os.Remove(tmp)
			return existsError(o.name)
		}
		if err := os.Rename(tmp, o.name); err != nil {
			os.Remove(tmp)
			return err
		}
		return nil
	}
	os.Remove(tmp)
	return nil
}

// abort discards the output; nothing is left under its name.
func (o *output) abort() {
	if o.direct != nil {
		o.direct.Close()
	}
	if o.tmp == nil {
		return
	}
	o.tmp.Close()
	temps.Lock()
	delete(temps.names, o.tmp.Name())
	temps.Unlock()
	os.Remove(o.tmp.Name())
}

// temps records the temporary files in use, for removal on interrupt.
var temps = struct {
	sync.Mutex
	names   map[string]bool
	stopped bool
}{names: map[string]bool{}}

// createTemp creates a new temporary file next to name, with mode perm
// under the umask.
func createTemp(name string, perm fs.FileMode) (*os.File, error) {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	temps.Lock()
	defer temps.Unlock()
	if temps.stopped {
		return nil, context.Canceled
	}
	for range 100 {
		var r [6]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, err
		}
		p := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(r[:]))
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		temps.names[p] = true
		return f, nil
	}
	return nil, fmt.Errorf("cannot create a temporary file in %s", dir)
}

// removeTempFiles removes all temporary files and prevents new ones.
func removeTempFiles() {
	temps.Lock()
	defer temps.Unlock()
	temps.stopped = true
	for p := range temps.names {
		os.Remove(p)
	}
}

// A job is one input and where its output goes.
type job struct {
	in, out string
}

// planJobs works out the jobs of encrypt or decrypt from the positional
// arguments and -o. Several inputs need -o to name an existing directory,
// in which each output is named by outName from its input's base name.
func planJobs(args []string, out string, outName func(base string) string) (jobs []job, dirMode bool, err error) {
	if !isStd(out) {
		if fi, err := os.Stat(out); err == nil && fi.IsDir() {
			dirMode = true
		}
	}
	if !dirMode {
		if len(args) > 1 {
			return nil, false, &cliError{
				err:  fmt.Errorf("%d inputs given but only one output", len(args)),
				code: exitUsage,
				hint: "to process several files, pass -o with an existing directory",
			}
		}
		in := "-"
		if len(args) == 1 {
			in = args[0]
		}
		return []job{{in: in, out: out}}, false, nil
	}
	if len(args) == 0 {
		return nil, false, usageErrorf("-o %s is a directory, and stdin has no name to write it under", out)
	}
	seen := map[string]string{}
	for _, in := range args {
		if isStd(in) {
			return nil, false, usageErrorf("stdin cannot be an input when -o is a directory")
		}
		o := filepath.Join(out, outName(filepath.Base(in)))
		if prev, dup := seen[o]; dup {
			return nil, false, usageErrorf("inputs %s and %s would both be written to %s", prev, in, o)
		}
		seen[o] = in
		jobs = append(jobs, job{in: in, out: o})
	}
	return jobs, true, nil
}

// runJobs runs process for each job, reading its input and writing its
// output. A single job's error is returned as it is; in a batch each
// failure is printed and the rest still run, and the result is a
// batchError.
func (a *app) runJobs(ctx context.Context, jobs []job, batch bool, force bool, perm fs.FileMode, verb string,
	process func(ctx context.Context, j job, r io.Reader, w io.Writer) error) error {
	if !batch || len(jobs) == 1 {
		return a.runJob(ctx, jobs[0], force, perm, process)
	}
	failed := 0
	var hints []string
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := a.runJob(ctx, j, force, perm, process)
		if err != nil {
			failed++
			a.printError(j.in, withoutHint(err))
			if h := hintOf(err); h != "" && !slices.Contains(hints, h) {
				hints = append(hints, h)
			}
			continue
		}
		if verb != "" && isTerminal(a.stderr) {
			a.logf("%s %s -> %s", verb, j.in, j.out)
		}
	}
	for _, h := range hints {
		fmt.Fprintf(a.stderr, "mlseal: hint: %s\n", h)
	}
	if failed > 0 {
		return &batchError{failed: failed, total: len(jobs)}
	}
	return nil
}

func (a *app) runJob(ctx context.Context, j job, force bool, perm fs.FileMode,
	process func(ctx context.Context, j job, r io.Reader, w io.Writer) error) error {
	if err := checkOutput(j.out, force); err != nil {
		return err
	}
	r, closeIn, err := a.openInput(j.in)
	if err != nil {
		return err
	}
	defer closeIn()
	o, err := a.createOutput(j.out, force, perm)
	if err != nil {
		return err
	}
	if err := process(ctx, j, r, o.w); err != nil {
		o.abort()
		return err
	}
	return o.commit()
}

// withoutHint returns err with its hint removed, for batches that print
// each distinct hint once at the end.
func withoutHint(err error) error {
	var ce *cliError
	if errors.As(err, &ce) && ce.hint != "" {
		return &cliError{err: ce.err, code: ce.code}
	}
	return err
}

// onlyReader hides a reader's WriteTo so that io.CopyBuffer uses its buffer.
type onlyReader struct{ io.Reader }

// onlyWriter hides a writer's ReadFrom so that io.CopyBuffer uses its buffer.
type onlyWriter struct{ io.Writer }

// copyBufSize is the buffer io.CopyBuffer moves data with.
const copyBufSize = 256 << 10

func copyData(w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, copyBufSize)
	return io.CopyBuffer(onlyWriter{w}, onlyReader{r}, buf)
}
