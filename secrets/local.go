package secrets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Env is the provider of env:// references: the environment of the current
// process. A variable that is not set is ErrNotFound; one set to the empty
// string is an empty secret.
type Env struct {
	// LookupEnv looks a variable up; nil means os.LookupEnv.
	LookupEnv func(name string) (string, bool)
}

// Fetch reads the variable named by ref.
func (e Env) Fetch(ctx context.Context, ref Ref) (Secret, error) {
	if ref.scheme != SchemeEnv {
		return Secret{}, wrongScheme(ref, SchemeEnv)
	}
	lookup := e.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(ref.name)
	if !ok {
		return Secret{}, &Error{Ref: ref, Kind: ErrNotFound, Err: fmt.Errorf("variable %s is not set", ref.name)}
	}
	return NewSecret(v, Metadata{Name: ref.name}), nil
}

// DefaultMaxFileSize is the largest file that File reads by default.
const DefaultMaxFileSize = 1 << 20

// File is the provider of file:// references. The whole file is the value.
type File struct {
	// Dir is the directory that relative paths start from; "" means the
	// working directory.
	Dir string
	// MaxSize is the largest file read; zero means DefaultMaxFileSize.
	MaxSize int64
}

// Fetch reads the file named by ref.
func (f File) Fetch(ctx context.Context, ref Ref) (Secret, error) {
	if ref.scheme != SchemeFile {
		return Secret{}, wrongScheme(ref, SchemeFile)
	}
	if err := ctx.Err(); err != nil {
		return Secret{}, &Error{Ref: ref, Err: err}
	}
	path := ref.name
	if f.Dir != "" && !filepath.IsAbs(path) {
		path = filepath.Join(f.Dir, path)
	}
	max := f.MaxSize
	if max <= 0 {
		max = DefaultMaxFileSize
	}
	fail := func(err error) (Secret, error) {
		var kind error
		switch {
		case errors.Is(err, fs.ErrNotExist):
			kind = ErrNotFound
		case errors.Is(err, fs.ErrPermission):
			kind = ErrAccessDenied
		}
		return Secret{}, &Error{Ref: ref, Kind: kind, Err: err}
	}
	file, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return fail(err)
	}
	if !fi.Mode().IsRegular() && fi.Mode()&fs.ModeNamedPipe == 0 && fi.Mode()&fs.ModeCharDevice == 0 {
		return Secret{}, &Error{Ref: ref, Kind: ErrInvalid, Err: fmt.Errorf("%s is not a regular file", path)}
	}
	b, err := io.ReadAll(io.LimitReader(file, max+1))
	if err != nil {
		return fail(err)
	}
	if int64(len(b)) > max {
		return Secret{}, &Error{Ref: ref, Kind: ErrInvalid, Err: fmt.Errorf("%s is larger than %d bytes", path, max)}
	}
	return NewSecret(string(b), Metadata{Name: path, Created: fi.ModTime()}), nil
}

func wrongScheme(ref Ref, want string) error {
	return &Error{Ref: ref, Kind: ErrNoProvider, Err: fmt.Errorf("the %s provider was given a %s:// reference", want, ref.scheme)}
}
