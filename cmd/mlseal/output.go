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
	"sync"

	"github.com/mlseal/mlseal/dataset"
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

// removeTempFiles removes all temporary files, the dataset jobs' too, and
// prevents new ones.
func removeTempFiles() {
	dataset.RemoveTemporaryFiles()
	temps.Lock()
	defer temps.Unlock()
	temps.stopped = true
	for p := range temps.names {
		os.Remove(p)
	}
}
