package atomicfile_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mlseal/mlseal/atomicfile"
)

// names lists the names in dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	return n
}

// create creates the output dir/name with data written to it.
func create(t *testing.T, dir, name, data string) *atomicfile.File {
	t.Helper()
	f, err := atomicfile.Create(filepath.Join(dir, name), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCommit(t *testing.T) {
	dir := t.TempDir()
	f := create(t, dir, "out", "data")
	if n := names(t, dir); len(n) != 1 || !strings.HasPrefix(n[0], ".out.tmp-") {
		t.Fatalf("while writing, the directory holds %v, want only .out.tmp-*", n)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := names(t, dir); len(n) != 1 || n[0] != "out" {
		t.Errorf("after Commit, the directory holds %v, want only out", n)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil || string(b) != "data" {
		t.Errorf("out = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "out")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("out's mode: %v, %v; want 0600", fi.Mode(), err)
	}
}

// TestCommitNeverReplaces: Commit fails if the name exists, leaving the
// file there as it was and no temporary file.
func TestCommitNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	f := create(t, dir, "out", "new")
	if err := os.WriteFile(filepath.Join(dir, "out"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := f.Commit()
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), filepath.Join(dir, "out")) {
		t.Errorf("Commit over an existing file: %v, want an error naming it and matching fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "old" {
		t.Errorf("out = %q, want the old file", b)
	}
	if n := names(t, dir); len(n) != 1 {
		t.Errorf("the directory holds %v, want only out", n)
	}
}

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "out"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := create(t, dir, "out", "new").Replace(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "new" {
		t.Errorf("out = %q, want the new file", b)
	}
	if n := names(t, dir); len(n) != 1 {
		t.Errorf("the directory holds %v, want only out", n)
	}
}

// TestFailedReplace: a rename that fails (a directory holds the name)
// leaves no temporary file.
func TestFailedReplace(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "out", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := create(t, dir, "out", "data").Replace(); err == nil {
		t.Fatal("Replace over a directory succeeded")
	}
	if n := names(t, dir); len(n) != 1 || n[0] != "out" {
		t.Errorf("the directory holds %v, want only out", n)
	}
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	create(t, dir, "out", "data").Abort()
	if n := names(t, dir); len(n) != 0 {
		t.Errorf("after Abort, the directory holds %v", n)
	}
}

// TestCreateInConfined: within an os.Root, neither the name nor a
// symbolic link on its path can place the temporary file elsewhere.
func TestCreateInConfined(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links")
	}
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, name := range []string{"link/out", "../out"} {
		if f, err := atomicfile.CreateIn(root, name, 0o600); err == nil {
			f.Abort()
			t.Errorf("CreateIn(%q) succeeded", name)
		}
	}
	if n := names(t, outside); len(n) != 0 {
		t.Errorf("written outside the root: %v", n)
	}

	if err := root.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := atomicfile.CreateIn(root, "sub/out", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("data")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := names(t, filepath.Join(dir, "sub")); len(n) != 1 || n[0] != "out" {
		t.Errorf("sub holds %v, want only out", n)
	}
}

// TestRemoveTemporaryFiles: as a signal handler would, RemoveTemporaryFiles
// removes the temporary files of the outputs not committed and the tracked
// files, and later outputs cannot start. It stops the whole process's
// outputs, so it runs in a process of its own.
func TestRemoveTemporaryFiles(t *testing.T) {
	dir := os.Getenv("ATOMICFILE_REMOVE_DIR")
	if dir == "" {
		dir = t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestRemoveTemporaryFiles$", "-test.v")
		cmd.Env = append(os.Environ(), "ATOMICFILE_REMOVE_DIR="+dir)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	a := create(t, dir, "a", "data")
	b, err := atomicfile.CreateIn(root, "sub/b", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	committed := create(t, dir, "c", "data")
	if err := committed.Commit(); err != nil {
		t.Fatal(err)
	}
	scratch := filepath.Join(dir, "scratch")
	if err := os.WriteFile(scratch, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	atomicfile.Track(scratch)

	atomicfile.RemoveTemporaryFiles()

	if n := names(t, dir); len(n) != 2 || n[0] != "c" || n[1] != "sub" {
		t.Errorf("the directory holds %v, want only c and sub", n)
	}
	if n := names(t, filepath.Join(dir, "sub")); len(n) != 0 {
		t.Errorf("sub holds %v", n)
	}
	// The outputs caught writing can no longer be committed.
	if err := a.Commit(); err == nil {
		t.Error("an output whose temporary file was removed was committed")
	}
	if err := b.Replace(); err == nil {
		t.Error("an output whose temporary file was removed replaced its name")
	}
	if _, err := atomicfile.Create(filepath.Join(dir, "d"), 0o600); !errors.Is(err, context.Canceled) {
		t.Errorf("Create after RemoveTemporaryFiles: %v, want context.Canceled", err)
	}
	if err := os.WriteFile(scratch, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	atomicfile.Track(scratch)
	if n := names(t, dir); len(n) != 2 {
		t.Errorf("the directory holds %v, want only c and sub: Track after RemoveTemporaryFiles keeps the file", n)
	}
}
