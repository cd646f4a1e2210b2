package opfs

import (
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// file is a vfs.File on an OPFS file, one per SQLite open.
type file struct {
	*handle
	lock     vfs.LockLevel // +checklocks:handle.mu
	readOnly bool
	delete   bool // delete the file on close
}

var (
	// Ensure these interfaces are implemented:
	_ vfs.FileLockState = &file{}
	_ vfs.FileSizeHint  = &file{}
)

// Close implements [vfs.File]. The last close of a path releases its sync
// access handle.
func (f *file) Close() error {
	if f.handle == nil {
		return nil
	}
	h := f.handle
	f.handle = nil
	h.mu.Lock()
	h.locks.Unlock(&f.lock, vfs.LOCK_NONE)
	h.mu.Unlock()

	openMu.Lock()
	defer openMu.Unlock()
	if h.refs--; h.refs > 0 {
		return nil
	}
	delete(open, h.path)
	err := h.close()
	if f.delete {
		if derr := removeFile(h.path); err == nil && derr != sqlite3.IOERR_DELETE_NOENT {
			err = derr
		}
	}
	return err
}

// ReadAt implements [vfs.File].
func (f *file) ReadAt(b []byte, off int64) (int, error) {
	return f.readAt(b, off)
}

// WriteAt implements [vfs.File].
func (f *file) WriteAt(b []byte, off int64) (int, error) {
	if f.readOnly {
		return 0, sqlite3.READONLY
	}
	return f.writeAt(b, off)
}

// Truncate implements [vfs.File].
func (f *file) Truncate(size int64) error {
	if f.readOnly {
		return sqlite3.READONLY
	}
	return f.truncate(size)
}

// SizeHint implements [vfs.FileSizeHint]: the file grows to size at once.
func (f *file) SizeHint(size int64) error {
	if f.readOnly {
		return nil
	}
	have, err := f.size()
	if err != nil || have >= size {
		return err
	}
	return f.truncate(size)
}

// Sync implements [vfs.File] with the sync access handle's flush().
func (f *file) Sync(flags vfs.SyncFlag) error {
	return f.flush()
}

// Size implements [vfs.File].
func (f *file) Size() (int64, error) {
	return f.size()
}

// Lock implements [vfs.File].
func (f *file) Lock(lock vfs.LockLevel) error {
	// A read-only file may take any lock: in exclusive locking mode SQLite
	// takes EXCLUSIVE just to read a WAL database, and WriteAt refuses
	// writes anyway.
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.locks.Lock(&f.lock, lock)
}

// Unlock implements [vfs.File].
func (f *file) Unlock(lock vfs.LockLevel) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.locks.Unlock(&f.lock, lock)
}

// CheckReservedLock implements [vfs.File].
func (f *file) CheckReservedLock() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.locks.Reserved(), nil
}

// LockState implements [vfs.FileLockState].
func (f *file) LockState() vfs.LockLevel {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lock
}

// SectorSize implements [vfs.File].
func (*file) SectorSize() int {
	return 4096
}

// DeviceCharacteristics implements [vfs.File]: writing part of a sector
// never damages the rest of it, and any byte range can be read.
func (*file) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return vfs.IOCAP_POWERSAFE_OVERWRITE | vfs.IOCAP_SUBPAGE_READ
}
