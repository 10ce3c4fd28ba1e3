package main

// Dataset jobs: encrypt and decrypt with s3:// inputs and outputs, local
// directories and S3 prefixes, many objects in parallel, a resumable job
// manifest and --shard I/N. The envelope commands hand over to this file
// when any of that is asked for; everything else stays in encrypt.go,
// decrypt.go and output.go.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mlseal/mlseal/s3io"
)

// datasetFlags are the flags of dataset jobs, shared by encrypt and decrypt.
type datasetFlags struct {
	suffix      string
	manifest    string
	shard       string
	jobs        int
	partSize    int64
	concurrency int
	pathStyle   bool
	endpoint    string
}

// addFlags adds the dataset flags to a command's flag set.
func (f *datasetFlags) addFlags(fl *pflag.FlagSet, encrypt bool) {
	if encrypt {
		fl.StringVar(&f.suffix, "suffix", encryptedExt, "`SUFFIX` appended to names written under a directory or prefix")
	} else {
		fl.StringVar(&f.suffix, "suffix", encryptedExt, "`SUFFIX` removed from names written under a directory or prefix (.dec is added to names without it)")
	}
	fl.StringVar(&f.manifest, "manifest", "", "job manifest `FILE` (JSON lines): record each object, and skip those done in an earlier run")
	fl.StringVar(&f.shard, "shard", "", "process only the inputs of shard `I/N` (I from 0 to N-1), by a hash of their names")
	fl.IntVarP(&f.jobs, "jobs", "j", 4, "objects processed in parallel")
	fl.Int64Var(&f.partSize, "s3-part-size", 0, fmt.Sprintf("bytes per S3 upload part and ranged GET (default %d)", s3io.DefaultPartSize))
	fl.IntVar(&f.concurrency, "s3-concurrency", 0, fmt.Sprintf("S3 parts in flight per object (default %d)", s3io.DefaultConcurrency))
	fl.BoolVar(&f.pathStyle, "s3-path-style", false, "path-style S3 addressing (automatic for IP and localhost endpoints; or MLSEAL_S3_PATH_STYLE=1)")
	fl.StringVar(&f.endpoint, "s3-endpoint", "", "S3 endpoint `URL` (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the profile's)")
}

// active reports whether the arguments need a dataset job rather than the
// plain file and stream handling.
func (f *datasetFlags) active(args []string, out string) bool {
	if f.manifest != "" || f.shard != "" || isS3(out) {
		return true
	}
	for _, a := range args {
		if isS3(a) {
			return true
		}
		if !isStd(a) {
			if fi, err := os.Stat(a); err == nil && fi.IsDir() {
				return true
			}
		}
	}
	return false
}

func isS3(name string) bool { return strings.HasPrefix(name, "s3://") }

// A loc is where an input is read from or an output written to: an S3
// object, a local file, or stdin/stdout.
type loc struct {
	bucket, key string // an S3 object when bucket is set
	path        string // a local file; "-" for stdin or stdout
}

func (l loc) s3() bool  { return l.bucket != "" }
func (l loc) std() bool { return !l.s3() && isStd(l.path) }

func (l loc) String() string {
	switch {
	case l.s3():
		return s3io.URL(l.bucket, l.key)
	default:
		return l.path
	}
}

func parseLoc(name string) (loc, error) {
	if isS3(name) {
		b, k, err := s3io.ParseURL(name)
		if err != nil {
			return loc{}, &cliError{err: err, code: exitUsage, hint: "S3 locations are written s3://BUCKET/KEY, or s3://BUCKET/PREFIX/ for a prefix"}
		}
		return loc{bucket: b, key: k}, nil
	}
	if isStd(name) {
		name = "-"
	}
	return loc{path: name}, nil
}

// An item is one input of a dataset job and where its output goes.
type item struct {
	in, out loc
	rel     string // the input's path below its root, with "/"
	size    int64  // the input's size, -1 when unknown
	etag    string // the source's ETag (S3) ...
	mtime   time.Time
}

