package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mlseal/mlseal/atomicfile"
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
	name   string           // destination path; "" for stdout
	tmp    *atomicfile.File // nil unless writing through a temporary file
	direct *os.File         // an existing non-regular file opened in place
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
	tmp, err := atomicfile.Create(name, perm)
	if err != nil {
		return nil, namedOutput(err, name)
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
	case o.force:
		return o.tmp.Replace()
	}
	err := o.tmp.Commit()
	if errors.Is(err, fs.ErrExist) {
		return existsError(o.name)
	}
	return err
}

// abort discards the output; nothing is left under its name.
func (o *output) abort() {
	if o.direct != nil {
		o.direct.Close()
	}
	if o.tmp != nil {
		o.tmp.Abort()
	}
}

// outputDir creates the local directory that -o names when it ends in a
// slash or several inputs go under it, so that a batch can be written to
// a directory that does not exist yet. It returns the destination for
// the job, without the trailing slash (the engine would take "dir/" for a
// file's name), and a function that removes the directory again if it
// made it and it is still empty, for a job that fails before it writes.
func outputDir(out string, inputs int) (string, func(), error) {
	keep := func() {}
	if isStd(out) || isS3(out) {
		return out, keep, nil
	}
	slash := strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(filepath.Separator))
	if !slash && inputs < 2 {
		return out, keep, nil
	}
	dir := filepath.Clean(out)
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() && slash {
		// Never write over the file that "FILE/" names.
		return out, keep, usageErrorf("-o %s names a directory, but %s is not one", out, dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return dir, keep, nil // a directory, or a file that the job refuses
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return out, keep, fmt.Errorf("creating the output directory %s: %w", out, pathless(err))
	}
	return dir, func() { os.Remove(dir) }, nil
}

// pathless returns the error of an operation on a path without the path,
// for messages that name it in their own words.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// A temporary file's name, as atomicfile and keyfile make it: ".NAME.tmp-" and hex or decimal digits.
var tempName = regexp.MustCompile(`/?\.[^/]*\.tmp-[0-9a-f]+$`)

// namedOutput rewrites an error about an output's temporary file (a full
// disk, a missing directory) to name the output the user asked for: the
// temporary file is a detail that is gone by the time they read it.
func namedOutput(err error, out string) error {
	// The operation and its path, as the error's text has them.
	var op, path, tmp string
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case out == "":
		return err
	case errors.As(err, &pe):
		op, path, tmp = pe.Op, pe.Path, pe.Path
	case errors.As(err, &le): // "rename .OUT.tmp-1 OUT: ..."
		op, path, tmp = le.Op, le.Old+" "+le.New, le.Old
	}
	if !tempName.MatchString(tmp) {
		return err
	}
	var msg string
	if strings.Contains(strings.Replace(err.Error(), path, "", 1), out) {
		// Named already ("writing OUT: open .OUT.tmp-1: ..."): drop the
		// temporary file.
		msg = strings.Replace(err.Error(), op+" "+path+": ", "", 1)
	} else {
		verb := "writing"
		switch op {
		case "open", "openat":
			verb = "creating"
		}
		msg = strings.Replace(err.Error(), op+" "+path, verb+" "+out, 1)
	}
	return &renamedError{msg: msg, err: err}
}

// renamedError is an error with another message and the same chain.
type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }
