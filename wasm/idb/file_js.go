package idb

import (
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// file is a vfs.File on an in-memory file saved to IndexedDB, one per
// SQLite open.
type file struct {
	*data
	lock     vfs.LockLevel // +checklocks:mu
	readOnly bool
	delete   bool // delete the file on close
}

var (
	// Ensure these interfaces are implemented:
	_ vfs.FileLockState      = &file{}
	_ vfs.FileSizeHint       = &file{}
	_ vfs.FileCommitPhaseTwo = &file{}
)

// Close implements [vfs.File]. The last close of a path saves what changed
// and drops the file from memory.
func (f *file) Close() error {
	if f.data == nil {
		return nil
	}
	d := f.data
	f.data = nil
	mu.Lock()
	defer mu.Unlock()
	d.locks.Unlock(&f.lock, vfs.LOCK_NONE)
	if d.refs--; d.refs > 0 {
		return nil
	}
	if f.delete && !d.orphan {
		d.orphan = true
		delete(files, d.path)
		deleted[d.path] = true
	}
	err := save(false)
	if err != nil && !d.orphan {
		// Keep the unsaved contents (and the Web Lock) for the next
		// open, rather than dropping them.
		return err
	}
	if !d.orphan {
		delete(files, d.path)
	}
	if d.release != nil {
		d.release()
		d.release = nil
	}
	return err
}

// ReadAt implements [vfs.File].
func (f *file) ReadAt(b []byte, off int64) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	return f.readAt(b, off)
}

// WriteAt implements [vfs.File].
func (f *file) WriteAt(b []byte, off int64) (int, error) {
	if f.readOnly {
		return 0, sqlite3.READONLY
	}
	mu.Lock()
	defer mu.Unlock()
	return f.writeAt(b, off)
}

// Truncate implements [vfs.File].
func (f *file) Truncate(size int64) error {
	if f.readOnly {
		return sqlite3.READONLY
	}
	mu.Lock()
	defer mu.Unlock()
	f.resize(size)
	return nil
}

// SizeHint implements [vfs.FileSizeHint]: the file grows to size at once.
func (f *file) SizeHint(size int64) error {
	if f.readOnly {
		return nil
	}
	mu.Lock()
	defer mu.Unlock()
	if size > f.size {
		f.resize(size)
	}
	return nil
}

// Sync implements [vfs.File]: it saves every changed file with strict
// durability.
func (f *file) Sync(flags vfs.SyncFlag) error {
	mu.Lock()
	defer mu.Unlock()
	return save(true)
}

// CommitPhaseTwo implements [vfs.FileCommitPhaseTwo]: SQLite calls it on the
// database file once a transaction has committed, and it saves every changed
// file with relaxed durability.
func (f *file) CommitPhaseTwo() error {
	mu.Lock()
	defer mu.Unlock()
	return save(false)
}

// Size implements [vfs.File].
func (f *file) Size() (int64, error) {
	mu.Lock()
	defer mu.Unlock()
	return f.size, nil
}

// Lock implements [vfs.File]. A read-only file may take any lock: in
// exclusive locking mode SQLite takes EXCLUSIVE just to read a WAL
// database, and WriteAt refuses writes anyway.
func (f *file) Lock(lock vfs.LockLevel) error {
	mu.Lock()
	defer mu.Unlock()
	return f.locks.Lock(&f.lock, lock)
}

// Unlock implements [vfs.File].
func (f *file) Unlock(lock vfs.LockLevel) error {
	mu.Lock()
	defer mu.Unlock()
	return f.locks.Unlock(&f.lock, lock)
}

// CheckReservedLock implements [vfs.File].
func (f *file) CheckReservedLock() (bool, error) {
	mu.Lock()
	defer mu.Unlock()
	return f.locks.Reserved(), nil
}

// LockState implements [vfs.FileLockState].
func (f *file) LockState() vfs.LockLevel {
	mu.Lock()
	defer mu.Unlock()
	return f.lock
}

// SectorSize implements [vfs.File].
func (*file) SectorSize() int {
	return 4096
}

// DeviceCharacteristics implements [vfs.File]. A save holds every write made
// before it, in order, and never part of one, so writes reach IndexedDB in
// order (SEQUENTIAL), appends never expose unwritten bytes (SAFE_APPEND),
// and a partial sector write leaves the rest alone (POWERSAFE_OVERWRITE).
func (*file) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return vfs.IOCAP_SEQUENTIAL |
		vfs.IOCAP_SAFE_APPEND |
		vfs.IOCAP_POWERSAFE_OVERWRITE |
		vfs.IOCAP_SUBPAGE_READ
}
