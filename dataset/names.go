package dataset

import (
	"fmt"
	"path/filepath"
	"strings"
)

// A nameError refuses an item whose name is unsafe.
type nameError struct {
	name, reason string
}

func (e *nameError) Error() string        { return fmt.Sprintf("refused %q: %s", e.name, e.reason) }
func (e *nameError) Is(target error) bool { return target == ErrUnsafeName }

// checkName checks the relative name of an item (segments separated by
// "/") before anything is opened for it. Names are refused that could
// leave the destination or mean something else than they say: "." and
// ".." segments, absolute names, NUL bytes; for a local destination also
// empty segments ("a//b") and backslashes, which some systems read as
// separators. S3 destinations take every other key as it is.
func checkName(name string, local bool) error {
	switch {
	case name == "":
		return &nameError{name, "the name is empty"}
	case strings.ContainsRune(name, 0):
		return &nameError{name, "the name contains a NUL byte"}
	case strings.HasPrefix(name, "/"):
		return &nameError{name, "the name is an absolute path"}
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch {
		case seg == "." || seg == "..":
			return &nameError{name, fmt.Sprintf("the name has a %q segment", seg)}
		case local && seg == "":
			return &nameError{name, "the name has an empty segment"}
		case local && strings.Contains(seg, `\`):
			return &nameError{name, "the name contains a backslash"}
		case local && filepath.VolumeName(seg) != "":
			return &nameError{name, "the name starts with a volume name"}
		}
	}
	return nil
}

// within reports whether path p lies under the directory root (both
// cleaned), p == root excluded.
func within(root, p string) bool {
	rel, err := filepath.Rel(filepath.Clean(root), filepath.Clean(p))
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
