package idb

import (
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// tempFile is an in-memory file for SQLite's temporary files, which only
// the connection that opened them ever sees, so its locks always succeed.
type tempFile struct {
	vfsutil.SliceFile
}

// Lock implements [vfs.File].
func (*tempFile) Lock(vfs.LockLevel) error { return nil }

// Unlock implements [vfs.File].
func (*tempFile) Unlock(vfs.LockLevel) error { return nil }

// CheckReservedLock implements [vfs.File].
func (*tempFile) CheckReservedLock() (bool, error) { return false, nil }

// SectorSize implements [vfs.File].
func (*tempFile) SectorSize() int { return 4096 }
