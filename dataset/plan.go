package dataset

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mlseal/mlseal/s3io"
)

// ErrUsage marks a job that cannot be planned as described: sources and
// destination that do not fit together, a bad shard.
var ErrUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// ParseLocation parses a Source or Destination: "s3://bucket/key", a
// local path, or "" or "-" for stdin or stdout.
func ParseLocation(s string) (Location, error) {
	if strings.HasPrefix(s, "s3://") {
		b, k, err := s3io.ParseURL(s)
		if err != nil {
			return Location{}, err
		}
		return Location{Bucket: b, Key: k}, nil
	}
	if s == "" {
		s = "-"
	}
	return Location{Path: s}, nil
}

// isPrefix reports whether an S3 location names a prefix.
func isPrefix(l Location) bool { return l.IsS3() && (l.Key == "" || strings.HasSuffix(l.Key, "/")) }

// Plan lists the items of a job: the sources expanded (directories walked,
// prefixes listed), each item's output worked out, names checked, and
// the shard's items kept. Items whose names are unsafe are listed with
// Refused set; Run fails them without opening anything.
func (j *Job) Plan(ctx context.Context) ([]*Item, error) {
	opts := &j.opts
	if opts.Operation == nil {
		return nil, errors.New("dataset: Options.Operation is nil")
	}
	if s := opts.Shard; s.Count < 0 || s.Count > 0 && (s.Index < 0 || s.Index >= s.Count) {
		return nil, usagef("shard %d/%d is not I/N with 0 <= I < N", s.Index, s.Count)
	}
	sources := opts.Sources
	if len(sources) == 0 {
		sources = []Source{"-"}
	}
	var items []*Item
	tree := false // a directory or prefix as a source: the destination is one too
	for _, src := range sources {
		in, err := ParseLocation(string(src))
		if err != nil {
			return nil, usagef("%v", err)
		}
		switch {
		case in.IsStd():
			if len(sources) > 1 {
				return nil, usagef("stdin cannot be an input along with others")
			}
			items = append(items, &Item{In: in, Name: "stdin", Size: -1})
		case isPrefix(in):
			tree = true
			if items, err = j.planPrefix(ctx, in, items); err != nil {
				return nil, err
			}
		case in.IsS3():
			c, err := j.s3Client(ctx)
			if err != nil {
				return nil, err
			}
			wctx, _, end := j.watched(ctx)
			info, err := c.Head(wctx, in.Bucket, in.Key)
			if err = end(err); err != nil {
				return nil, err
			}
			items = append(items, &Item{In: in, Name: path.Base(in.Key), Size: info.Size, ETag: info.ETag, ModTime: info.LastModified})
		default:
			fi, err := os.Stat(in.Path)
			if err != nil || !fi.IsDir() {
				// A file, or a missing one that fails as its item.
				it := &Item{In: in, Name: filepath.Base(in.Path), Size: -1}
				if err == nil {
					it.Size, it.ModTime = fi.Size(), fi.ModTime()
				}
				items = append(items, it)
				continue
			}
			tree = true
			if items, err = j.planDir(in.Path, items); err != nil {
				return nil, err
			}
		}
	}
	if err := j.planOutputs(items, tree, len(sources) > 1); err != nil {
		return nil, err
	}
	if s := opts.Shard; s.Count > 0 {
		var mine []*Item
		for _, it := range items {
			if ShardOf(it.In.String(), uint64(s.Count)) == uint64(s.Index) {
				mine = append(mine, it)
			}
		}
		items = mine
	}
	return items, nil
}

