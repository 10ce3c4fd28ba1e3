package dataset

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheckName: a name that checkName accepts for a local destination
// lands under the root as it is written, without cleaning changing it;
// one it accepts for S3 has no "." or ".." segment and no NUL.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a", "a/b.csv", "../x", "a/../../x", "./a", "/abs", "a//b", `a\b`, `c:\x`, "a\x00b", "..", ".", "", "a/", "a/./b", "..a", "a..", "~/x", "%2e%2e/x"} {
		f.Add(s)
	}
	root := filepath.FromSlash("/data/out")
	f.Fuzz(func(t *testing.T, name string) {
		if checkName(name, true) == nil {
			p := filepath.Join(root, filepath.FromSlash(name))
			if !within(root, p) {
				t.Fatalf("%q lands at %s, outside %s", name, p, root)
			}
			if rel, _ := filepath.Rel(root, p); filepath.ToSlash(rel) != name {
				t.Fatalf("%q lands at %s: cleaning changed it", name, p)
			}
		}
		if checkName(name, false) == nil {
			for seg := range strings.SplitSeq(name, "/") {
				if seg == "." || seg == ".." {
					t.Fatalf("%q accepted for S3 with a %q segment", name, seg)
				}
			}
			if strings.ContainsRune(name, 0) || strings.HasPrefix(name, "/") {
				t.Fatalf("%q accepted for S3", name)
			}
		}
	})
}
