//go:build unix

package keyfile

import (
	"io/fs"
	"syscall"
)

// owner returns the user id that owns the file st describes.
func owner(st fs.FileInfo) (uid int, ok bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(s.Uid), true
}
