package opfs

import (
	"hearth.dev/hearth/storage/walgather"
	"hearth.dev/hearth/wasm/jsvfs"

	"errors"
	"fmt"
	"io"
	"sync"
	"syscall/js"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// handle is one open OPFS file: its sync access handle, shared by every
// vfs.File of this program that has the same path open.
type handle struct {
	path string
	refs int // +checklocks:openMu

	mu  sync.Mutex
	sah js.Value // FileSystemSyncAccessHandle; +checklocks:mu
	// read and write are sah's read and write bound as plain functions
	// (read(sah, buffer, options)): Invoke passes no method name, which
	// syscall/js would decode from Go's memory on every call.
	read, write js.Value
	// buf is a scratch Uint8Array for copying between Go and JavaScript;
	// views caches subarrays of it by length. +checklocks:mu
	buf   js.Value
	views map[int]js.Value // +checklocks:mu
	at    js.Value         // the {at: offset} options object; +checklocks:mu
	locks jsvfs.LockTable  // +checklocks:mu

	// wal marks a write-ahead log: its writes go through log, which holds
	// them until a transaction's commit frame is complete (see writeAt).
	wal bool
	log *walgather.Log // +checklocks:mu

	// A WAL's file is grown ahead of its writes (walalloc_js.go): logical
	// is its size as SQLite sees it, allocated the file's real size, both
	// known once sized is set. +checklocks:mu
	sized              bool
	logical, allocated int64
}

// Script-free helpers shared by every handle: no eval, so a page's
// Content-Security-Policy without 'unsafe-eval' does not matter.
var (
	bindCall   = js.Global().Get("Function").Get("prototype").Get("call")
	reflectSet = js.Global().Get("Reflect").Get("set")
	atKey      = js.ValueOf("at")
)

// boundMethod returns obj's method m as a function taking obj first.
func boundMethod(obj js.Value, m string) js.Value {
	return bindCall.Call("bind", obj.Get(m))
}

// rootDir is the origin's OPFS root directory handle, once asked for: it
// stays valid for the worker's life, and asking again is one more round
// trip to the browser process for every file the VFS opens, deletes or
// checks (a start makes dozens).
var rootDir struct {
	mu sync.Mutex
	// +checklocks:mu
	handle js.Value
}

// await waits for obj.method(args...) and counts it (Stats.Awaits).
func await(obj js.Value, method string, args ...any) (js.Value, error) {
	stats.awaits.Add(1)
	return jsvfs.Await(obj, method, args...)
}

// root returns the origin's OPFS root directory handle.
func root() (js.Value, error) {
	rootDir.mu.Lock()
	defer rootDir.mu.Unlock()
	if rootDir.handle.Truthy() {
		return rootDir.handle, nil
	}
	storage := js.Global().Get("navigator").Get("storage")
	if storage.IsUndefined() {
		return js.Undefined(), vfs.SystemError(errors.New("opfs: navigator.storage is missing"), sqlite3.CANTOPEN)
	}
	stats.roots.Add(1)
	dir, err := await(storage, "getDirectory")
	if err == nil {
		rootDir.handle = dir
	}
	return dir, err
}

// directory returns the handle of the directory holding path p, creating
// missing directories when create is set.
func directory(p string, create bool) (js.Value, error) {
	stats.lookups.Add(1)
	dir, err := root()
	if err != nil {
		return dir, err
	}
	dirs, _ := splitPath(p)
	for _, d := range dirs {
		dir, err = await(dir, "getDirectoryHandle", d, map[string]any{"create": create})
		if err != nil {
			return dir, err
		}
	}
	return dir, nil
}

// openHandle opens the file at p and takes its sync access handle.
func openHandle(p string, flags vfs.OpenFlag) (*handle, error) {
	create := flags&vfs.OPEN_CREATE != 0
	dir, err := directory(p, create)
	if err != nil {
		return nil, openError(p, err)
	}
	_, base := splitPath(p)
	if flags&vfs.OPEN_EXCLUSIVE != 0 {
		if _, err := await(dir, "getFileHandle", base); err == nil {
			return nil, sqlite3.CANTOPEN
		}
	}
	fh, err := await(dir, "getFileHandle", base, map[string]any{"create": create})
	if err != nil {
		return nil, openError(p, err)
	}
	sah, err := await(fh, "createSyncAccessHandle")
	if err != nil {
		return nil, openError(p, err)
	}
	h := &handle{
		path:  p,
		sah:   sah,
		read:  boundMethod(sah, "read"),
		write: boundMethod(sah, "write"),
		at:    js.Global().Get("Object").New(),
		views: map[int]js.Value{},
		wal:   flags&vfs.OPEN_WAL != 0,
	}
	if h.wal {
		h.log = walgather.New(handleOut{h})
	}
	return h, nil
}

// handleOut writes out a WAL's gathered writes to its handle.
type handleOut struct{ h *handle }

// WriteAt is called by the handle's Log, under h.mu.
// +checklocksignore
func (o handleOut) WriteAt(b []byte, off int64) (int, error) {
	return o.h.writeOut(b, off)
}

// openError gives an error from opening p the SQLite code that fits it.
// The common outcomes are bare codes, so that errors.Is works on them in Go
// as well as in SQLite.
func openError(p string, err error) error {
	switch jsvfs.ErrorName(err) {
	case "NotFoundError", "TypeMismatchError":
		return sqlite3.CANTOPEN
	case "NoModificationAllowedError", "InvalidStateError":
		// Another worker or tab holds a sync access handle on the file.
		return sqlite3.BUSY
	}
	err = fmt.Errorf("opfs: open %s: %w", p, err)
	if jsvfs.ErrorName(err) == "QuotaExceededError" {
		return vfs.SystemError(err, sqlite3.FULL)
	}
	return vfs.SystemError(err, sqlite3.CANTOPEN)
}

// removeFile deletes the file at p.
func removeFile(p string) error {
	dir, err := directory(p, false)
	if err == nil {
		_, base := splitPath(p)
		_, err = await(dir, "removeEntry", base)
	}
	if err == nil {
		return nil
	}
	switch jsvfs.ErrorName(err) {
	case "NotFoundError", "TypeMismatchError":
		return sqlite3.IOERR_DELETE_NOENT
	}
	return vfs.SystemError(fmt.Errorf("opfs: delete %s: %w", p, err), sqlite3.IOERR_DELETE)
}

// fileExists reports whether the file at p exists and is not empty.
func fileExists(p string) (bool, error) {
	dir, err := directory(p, false)
	var fh js.Value
	if err == nil {
		_, base := splitPath(p)
		fh, err = await(dir, "getFileHandle", base)
	}
	if err != nil {
		switch jsvfs.ErrorName(err) {
		case "NotFoundError", "TypeMismatchError":
			return false, nil
		}
		return false, vfs.SystemError(fmt.Errorf("opfs: access %s: %w", p, err), sqlite3.IOERR_ACCESS)
	}
	f, err := await(fh, "getFile")
	if jsvfs.ErrorName(err) == "NoModificationAllowedError" {
		// Locked by a sync access handle elsewhere: it exists.
		return true, nil
	}
	if err != nil {
		return false, vfs.SystemError(fmt.Errorf("opfs: access %s: %w", p, err), sqlite3.IOERR_ACCESS)
	}
	return f.Get("size").Float() > 0, nil
}

// view returns a Uint8Array of n bytes backed by the scratch buffer.
// +checklocks:h.mu
func (h *handle) view(n int) js.Value {
	if v, ok := h.views[n]; ok {
		return v
	}
	if len(h.views) >= 64 {
		clear(h.views)
	}
	if h.buf.IsUndefined() || h.buf.Get("length").Int() < n {
		size := 64 << 10
		for size < n {
			size *= 2
		}
		h.buf = js.Global().Get("Uint8Array").New(size)
		clear(h.views)
	}
	v := h.buf.Call("subarray", 0, n)
	h.views[n] = v
	return v
}

// readAt reads into b from offset off. A read past the end of the file
// returns fewer bytes and io.EOF.
func (h *handle) readAt(b []byte, off int64) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.writePending(); err != nil {
		return 0, err
	}
	want := len(b)
	if h.wal {
		if err := h.walSized(); err != nil {
			return 0, err
		}
		// Past what SQLite wrote lies room grown ahead: the end of the
		// file for SQLite.
		want = int(max(0, min(int64(len(b)), h.logical-off)))
		if want == 0 {
			return 0, io.EOF
		}
	}
	stats.reads.Add(1)
	v := h.view(want)
	reflectSet.Invoke(h.at, atKey, off)
	r, err := jsvfs.Invoke(h.read, h.sah, v, h.at)
	if err != nil {
		return 0, vfs.SystemError(fmt.Errorf("opfs: read %s: %w", h.path, err), sqlite3.IOERR_READ)
	}
	n := r.Int()
	js.CopyBytesToGo(b[:n], v)
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// writeAt writes b at offset off, growing the file as needed.
//
// A WAL's writes are gathered (package walgather) and reach the file in
// one call per committed transaction instead of two per page; a commit
// that SQLite reports done is in the file, as it was with one call per
// write. Anything else done to the file (a read, size, truncate, flush,
// close) writes out what is held first, so the file sees the same bytes
// in the same order.
func (h *handle) writeAt(b []byte, off int64) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.wal {
		return h.writeOut(b, off)
	}
	if err := h.log.WriteAt(b, off); err != nil {
		return 0, err
	}
	return len(b), nil
}