// planPrefix lists the objects under an S3 prefix.
func (j *Job) planPrefix(ctx context.Context, in Location, items []*Item) ([]*Item, error) {
	c, err := j.s3Client(ctx)
	if err != nil {
		return nil, err
	}
	n := len(items)
	wctx, touch, end := j.watched(ctx)
	err = c.List(wctx, in.Bucket, in.Key, func(o s3io.ObjectInfo) error {
		touch()
		if strings.HasSuffix(o.Key, "/") {
			return nil // a folder marker
		}
		items = append(items, &Item{
			In:   Location{Bucket: in.Bucket, Key: o.Key},
			Name: strings.TrimPrefix(o.Key, in.Key),
			Size: o.Size, ETag: o.ETag, ModTime: o.LastModified,
		})
		return nil
	})
	if err = end(err); err != nil {
		return nil, err
	}
	if len(items) == n {
		return nil, &notFoundError{fmt.Sprintf("no objects under %s", in)}
	}
	return items, nil
}

type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// planDir walks a local source directory. Symbolic links are followed
// when they stay inside it, or when FollowSymlinks says so (a linked
// directory is then walked too, unless it is one walked already or holds
// one: a loop); a link out of it is otherwise listed as a refused item.
func (j *Job) planDir(root string, items []*Item) ([]*Item, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	n := len(items)
	ownFiles, destDir := j.ownFiles()
	walked := []string{realRoot} // the real directories walked, against loops
	// visit walks the tree under root; inRoot is "" under a linked
	// directory out of root, whose files are opened by their paths.
	var visit func(inRoot string) fs.WalkDirFunc
	visit = func(inRoot string) fs.WalkDirFunc {
		return func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if destDir != nil && p != root {
					if fi, err := d.Info(); err == nil && os.SameFile(fi, destDir) {
						return fs.SkipDir // the outputs of this job, not its inputs
					}
				}
				if inRoot == "" {
					if real, err := filepath.EvalSymlinks(p); err == nil {
						walked = append(walked, real)
					}
				}
				return nil
			}
			if strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-") {
				return nil // temporary files are outputs in the making
			}
			if fi, err := d.Info(); err == nil && slices.ContainsFunc(ownFiles, func(o os.FileInfo) bool { return os.SameFile(fi, o) }) {
				return nil // the job's manifest or audit trail
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			it := &Item{In: Location{Path: p}, Name: filepath.ToSlash(rel), InRoot: inRoot, Size: -1}
			if d.Type()&fs.ModeSymlink != 0 {
				target, err := filepath.EvalSymlinks(p)
				if err != nil {
					it.Refused = fmt.Sprintf("a symbolic link that leads nowhere: %v", err)
					items = append(items, it)
					return nil
				}
				outside := !within(realRoot, target)
				if outside {
					if !j.opts.FollowSymlinks {
						it.Refused = fmt.Sprintf("a symbolic link to %s, out of %s (not followed unless asked)", target, root)
						items = append(items, it)
						return nil
					}
					it.InRoot = "" // opened by its path, as asked
				}
				fi, err := os.Stat(p)
				if err != nil {
					return err
				}
				if fi.IsDir() {
					if !outside {
						return nil // a link inside: its files are listed where they are
					}
					if slices.ContainsFunc(walked, func(w string) bool { return within(target, w) }) {
						it.Refused = fmt.Sprintf("a symbolic link to the directory %s, which holds or is one walked already (a loop)", target)
						items = append(items, it)
						return nil
					}
					// The trailing separator makes WalkDir walk the target.
					return filepath.WalkDir(p+string(filepath.Separator), visit(""))
				}
				if !fi.Mode().IsRegular() {
					return nil
				}
				it.Size, it.ModTime = fi.Size(), fi.ModTime()
				items = append(items, it)
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			it.Size, it.ModTime = info.Size(), info.ModTime()
			items = append(items, it)
			return nil
		}
	}
	if err := filepath.WalkDir(root, visit(root)); err != nil {
		return nil, err
	}
	if len(items) == n {
		return nil, &notFoundError{fmt.Sprintf("%s holds no files", root)}
	}
	return items, nil
}

