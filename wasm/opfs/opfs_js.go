// Package opfs implements the "opfs" SQLite VFS for github.com/ncruces/go-sqlite3
// on the browser's Origin Private File System, through the synchronous
// access handles (FileSystemSyncAccessHandle) that only dedicated Web Workers
// have.
//
// Importing the package registers the VFS under the name "opfs" (a side
// effect of init); nothing touches OPFS until a database is opened:
//
//	import _ "hearth.dev/hearth/wasm/opfs"
//
//	db, err := sql.Open("sqlite3", "file:/hearth.db?vfs=opfs"+
//		"&_pragma=locking_mode(exclusive)&_pragma=journal_mode(wal)")
//	db.SetMaxOpenConns(1)
//
// Use [Supported] to decide between this VFS and the IndexedDB fallback.
//
// # Files
//
// A path is a slash-separated name under the origin's OPFS root: "/hearth.db"
// is the file hearth.db in the root directory, "/a/b.db" the file b.db in
// directory a, created on demand. Journals and WAL files sit beside the
// database under the usual names ("-journal", "-wal"). Temporary files
// (sorter spills, statement journals, temp databases) live in memory.
//
// Open waits for the promises that hand out directory, file and sync access
// handles, so it must run on an ordinary goroutine, never inside a js.FuncOf
// callback: the callback would hold the event loop that has to settle them.
// Every read, write, size, truncate and flush afterwards is a synchronous call.
//
// # Locking
//
// A sync access handle is exclusive: while one worker holds it, no other
// worker or tab of the origin can open the file, and Open reports
// sqlite3.BUSY ("database is locked"). Within one Go program, connections that
// open the same path share one handle and take SQLite's lock levels (SHARED,
// RESERVED, PENDING, EXCLUSIVE) from an in-process lock table, so they behave
// like connections in one process on a real disk.
//
// The VFS has no shared memory for the WAL index, so WAL mode needs
// locking_mode=EXCLUSIVE, set before journal_mode=WAL, and a single
// connection (db.SetMaxOpenConns(1) with database/sql): SQLite then keeps the
// WAL index in the connection's heap. Rollback-journal modes work with any
// number of connections in the program.
//
// # Durability
//
// Writes go to the OPFS file before SQLite is told they are done, so they
// survive the worker or tab being killed. A WAL's frames are the exception
// that keeps this promise at lower cost: they are gathered in memory and
// written in one call when a transaction's commit frame is complete (and
// before any other use of the file), so a committed transaction is in the
// file when its commit returns, and a crash mid-transaction leaves at most
// frames without a commit, which SQLite ignores. Sync (SQLite's xSync) calls the handle's flush(), which asks
// the browser to persist the file to the device, the equivalent of fsync:
// with synchronous=FULL every commit is flushed; with WAL and
// synchronous=NORMAL only checkpoints are, and a power loss may drop the last
// commits but never corrupt the database.
package opfs

import (
	"errors"
	"path"
	"strings"
	"sync"
	"syscall/js"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"

	"hearth.dev/hearth/wasm/jsvfs"
)

// Name is the name the VFS is registered under.
const Name = "opfs"

func init() {
	vfs.Register(Name, fsVFS{})
}

// Supported reports whether this JavaScript context has OPFS sync access
// handles: true in a dedicated worker of a browser that has them, false on a
// page's main thread, in a shared or service worker, and under Node.
func Supported() bool {
	nav := js.Global().Get("navigator")
	if nav.IsUndefined() {
		return false
	}
	storage := nav.Get("storage")
	if storage.IsUndefined() || storage.Get("getDirectory").Type() != js.TypeFunction {
		return false
	}
	fh := js.Global().Get("FileSystemFileHandle")
	if fh.Type() != js.TypeFunction {
		return false
	}
	return fh.Get("prototype").Get("createSyncAccessHandle").Type() == js.TypeFunction
}

// fsVFS is the "opfs" VFS.
type fsVFS struct{}

var (
	// openMu guards open and serialises the asynchronous part of opening,
	// so two connections opening one path share one sync access handle.
	openMu sync.Mutex
	// +checklocks:openMu
	open = map[string]*handle{}
)

// tempFlags mark files that SQLite never reopens by name; they stay in memory.
const tempFlags = vfs.OPEN_TEMP_DB | vfs.OPEN_TRANSIENT_DB | vfs.OPEN_TEMP_JOURNAL | vfs.OPEN_SUBJOURNAL

// Open implements [vfs.VFS].
func (fsVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	if name == "" || flags&tempFlags != 0 {
		return &jsvfs.TempFile{}, flags, nil
	}
	p, err := cleanPath(name)
	if err != nil {
		return nil, flags, err
	}

	openMu.Lock()
	defer openMu.Unlock()
	h := open[p]
	if h != nil && flags&vfs.OPEN_EXCLUSIVE != 0 {
		return nil, flags, sqlite3.CANTOPEN
	}
	if h == nil {
		h, err = openHandle(p, flags)
		if err != nil {
			return nil, flags, err
		}
		open[p] = h
	}
	h.refs++
	return &file{
		handle:   h,
		readOnly: flags&vfs.OPEN_READONLY != 0,
		delete:   flags&vfs.OPEN_DELETEONCLOSE != 0,
	}, flags, nil
}

// Delete implements [vfs.VFS]. Deleting a missing file reports
// sqlite3.IOERR_DELETE_NOENT, which SQLite expects.
func (fsVFS) Delete(name string, syncDir bool) error {
	p, err := cleanPath(name)
	if err != nil {
		return err
	}
	openMu.Lock()
	defer openMu.Unlock()
	if open[p] != nil {
		return vfs.SystemError(errors.New("opfs: delete of an open file "+p), sqlite3.IOERR_DELETE)
	}
	return removeFile(p)
}

// Access implements [vfs.VFS]. As in SQLite's unix VFS, an empty file counts
// as missing, so an empty journal is not taken for a hot one.
func (fsVFS) Access(name string, flags vfs.AccessFlag) (bool, error) {
	p, err := cleanPath(name)
	if err != nil {
		return false, err
	}
	openMu.Lock()
	defer openMu.Unlock()
	if h := open[p]; h != nil {
		size, err := h.size()
		return err == nil && size > 0, err
	}
	return fileExists(p)
}

// FullPathname implements [vfs.VFS]: names are cleaned and made absolute.
func (fsVFS) FullPathname(name string) (string, error) {
	return cleanPath(name)
}

// cleanPath turns a name into the absolute path used as the key of a file.
func cleanPath(name string) (string, error) {
	p := path.Clean("/" + name)
	if p == "/" || strings.ContainsRune(p, 0) {
		return "", vfs.SystemError(errors.New("opfs: bad file name "+name), sqlite3.CANTOPEN)
	}
	return p, nil
}

// splitPath returns the directory names and the file name of a clean path.
func splitPath(p string) (dirs []string, base string) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	return parts[:len(parts)-1], parts[len(parts)-1]
}