// writePending writes out the WAL bytes held by writeAt.
// +checklocks:h.mu
func (h *handle) writePending() error {
	if !h.wal {
		return nil
	}
	return h.log.WriteOut()
}

// writeOut writes b at offset off to the file.
// +checklocks:h.mu
func (h *handle) writeOut(b []byte, off int64) (int, error) {
	if h.wal {
		if err := h.walGrow(off + int64(len(b))); err != nil {
			return 0, err
		}
	}
	stats.writes.Add(1)
	stats.writeBytes.Add(int64(len(b)))
	v := h.view(len(b))
	js.CopyBytesToJS(v, b)
	reflectSet.Invoke(h.at, atKey, off)
	r, err := jsvfs.Invoke(h.write, h.sah, v, h.at)
	if err != nil {
		err = fmt.Errorf("opfs: write %s: %w", h.path, err)
		if jsvfs.ErrorName(err) == "QuotaExceededError" {
			return 0, vfs.SystemError(err, sqlite3.FULL)
		}
		return 0, vfs.SystemError(err, sqlite3.IOERR_WRITE)
	}
	if n := r.Int(); n < len(b) {
		return n, vfs.SystemError(fmt.Errorf("opfs: write %s: %w", h.path, io.ErrShortWrite), sqlite3.IOERR_WRITE)
	}
	return len(b), nil
}

