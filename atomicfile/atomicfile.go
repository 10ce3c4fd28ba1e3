// Package atomicfile writes a file so that it appears under its name whole
// or not at all.
//
// Create opens a temporary file next to the destination, named
// ".NAME.tmp-" and twelve hex digits; Commit (or Replace) syncs it and only
// then gives it its name, and Abort removes it. A process that is told to
// stop calls RemoveTemporaryFiles from its signal handler, so that the
// temporary files of the outputs not yet committed, whoever creates them,
// are removed before it exits: the package keeps one list of them per
// process.
//
// The functions of the package are safe for concurrent use; a File is used
// by one goroutine at a time.
package atomicfile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// A File is an output being written: a temporary file in the directory of
// its destination. It is an *os.File for writing (its Name is the
// temporary file's); end it with exactly one of Commit, Replace or Abort,
// never with Close.
type File struct {
	*os.File
	dir  dir
	name string // the destination, as dir knows it
	tmp  string // the temporary file, as dir knows it
	path string // the temporary file, in the list of temporary files
}

// dir is where a File lives: the current directory, or an os.Root.
type dir interface {
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	Rename(oldname, newname string) error
	Link(oldname, newname string) error
	Lstat(name string) (fs.FileInfo, error)
	Remove(name string) error
}

// osDir is the file system as the os package sees it, with relative
// names under the current directory.
type osDir struct{}

func (osDir) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (osDir) Rename(oldname, newname string) error   { return os.Rename(oldname, newname) }
func (osDir) Link(oldname, newname string) error     { return os.Link(oldname, newname) }
func (osDir) Lstat(name string) (fs.FileInfo, error) { return os.Lstat(name) }
func (osDir) Remove(name string) error               { return os.Remove(name) }

// Create creates the temporary file of the output name, with mode perm
// (before the umask), in name's directory, which must exist. Its errors
// are the os package's, naming the temporary file; after
// RemoveTemporaryFiles it fails with context.Canceled.
func Create(name string, perm fs.FileMode) (*File, error) {
	return create(osDir{}, name, perm, "")
}

// CreateIn is Create for the output name within root: neither name nor a
// symbolic link in root's tree can place the file, or its temporary file,
// outside root. root must stay open until the File ends.
func CreateIn(root *os.Root, name string, perm fs.FileMode) (*File, error) {
	return create(root, name, perm, root.Name())
}

// create creates name's temporary file in d; its path in the list of
// temporary files is below prefix.
func create(d dir, name string, perm fs.FileMode, prefix string) (*File, error) {
	sub, base := filepath.Split(name)
	temps.Lock()
	defer temps.Unlock()
	if temps.stopped {
		return nil, context.Canceled
	}
	for range 100 {
		var r [6]byte
		rand.Read(r[:])
		tmp := filepath.Join(sub, "."+base+".tmp-"+hex.EncodeToString(r[:]))
		f, err := d.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		path := filepath.Join(prefix, tmp)
		temps.names[path] = true
		return &File{File: f, dir: d, name: name, tmp: tmp, path: path}, nil
	}
	return nil, fmt.Errorf("cannot create a temporary file in %s", filepath.Join(prefix, filepath.Clean(sub)))
}

// Commit syncs the file and gives it its name, unless a file of that name
// exists, even one created a moment before by another process: then it
// returns an error that matches fs.ErrExist. The file system must support
// hard links, or else a file created between the check and the rename is
// replaced. Either way the temporary file is gone when Commit returns.
func (f *File) Commit() error {
	return f.commit(false)
}

// Replace syncs the file and gives it its name, replacing any file of that
// name in one step: a reader sees the old file or the new one, never a
// part. The temporary file is gone when Replace returns.
func (f *File) Replace() error {
	return f.commit(true)
}

func (f *File) commit(replace bool) error {
	defer f.forget()
	// Sync first, so that after a crash the name holds the old file or the
	// whole new one, never an empty or partial file.
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		f.dir.Remove(f.tmp)
		return err
	}
	if replace {
		if err := f.dir.Rename(f.tmp, f.name); err != nil {
			f.dir.Remove(f.tmp)
			return err
		}
		return nil
	}
	// A hard link fails if the name exists, where a check and a rename
	// would race with another writer.
	err = f.dir.Link(f.tmp, f.name)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		if _, serr := f.dir.Lstat(f.name); serr == nil {
			err = fs.ErrExist
		} else if err = f.dir.Rename(f.tmp, f.name); err == nil {
			return nil
		}
	}
	f.dir.Remove(f.tmp)
	if errors.Is(err, fs.ErrExist) {
		return &fs.PathError{Op: "create", Path: f.name, Err: fs.ErrExist}
	}
	return err
}

// Abort closes and removes the temporary file: nothing of the output
// remains.
func (f *File) Abort() {
	f.Close()
	f.dir.Remove(f.tmp)
	f.forget()
}

func (f *File) forget() {
	temps.Lock()
	delete(temps.names, f.path)
	temps.Unlock()
}

// temps are the temporary files in use, for RemoveTemporaryFiles.
var temps = struct {
	sync.Mutex
	names   map[string]bool
	stopped bool
}{names: map[string]bool{}}

// Track adds path, a temporary file of the caller's such as a copy of an
// input spooled to disk, to the files that RemoveTemporaryFiles removes;
// after RemoveTemporaryFiles it removes path at once. The caller calls the
// function it returns when it removes the file itself.
func Track(path string) (forget func()) {
	temps.Lock()
	defer temps.Unlock()
	if temps.stopped {
		os.Remove(path)
		return func() {}
	}
	temps.names[path] = true
	return func() {
		temps.Lock()
		delete(temps.names, path)
		temps.Unlock()
	}
}

// RemoveTemporaryFiles removes the temporary file of every output of the
// process not yet committed, and the files given to Track, and makes Create
// and CreateIn fail from then on. It is meant for a program's signal
// handler, just before the program exits without waiting for its
// goroutines to abort their outputs. An output being committed at that
// moment either gets its name or fails.
func RemoveTemporaryFiles() {
	temps.Lock()
	defer temps.Unlock()
	temps.stopped = true
	for p := range temps.names {
		os.Remove(p)
	}
}
