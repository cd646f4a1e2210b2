package storage

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3/vfs"
)

// walVFSName is the VFS native databases open with: the operating system's
// files (ncruces' "os" VFS), with a write-ahead log's writes gathered.
const walVFSName = "hearth-wal"

func init() {
	vfs.Register(walVFSName, walVFS{os: vfs.Find("os").(vfs.VFSFilename)})
}

// walVFS is the "os" VFS, except that a WAL file gathers the frames of a
// transaction and writes them out in one write when the transaction's
// commit frame is complete. SQLite writes each frame as two writes (its
// 24-byte header, then the page), so a message's commit of about 20 pages
// cost 40 pwrite system calls, 11 % of the CPU of sequential sends.
//
// The frames are in the file before the write of the commit frame's page
// returns, and SQLite makes a commit visible to other connections (in the
// wal-index) only after that: readers never miss a committed frame, and a
// commit that returned is in the file as before (what synchronous=NORMAL
// promises across a crash of the process). Anything else done to the WAL
// (a read, its size, truncate, sync, lock, close, or a write that does not
// follow on) writes out what is held first, so the file sees the same
// bytes in the same order.
type walVFS struct {
	os vfs.VFSFilename
}

var (
	_ vfs.VFS         = walVFS{}
	_ vfs.VFSFilename = walVFS{}
)

func (v walVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	return v.os.Open(name, flags)
}

func (v walVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, out, err := v.os.OpenFilename(name, flags)
	if err != nil || flags&vfs.OPEN_WAL == 0 {
		return f, out, err
	}
	return &walFile{File: f}, out, nil
}

func (v walVFS) Delete(name string, syncDir bool) error { return v.os.Delete(name, syncDir) }

func (v walVFS) Access(name string, flags vfs.AccessFlag) (bool, error) {
	return v.os.Access(name, flags)
}

func (v walVFS) FullPathname(name string) (string, error) { return v.os.FullPathname(name) }

// The WAL file format (https://sqlite.org/fileformat.html#walformat): a
// 32-byte header, then frames of a 24-byte header and a page; the second
// word of a frame header is the database size after a commit, non-zero
// only in a transaction's last frame.
const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
	// walPendMax bounds the bytes held: a transaction larger than the page
	// cache spills frames long before it commits.
	walPendMax = 1 << 20
)

// walWritesIn and walWritesOut count the writes SQLite made to WAL files
// of walVFS and the writes that reached the files, for tests.
var walWritesIn, walWritesOut atomic.Int64

// walFile is a WAL file of walVFS.
type walFile struct {
	vfs.File

	mu      sync.Mutex
	pend    []byte // writes held, from pendOff on
	pendOff int64
	// commitNext is set when the last write was a commit frame's header:
	// the write that follows (its page) ends the transaction.
	commitNext bool
	// failed is the error of held writes that could not be written out.
	// SQLite took them for done, so every later write and sync fails with
	// it: no commit may land behind a gap. Reopening the database recovers
	// the WAL up to its last whole commit.
	failed error
}

func (f *walFile) WriteAt(b []byte, off int64) (int, error) {
	walWritesIn.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed != nil {
		return 0, f.failed
	}
	if len(f.pend) > 0 && off != f.pendOff+int64(len(f.pend)) {
		if err := f.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(f.pend) == 0 {
		f.pendOff = off
	}
	f.pend = append(f.pend, b...)
	commit := f.commitNext
	f.commitNext = len(b) == walFrameHeaderSize && off >= walHeaderSize && binary.BigEndian.Uint32(b[4:8]) != 0
	if commit || len(f.pend) >= walPendMax {
		if err := f.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// flushLocked writes out the held bytes; f.mu is held.
func (f *walFile) flushLocked() error {
	if f.failed != nil {
		return f.failed
	}
	if len(f.pend) == 0 {
		return nil
	}
	walWritesOut.Add(1)
	_, err := f.File.WriteAt(f.pend, f.pendOff)
	f.pend = f.pend[:0]
	f.commitNext = false
	if cap(f.pend) > walPendMax {
		f.pend = nil
	}
	if err != nil {
		f.failed = err
	}
	return err
}

func (f *walFile) flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flushLocked()
}

func (f *walFile) ReadAt(b []byte, off int64) (int, error) {
	if err := f.flush(); err != nil {
		return 0, err
	}
	return f.File.ReadAt(b, off)
}

func (f *walFile) Truncate(size int64) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *walFile) Sync(flags vfs.SyncFlag) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Sync(flags)
}

func (f *walFile) Size() (int64, error) {
	if err := f.flush(); err != nil {
		return 0, err
	}
	return f.File.Size()
}

func (f *walFile) Lock(lock vfs.LockLevel) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Lock(lock)
}

func (f *walFile) Unlock(lock vfs.LockLevel) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Unlock(lock)
}

func (f *walFile) Close() error {
	err := f.flush()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	return err
}

// Unwrap implements vfs.FileUnwrap.
func (f *walFile) Unwrap() vfs.File { return f.File }

// The "os" VFS's optional interfaces, passed through.

func (f *walFile) SizeHint(size int64) error {
	if h, ok := f.File.(vfs.FileSizeHint); ok {
		if err := f.flush(); err != nil {
			return err
		}
		return h.SizeHint(size)
	}
	return nil
}

func (f *walFile) HasMoved() (bool, error) {
	if h, ok := f.File.(vfs.FileHasMoved); ok {
		return h.HasMoved()
	}
	return false, nil
}

func (f *walFile) LockState() vfs.LockLevel {
	if h, ok := f.File.(vfs.FileLockState); ok {
		return h.LockState()
	}
	return vfs.LOCK_EXCLUSIVE + 1 // unknown
}

func (f *walFile) PowersafeOverwrite() bool {
	if h, ok := f.File.(vfs.FilePowersafeOverwrite); ok {
		return h.PowersafeOverwrite()
	}
	return false
}

func (f *walFile) SetPowersafeOverwrite(psow bool) {
	if h, ok := f.File.(vfs.FilePowersafeOverwrite); ok {
		h.SetPowersafeOverwrite(psow)
	}
}

func (f *walFile) PersistWAL() bool {
	if h, ok := f.File.(vfs.FilePersistWAL); ok {
		return h.PersistWAL()
	}
	return false
}

func (f *walFile) SetPersistWAL(keep bool) {
	if h, ok := f.File.(vfs.FilePersistWAL); ok {
		h.SetPersistWAL(keep)
	}
}

var (
	_ vfs.FileUnwrap             = (*walFile)(nil)
	_ vfs.FileSizeHint           = (*walFile)(nil)
	_ vfs.FileHasMoved           = (*walFile)(nil)
	_ vfs.FileLockState          = (*walFile)(nil)
	_ vfs.FilePowersafeOverwrite = (*walFile)(nil)
	_ vfs.FilePersistWAL         = (*walFile)(nil)
)