func (h *handle) size() (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.writePending(); err != nil {
		return 0, err
	}
	if h.wal {
		if err := h.walSized(); err != nil {
			return 0, err
		}
		return h.logical, nil
	}
	return h.rawSize()
}

// rawSize is the file's size.
// +checklocks:h.mu
func (h *handle) rawSize() (int64, error) {
	stats.sizes.Add(1)
	r, err := jsvfs.Call(h.sah, "getSize")
	if err != nil {
		return 0, vfs.SystemError(fmt.Errorf("opfs: size of %s: %w", h.path, err), sqlite3.IOERR_FSTAT)
	}
	return int64(r.Float()), nil
}

func (h *handle) truncate(size int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.writePending(); err != nil {
		return err
	}
	if h.wal {
		return h.walTruncate(size)
	}
	return h.rawTruncate(size)
}

// rawTruncate sets the file's size.
// +checklocks:h.mu
func (h *handle) rawTruncate(size int64) error {
	stats.truncates.Add(1)
	if _, err := jsvfs.Call(h.sah, "truncate", size); err != nil {
		err = fmt.Errorf("opfs: truncate %s: %w", h.path, err)
		if jsvfs.ErrorName(err) == "QuotaExceededError" {
			return vfs.SystemError(err, sqlite3.FULL)
		}
		return vfs.SystemError(err, sqlite3.IOERR_TRUNCATE)
	}
	return nil
}

// flush asks the browser to persist the file's writes to the device.
func (h *handle) flush() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.wal {
		// Once held writes could not be written out, no flush succeeds.
		if err := h.log.Flush(); err != nil {
			return err
		}
	}
	stats.flushes.Add(1)
	if _, err := jsvfs.Call(h.sah, "flush"); err != nil {
		return vfs.SystemError(fmt.Errorf("opfs: flush %s: %w", h.path, err), sqlite3.IOERR_FSYNC)
	}
	return nil
}

// close releases the sync access handle, so other workers can open the file.
func (h *handle) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.writePending()
	if err == nil && h.wal {
		err = h.walTrim()
	}
	if err != nil {
		jsvfs.Call(h.sah, "close")
		return err
	}
	if _, err := jsvfs.Call(h.sah, "close"); err != nil {
		return vfs.SystemError(fmt.Errorf("opfs: close %s: %w", h.path, err), sqlite3.IOERR_CLOSE)
	}
	return nil
}
