//go:build !unix

package keyfile

import "io/fs"

// owner reports no owner: outside Unix, files carry no user id that Load
// could compare with the process's.
func owner(fs.FileInfo) (uid int, ok bool) { return 0, false }
