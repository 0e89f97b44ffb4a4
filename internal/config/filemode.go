package config

import (
	"io/fs"
	"os"
	"syscall"
)

// ownGroupReads reports whether a file's only access beyond its owner is
// read by the process's own group: a Kubernetes Secret mounted with
// fsGroup (the group of authz alone) and defaultMode 0440, which the
// chart uses because the image's user does not own the files.
func ownGroupReads(st fs.FileInfo) bool {
	if st.Mode().Perm()&0o037 != 0 {
		return false // group write or execute, or anything for others
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Gid) == os.Getegid()
}
