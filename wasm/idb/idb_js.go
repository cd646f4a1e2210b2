// Package idb implements the "idb" SQLite VFS for github.com/ncruces/go-sqlite3:
// files held in memory and saved to the browser's IndexedDB. It is the
// fallback for browsers and contexts without OPFS sync access handles (see
// hearth.dev/hearth/wasm/opfs).
//
// Importing the package registers the VFS under the name "idb" (a side
// effect of init); nothing touches IndexedDB until a database is opened:
//
//	import _ "hearth.dev/hearth/wasm/idb"
//
//	db, err := sql.Open("sqlite3", "file:/hearth.db?vfs=idb"+
//		"&_pragma=locking_mode(exclusive)&_pragma=journal_mode(wal)")
//	db.SetMaxOpenConns(1)
//
// # Storage
//
// Every file lives in the IndexedDB database "hearth-sqlite": the object
// store "files" maps a path to the file's size, and "blocks" maps
// [path, index] to a 16 KiB block of its contents. Open loads a file whole
// into memory, from one read transaction; reads and writes then touch memory
// only, and record which blocks changed.
//
// Open, Access and Delete wait for IndexedDB, so they must run on an ordinary
// goroutine, never inside a js.FuncOf callback, which would hold the event
// loop that has to answer them.
//
// # Durability
//
// The changed blocks of all open files, and the files deleted since, are
// written in one IndexedDB transaction, which is atomic: what IndexedDB holds
// is always the state of every file at one of these moments. They are:
//
//   - Sync (SQLite's xSync), with durability "strict": the browser reports
//     success once the data is on the device, the equivalent of fsync;
//   - the end of every committed transaction (SQLITE_FCNTL_COMMIT_PHASETWO),
//     with durability "relaxed": a commit that returned has reached
//     IndexedDB and survives the worker, the tab or the browser being
//     killed, though a power loss may still take it;
//   - Delete, and the last Close of a file.
//
// In-memory writes that no such moment has saved yet are lost with the
// worker, as unsynced writes are on a disk; SQLite's journal or WAL, saved
// along with the database, recovers from that. Any journal mode works; WAL
// with synchronous=NORMAL costs one IndexedDB transaction per commit.
//
// # Locking
//
// The VFS has no shared memory for the WAL index, so WAL mode needs
// locking_mode=EXCLUSIVE, set before journal_mode=WAL, and a single
// connection (db.SetMaxOpenConns(1) with database/sql). Connections of one
// Go program that open the same path share its memory and take SQLite's lock
// levels from an in-process lock table. Across workers and tabs, opening a
// main database takes an exclusive Web Lock named "hearth-idb:" + path
// (where navigator.locks exists), held until the last close: a second worker
// that opens the same database gets sqlite3.BUSY instead of two copies
// overwriting each other.
package idb

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
const Name = "idb"

func init() {
	vfs.Register(Name, memVFS{})
}

// Supported reports whether this JavaScript context has IndexedDB.
func Supported() bool {
	return js.Global().Get("indexedDB").Type() == js.TypeObject
}

// memVFS is the "idb" VFS.
type memVFS struct{}

var (
	// mu guards the in-memory files and every exchange with IndexedDB.
	mu sync.Mutex
	// files holds the files open in this program, by path.
	// +checklocks:mu
	files = map[string]*data{}
	// deleted holds paths deleted since the last save.
	// +checklocks:mu
	deleted = map[string]bool{}
)

// tempFlags mark files that SQLite never reopens by name; they stay in
// memory and are never saved.
const tempFlags = vfs.OPEN_TEMP_DB | vfs.OPEN_TRANSIENT_DB | vfs.OPEN_TEMP_JOURNAL | vfs.OPEN_SUBJOURNAL

// Open implements [vfs.VFS].
func (memVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	if name == "" || flags&tempFlags != 0 {
		return &jsvfs.TempFile{}, flags, nil
	}
	p, err := cleanPath(name)
	if err != nil {
		return nil, flags, err
	}

	mu.Lock()
	defer mu.Unlock()
	d := files[p]
	if d != nil && flags&vfs.OPEN_EXCLUSIVE != 0 {
		return nil, flags, sqlite3.CANTOPEN
	}
	if d == nil {
		if flags&vfs.OPEN_MAIN_DB != 0 {
			// Take the cross-context lock before loading, so the
			// contents cannot change under us after the load.
			release, ok, err := acquireWebLock("hearth-idb:" + p)
			if err != nil {
				return nil, flags, err
			}
			if !ok {
				return nil, flags, sqlite3.BUSY
			}
			defer func() {
				if d == nil || files[p] != d {
					release()
				}
			}()
			d, err = openData(p, flags)
			if err != nil {
				return nil, flags, err
			}
			d.release = release
		} else {
			d, err = openData(p, flags)
			if err != nil {
				return nil, flags, err
			}
		}
		files[p] = d
	}
	d.refs++
	return &file{
		data:     d,
		readOnly: flags&vfs.OPEN_READONLY != 0,
		delete:   flags&vfs.OPEN_DELETEONCLOSE != 0,
	}, flags, nil
}

// openData loads the file at p from IndexedDB, or makes a new empty one if
// flags allow it.
// +checklocks:mu
func openData(p string, flags vfs.OpenFlag) (*data, error) {
	var d *data
	if !deleted[p] {
		var err error
		d, err = load(p)
		if err != nil {
			return nil, err
		}
	}
	if d != nil && flags&vfs.OPEN_EXCLUSIVE != 0 {
		return nil, sqlite3.CANTOPEN
	}
	if d == nil {
		if flags&vfs.OPEN_CREATE == 0 {
			return nil, sqlite3.CANTOPEN
		}
		d = &data{path: p, dirty: map[int]struct{}{}, created: true}
	}
	return d, nil
}

// Delete implements [vfs.VFS]. It saves at once, so the deletion is as
// durable as a commit. Deleting a missing file reports
// sqlite3.IOERR_DELETE_NOENT, which SQLite expects.
func (memVFS) Delete(name string, syncDir bool) error {
	p, err := cleanPath(name)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if d := files[p]; d != nil {
		// Open files keep their contents until closed, as on unix.
		d.orphan = true
		delete(files, p)
	} else if deleted[p] {
		return sqlite3.IOERR_DELETE_NOENT
	} else if ok, err := stored(p); err != nil {
		return err
	} else if !ok {
		return sqlite3.IOERR_DELETE_NOENT
	}
	deleted[p] = true
	return save(syncDir)
}

// Access implements [vfs.VFS]. As in SQLite's unix VFS, an empty file counts
// as missing, so an empty journal is not taken for a hot one.
func (memVFS) Access(name string, flags vfs.AccessFlag) (bool, error) {
	p, err := cleanPath(name)
	if err != nil {
		return false, err
	}
	mu.Lock()
	defer mu.Unlock()
	if d := files[p]; d != nil {
		return d.size > 0, nil
	}
	if deleted[p] {
		return false, nil
	}
	size, ok, err := storedSize(p)
	return ok && size > 0, err
}

// FullPathname implements [vfs.VFS]: names are cleaned and made absolute.
func (memVFS) FullPathname(name string) (string, error) {
	return cleanPath(name)
}

// cleanPath turns a name into the absolute path used as the key of a file.
func cleanPath(name string) (string, error) {
	p := path.Clean("/" + name)
	if p == "/" || strings.ContainsRune(p, 0) {
		return "", vfs.SystemError(errors.New("idb: bad file name "+name), sqlite3.CANTOPEN)
	}
	return p, nil
}