// ownFiles returns the job's local manifest and audit trail, and its
// local destination directory, as they exist: a walk of the inputs leaves
// them out.
func (j *Job) ownFiles() (files []os.FileInfo, dest os.FileInfo) {
	for _, name := range []string{j.opts.Manifest, j.opts.Audit} {
		if name == "" || strings.HasPrefix(name, "s3://") {
			continue
		}
		if fi, err := os.Stat(name); err == nil {
			files = append(files, fi)
		}
	}
	if out, err := ParseLocation(string(j.opts.Destination)); err == nil && out.IsLocal() && j.opts.Operation.OutputName("x") != "" {
		if fi, err := os.Stat(out.Path); err == nil && fi.IsDir() {
			dest = fi
		}
	}
	return files, dest
}

// sameFile reports whether two locations are one local file, under any
// names: writing the output over its input would replace the data with what
// was made of it (and leave the old bytes on the disk).
func sameFile(a, b Location) bool {
	if !a.IsLocal() || !b.IsLocal() {
		return false
	}
	fa, err := os.Stat(a.Path)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b.Path)
	return err == nil && os.SameFile(fa, fb)
}

// planOutputs works out where each item's output goes, checking names and
// collisions: one named output, or a tree under a directory or prefix.
func (j *Job) planOutputs(items []*Item, tree, several bool) error {
	op := j.opts.Operation
	if op.OutputName("x") == "" {
		return nil // nothing is written
	}
	out, err := ParseLocation(string(j.opts.Destination))
	if err != nil {
		return usagef("%v", err)
	}
	switch {
	case out.IsStd() && (tree || several):
		return usagef("several inputs, a directory or a prefix need a directory or an s3:// prefix as the destination")
	case out.IsS3():
		// Several objects go under a prefix, with or without its slash.
		tree = tree || several || isPrefix(out)
	case !out.IsStd():
		if fi, err := os.Stat(out.Path); err == nil && fi.IsDir() {
			tree = true
		} else if several && !tree {
			return usagef("%d inputs given but only one output", len(items))
		}
	}
	if tree && len(items) == 1 && items[0].In.IsStd() {
		return usagef("stdin has no name to write it under %s", out)
	}
	if !tree {
		for _, it := range items {
			if sameFile(it.In, out) {
				return usagef("%s is both the input and the output: write the output to another file", out)
			}
			it.Out = out
		}
		return nil
	}
	if out.IsS3() && out.Key != "" && !strings.HasSuffix(out.Key, "/") {
		out.Key += "/"
	}
	inputs := map[string]bool{}
	for _, it := range items {
		inputs[it.In.String()] = true
	}
	if j.opts.Manifest != "" {
		inputs[filepath.Clean(j.opts.Manifest)] = true
	}
	seen := map[string]*Item{}
	for _, it := range items {
		if it.Refused != "" {
			continue
		}
		local := !out.IsS3()
		dir, base := path.Split(it.Name)
		rel := dir + op.OutputName(base)
		if err := checkName(it.Name, local); err != nil {
			it.Refused = err.(*nameError).reason
			continue
		}
		if err := checkName(rel, local); err != nil {
			it.Refused = "its output " + err.(*nameError).reason[len("the "):]
			continue
		}
		if local {
			it.OutRoot = out.Path
			it.Out = Location{Path: filepath.Join(out.Path, filepath.FromSlash(rel))}
			if !within(out.Path, it.Out.Path) {
				// Unreachable after checkName; kept as a second line.
				it.Refused = fmt.Sprintf("its output %s is not under %s", it.Out.Path, out.Path)
				continue
			}
		} else {
			it.Out = Location{Bucket: out.Bucket, Key: out.Key + rel}
		}
		o := it.Out.String()
		if inputs[o] || local && inputs[filepath.Clean(o)] {
			it.Refused = fmt.Sprintf("its output %s is an input of this job", o)
			continue
		}
		if prev, dup := seen[o]; dup {
			reason := fmt.Sprintf("%s and %s would both be written to %s", prev.In, it.In, o)
			prev.Refused, it.Refused = reason, reason
			continue
		}
		seen[o] = it
	}
	return nil
}

// ShardOf returns the shard, of n, that the input named name belongs to:
// FNV-1a 64 of the name, modulo n, so that it depends neither on listing
// order nor on the release of mlseal that computes it.
func ShardOf(name string, n uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64() % n
}
