package storage

import (
	"sync"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3/vfs"

	"hearth.dev/hearth/storage/walgather"
)

// walVFSName is the VFS native databases open with: the operating system's
// files (ncruces' "os" VFS), with a write-ahead log's writes gathered.
const walVFSName = "hearth-wal"

func init() {
	vfs.Register(walVFSName, walVFS{os: vfs.Find("os").(vfs.VFSFilename)})
}

// walVFS is the "os" VFS, except that a WAL file gathers the frames of a
// transaction and writes them out in one write when the transaction's
// commit frame is complete (package walgather says when, and why that is
// safe). SQLite writes each frame as two writes (its 24-byte header, then
// the page), so a message's commit of about 20 pages cost 40 pwrite system
// calls, 11 % of the CPU of sequential sends. A commit that returned is in
// the file as before (what synchronous=NORMAL promises across a crash of
// the process); anything else done to the WAL (a read, its size,
// truncate, sync, lock, close) writes out what is held first.
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
	return newWALFile(f), out, nil
}

func (v walVFS) Delete(name string, syncDir bool) error { return v.os.Delete(name, syncDir) }

func (v walVFS) Access(name string, flags vfs.AccessFlag) (bool, error) {
	return v.os.Access(name, flags)
}

func (v walVFS) FullPathname(name string) (string, error) { return v.os.FullPathname(name) }

// walWritesIn and walWritesOut count the writes SQLite made to WAL files
// of walVFS and the writes that reached the files, for tests.
var walWritesIn, walWritesOut atomic.Int64

// walFile is a WAL file of walVFS: its writes go through a walgather.Log.
type walFile struct {
	vfs.File

	mu  sync.Mutex
	log *walgather.Log
}

// newWALFile gathers the WAL writes to f.
func newWALFile(f vfs.File) *walFile {
	return &walFile{File: f, log: walgather.New(walOut{f})}
}

// walOut is the file behind a walFile, counting the writes that reach it.
type walOut struct{ vfs.File }

func (o walOut) WriteAt(b []byte, off int64) (int, error) {
	walWritesOut.Add(1)
	return o.File.WriteAt(b, off)
}

func (f *walFile) WriteAt(b []byte, off int64) (int, error) {
	walWritesIn.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.log.WriteAt(b, off); err != nil {
		return 0, err
	}
	return len(b), nil
}

// flush writes out the held writes; once a write-out failed, it fails.
func (f *walFile) flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.log.Flush()
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