// source identifies the version of the input, for the manifest.
func (it *item) sourceVersion() string {
	if it.etag != "" {
		return "etag:" + it.etag
	}
	if !it.mtime.IsZero() {
		return "mtime:" + it.mtime.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

// parseShard parses "I/N".
func parseShard(s string) (i, n uint64, err error) {
	is, ns, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.ParseUint(strings.TrimSpace(is), 10, 32)
		if err == nil {
			n, err = strconv.ParseUint(strings.TrimSpace(ns), 10, 32)
		}
	}
	if !ok || err != nil || n == 0 || i >= n {
		return 0, 0, &cliError{
			err:  fmt.Errorf("--shard %q is not I/N with 0 <= I < N", s),
			code: exitUsage,
			hint: "for example --shard 0/4 ... --shard 3/4; in a Kubernetes Indexed Job, --shard $(JOB_COMPLETION_INDEX)/N",
		}
	}
	return i, n, nil
}

// shardOf returns the shard, of n, that the input named name belongs to:
// a hash of the name, so that it does not depend on listing order.
func shardOf(name string, n uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64() % n
}

// planDataset expands the inputs (files, directories, objects, prefixes)
// into items and works out their outputs. outName maps an input's base
// name to its output's.
func (a *app) planDataset(ctx context.Context, f *datasetFlags, args []string, outArg string, outName func(string) string, s3c func() (*s3io.Client, error)) ([]*item, error) {
	if len(args) == 0 {
		args = []string{"-"}
	}
	out, err := parseLoc(outArg)
	if err != nil {
		return nil, err
	}
	var items []*item
	tree := len(args) > 1 // several inputs: -o is a directory or prefix
	for _, arg := range args {
		in, err := parseLoc(arg)
		if err != nil {
			return nil, err
		}
		switch {
		case in.std():
			if len(args) > 1 {
				return nil, usageErrorf("stdin cannot be an input along with others")
			}
			items = append(items, &item{in: in, rel: "stdin", size: -1})
		case in.s3() && (in.key == "" || strings.HasSuffix(in.key, "/")):
			tree = true
			c, err := s3c()
			if err != nil {
				return nil, err
			}
			n := len(items)
			err = c.List(ctx, in.bucket, in.key, func(o s3io.ObjectInfo) error {
				if strings.HasSuffix(o.Key, "/") {
					return nil // a folder marker
				}
				items = append(items, &item{
					in:   loc{bucket: in.bucket, key: o.Key},
					rel:  strings.TrimPrefix(o.Key, in.key),
					size: o.Size, etag: o.ETag, mtime: o.LastModified,
				})
				return nil
			})
			if err != nil {
				return nil, err
			}
			if len(items) == n {
				return nil, &cliError{err: fmt.Errorf("no objects under %s", in), hint: "check the bucket and prefix ('aws s3 ls' lists them)"}
			}
		case in.s3():
			c, err := s3c()
			if err != nil {
				return nil, err
			}
			info, err := c.Head(ctx, in.bucket, in.key)
			if err != nil {
				if errors.Is(err, s3io.ErrNotFound) {
					err = withHint(err, fmt.Sprintf("to name a prefix, end it with a slash: %s/", in))
				}
				return nil, err
			}
			items = append(items, &item{in: in, rel: path.Base(in.key), size: info.Size, etag: info.ETag, mtime: info.LastModified})
		default:
			fi, err := os.Stat(in.path)
			if err != nil {
				return nil, err
			}
			if !fi.IsDir() {
				items = append(items, &item{in: in, rel: filepath.Base(in.path), size: fi.Size(), mtime: fi.ModTime()})
				continue
			}
			tree = true
			root := in.path
			n := len(items)
			err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.Type().IsRegular() || strings.Contains(d.Name(), ".tmp-") && strings.HasPrefix(d.Name(), ".") {
					return nil
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				rel, err := filepath.Rel(root, p)
				if err != nil {
					return err
				}
				items = append(items, &item{in: loc{path: p}, rel: filepath.ToSlash(rel), size: info.Size(), mtime: info.ModTime()})
				return nil
			})
			if err != nil {
				return nil, err
			}
			if len(items) == n {
				return nil, fmt.Errorf("%s holds no files", in)
			}
		}
	}

	// Where outputs go: one named output, or a tree under a directory or
	// prefix.
	if !tree && !out.std() {
		if out.s3() {
			tree = out.key == "" || strings.HasSuffix(out.key, "/")
		} else if fi, err := os.Stat(out.path); err == nil && fi.IsDir() {
			tree = true
		}
	}
	if tree && out.std() {
		return nil, &cliError{
			err:  errors.New("several inputs, a directory or a prefix need -o with a directory or s3:// prefix"),
			code: exitUsage,
		}
	}
	if tree && out.s3() && out.key != "" && !strings.HasSuffix(out.key, "/") {
		out.key += "/"
	}
	seen := map[string]string{}
	for _, it := range items {
		switch {
		case !tree:
			it.out = out
		case out.s3():
			dir, base := path.Split(it.rel)
			it.out = loc{bucket: out.bucket, key: out.key + dir + outName(base)}
		default:
			dir, base := path.Split(it.rel)
			it.out = loc{path: filepath.Join(out.path, filepath.FromSlash(dir), outName(base))}
		}
		o := it.out.String()
		if prev, dup := seen[o]; dup {
			return nil, usageErrorf("inputs %s and %s would both be written to %s", prev, it.in, o)
		}
		seen[o] = it.in.String()
	}

	if f.shard != "" {
		i, n, err := parseShard(f.shard)
		if err != nil {
			return nil, err
		}
		var mine []*item
		for _, it := range items {
			if shardOf(it.in.String(), n) == i {
				mine = append(mine, it)
			}
		}
		items = mine
	}
	return items, nil
}
