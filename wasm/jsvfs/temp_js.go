package jsvfs

import (
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// TempFile is an in-memory file for SQLite's temporary files, which only
// the connection that opened them ever sees, so its locks always succeed.
type TempFile struct {
	vfsutil.SliceFile
}

// Lock implements [vfs.File].
func (*TempFile) Lock(vfs.LockLevel) error { return nil }

// Unlock implements [vfs.File].
func (*TempFile) Unlock(vfs.LockLevel) error { return nil }

// CheckReservedLock implements [vfs.File].
func (*TempFile) CheckReservedLock() (bool, error) { return false, nil }

// SectorSize implements [vfs.File].
func (*TempFile) SectorSize() int { return 4096 }
