package jsvfs

import (
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// LockTable holds SQLite's file lock levels for one path, shared by the
// files of this program that have the path open. The allowed moves are those
// of SQLite's unix VFS: NONE→SHARED, SHARED→RESERVED, SHARED→EXCLUSIVE,
// RESERVED→(PENDING)→EXCLUSIVE, PENDING→EXCLUSIVE, and back down to SHARED
// or NONE. A move that conflicts with another file's lock returns
// sqlite3.BUSY at once; SQLite's busy handler retries it.
type LockTable struct {
	shared   int  // files holding SHARED or more
	reserved bool // a file holds RESERVED or more
	pending  bool // a file holds PENDING or EXCLUSIVE
}

// lock raises *have to want.
func (t *LockTable) Lock(have *vfs.LockLevel, want vfs.LockLevel) error {
	if *have >= want {
		return nil
	}
	switch want {
	case vfs.LOCK_SHARED:
		if t.pending {
			return sqlite3.BUSY
		}
		t.shared++
		*have = vfs.LOCK_SHARED

	case vfs.LOCK_RESERVED:
		if *have != vfs.LOCK_SHARED {
			return sqlite3.IOERR_LOCK
		}
		if t.reserved {
			return sqlite3.BUSY
		}
		t.reserved = true
		*have = vfs.LOCK_RESERVED

	case vfs.LOCK_EXCLUSIVE:
		switch *have {
		case vfs.LOCK_NONE:
			return sqlite3.IOERR_LOCK
		case vfs.LOCK_SHARED:
			if t.reserved || t.pending {
				return sqlite3.BUSY
			}
			t.reserved = true
			fallthrough
		case vfs.LOCK_RESERVED:
			// Holding PENDING keeps new readers out while the
			// current ones finish.
			t.pending = true
			*have = vfs.LOCK_PENDING
		}
		if t.shared > 1 {
			return sqlite3.BUSY
		}
		*have = vfs.LOCK_EXCLUSIVE

	default:
		return sqlite3.IOERR_LOCK
	}
	return nil
}

// unlock lowers *have to want, which is SHARED or NONE.
func (t *LockTable) Unlock(have *vfs.LockLevel, want vfs.LockLevel) error {
	if *have <= want {
		return nil
	}
	if want > vfs.LOCK_SHARED {
		return sqlite3.IOERR_UNLOCK
	}
	if *have >= vfs.LOCK_PENDING {
		t.pending = false
	}
	if *have >= vfs.LOCK_RESERVED {
		t.reserved = false
	}
	if want == vfs.LOCK_NONE {
		t.shared--
	}
	*have = want
	return nil
}

// Reserved reports whether a file holds RESERVED or more (for
// CheckReservedLock).
func (t *LockTable) Reserved() bool { return t.reserved }
