package main

import (
	"io"
	"path"
	"sync"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// memoryVFSName is the SQLite VFS of the "memory" storage: files held in
// this worker's memory, journals and WAL included, kept after their last
// close and lost with the worker. (ncruces' memdb keeps no journal files,
// so it cannot run hearth's WAL databases.)
const memoryVFSName = "hearth-memory"

func init() {
	vfs.Register(memoryVFSName, memoryVFS{})
}

type memoryVFS struct{}

var (
	memoryMu sync.Mutex
	// +checklocks:memoryMu
	memoryFiles = map[string]*memoryData{}
)

// memoryData is the contents of one file and the locks on it.
type memoryData struct {
	mu       sync.Mutex
	b        []byte
	shared   int  // +checklocks:mu
	reserved bool // +checklocks:mu
	pending  bool // +checklocks:mu
	excl     bool // +checklocks:mu
}

func (memoryVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	if name == "" {
		return &memoryFile{data: &memoryData{}}, flags, nil
	}
	p := path.Clean("/" + name)
	memoryMu.Lock()
	defer memoryMu.Unlock()
	d := memoryFiles[p]
	if d == nil {
		if flags&vfs.OPEN_CREATE == 0 {
			return nil, flags, sqlite3.CANTOPEN
		}
		d = &memoryData{}
		memoryFiles[p] = d
	} else if flags&vfs.OPEN_EXCLUSIVE != 0 {
		return nil, flags, sqlite3.CANTOPEN
	}
	f := &memoryFile{data: d, readOnly: flags&vfs.OPEN_READONLY != 0}
	if flags&vfs.OPEN_DELETEONCLOSE != 0 {
		f.deletePath = p
	}
	return f, flags, nil
}

func (memoryVFS) Delete(name string, syncDir bool) error {
	p := path.Clean("/" + name)
	memoryMu.Lock()
	defer memoryMu.Unlock()
	if memoryFiles[p] == nil {
		return sqlite3.IOERR_DELETE_NOENT
	}
	delete(memoryFiles, p)
	return nil
}

func (memoryVFS) Access(name string, flags vfs.AccessFlag) (bool, error) {
	memoryMu.Lock()
	d := memoryFiles[path.Clean("/"+name)]
	memoryMu.Unlock()
	if d == nil {
		return false, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.b) > 0, nil
}

func (memoryVFS) FullPathname(name string) (string, error) {
	return path.Clean("/" + name), nil
}

// memoryFile is one open handle of a memory file.
type memoryFile struct {
	data       *memoryData
	readOnly   bool
	deletePath string
	lock       vfs.LockLevel
}

func (f *memoryFile) Close() error {
	f.Unlock(vfs.LOCK_NONE)
	if f.deletePath != "" {
		memoryVFS{}.Delete(f.deletePath, false)
	}
	return nil
}

func (f *memoryFile) ReadAt(b []byte, off int64) (int, error) {
	f.data.mu.Lock()
	defer f.data.mu.Unlock()
	n := 0
	if off < int64(len(f.data.b)) {
		n = copy(b, f.data.b[off:])
	}
	if n < len(b) {
		clear(b[n:])
		return n, io.EOF
	}
	return n, nil
}

func (f *memoryFile) WriteAt(b []byte, off int64) (int, error) {
	if f.readOnly {
		return 0, sqlite3.READONLY
	}
	f.data.mu.Lock()
	defer f.data.mu.Unlock()
	if end := off + int64(len(b)); end > int64(len(f.data.b)) {
		if end > int64(cap(f.data.b)) {
			grown := make([]byte, end, max(end, 2*int64(cap(f.data.b))))
			copy(grown, f.data.b)
			f.data.b = grown
		} else {
			f.data.b = f.data.b[:end]
		}
	}
	copy(f.data.b[off:], b)
	return len(b), nil
}

func (f *memoryFile) Truncate(size int64) error {
	f.data.mu.Lock()
	defer f.data.mu.Unlock()
	if size < int64(len(f.data.b)) {
		f.data.b = f.data.b[:size]
	}
	return nil
}

func (f *memoryFile) Sync(vfs.SyncFlag) error { return nil }

func (f *memoryFile) Size() (int64, error) {
	f.data.mu.Lock()
	defer f.data.mu.Unlock()
	return int64(len(f.data.b)), nil
}

// Lock takes SQLite's lock levels among the handles of one file, as
// connections in one process on a disk would.
func (f *memoryFile) Lock(lock vfs.LockLevel) error {
	if f.lock >= lock {
		return nil
	}
	d := f.data
	d.mu.Lock()
	defer d.mu.Unlock()
	switch lock {
	case vfs.LOCK_SHARED:
		if d.excl || d.pending {
			return sqlite3.BUSY
		}
		d.shared++
	case vfs.LOCK_RESERVED:
		if d.reserved {
			return sqlite3.BUSY
		}
		d.reserved = true
	case vfs.LOCK_EXCLUSIVE:
		d.pending = true
		if d.shared > 1 {
			f.lock = vfs.LOCK_PENDING
			return sqlite3.BUSY
		}
		d.excl = true
	}
	f.lock = lock
	return nil
}

func (f *memoryFile) Unlock(lock vfs.LockLevel) error {
	if f.lock <= lock {
		return nil
	}
	d := f.data
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.lock >= vfs.LOCK_EXCLUSIVE {
		d.excl, d.pending = false, false
	} else if f.lock >= vfs.LOCK_PENDING {
		d.pending = false
	}
	if f.lock >= vfs.LOCK_RESERVED {
		d.reserved = false
	}
	if lock == vfs.LOCK_NONE && f.lock >= vfs.LOCK_SHARED {
		d.shared--
	}
	f.lock = lock
	return nil
}

func (f *memoryFile) CheckReservedLock() (bool, error) {
	f.data.mu.Lock()
	defer f.data.mu.Unlock()
	return f.data.reserved, nil
}

func (f *memoryFile) SectorSize() int { return 4096 }

func (f *memoryFile) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return vfs.IOCAP_ATOMIC | vfs.IOCAP_SAFE_APPEND | vfs.IOCAP_SEQUENTIAL | vfs.IOCAP_POWERSAFE_OVERWRITE
}
