package opfs

import (
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
	// buf is a scratch Uint8Array for copying between Go and JavaScript;
	// views caches subarrays of it by length. +checklocks:mu
	buf   js.Value
	views map[int]js.Value // +checklocks:mu
	at    js.Value         // the {at: offset} options object; +checklocks:mu
	locks jsvfs.LockTable  // +checklocks:mu
}

// root returns the origin's OPFS root directory handle.
func root() (js.Value, error) {
	storage := js.Global().Get("navigator").Get("storage")
	if storage.IsUndefined() {
		return js.Undefined(), vfs.SystemError(errors.New("opfs: navigator.storage is missing"), sqlite3.CANTOPEN)
	}
	return jsvfs.Await(storage, "getDirectory")
}

// directory returns the handle of the directory holding path p, creating
// missing directories when create is set.
func directory(p string, create bool) (js.Value, error) {
	dir, err := root()
	if err != nil {
		return dir, err
	}
	dirs, _ := splitPath(p)
	for _, d := range dirs {
		dir, err = jsvfs.Await(dir, "getDirectoryHandle", d, map[string]any{"create": create})
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
		if _, err := jsvfs.Await(dir, "getFileHandle", base); err == nil {
			return nil, sqlite3.CANTOPEN
		}
	}
	fh, err := jsvfs.Await(dir, "getFileHandle", base, map[string]any{"create": create})
	if err != nil {
		return nil, openError(p, err)
	}
	sah, err := jsvfs.Await(fh, "createSyncAccessHandle")
	if err != nil {
		return nil, openError(p, err)
	}
	return &handle{
		path:  p,
		sah:   sah,
		at:    js.Global().Get("Object").New(),
		views: map[int]js.Value{},
	}, nil
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
		_, err = jsvfs.Await(dir, "removeEntry", base)
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
		fh, err = jsvfs.Await(dir, "getFileHandle", base)
	}
	if err != nil {
		switch jsvfs.ErrorName(err) {
		case "NotFoundError", "TypeMismatchError":
			return false, nil
		}
		return false, vfs.SystemError(fmt.Errorf("opfs: access %s: %w", p, err), sqlite3.IOERR_ACCESS)
	}
	f, err := jsvfs.Await(fh, "getFile")
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
	v := h.view(len(b))
	h.at.Set("at", off)
	r, err := jsvfs.Call(h.sah, "read", v, h.at)
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
func (h *handle) writeAt(b []byte, off int64) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.view(len(b))
	js.CopyBytesToJS(v, b)
	h.at.Set("at", off)
	r, err := jsvfs.Call(h.sah, "write", v, h.at)
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
	r, err := jsvfs.Call(h.sah, "getSize")
	if err != nil {
		return 0, vfs.SystemError(fmt.Errorf("opfs: size of %s: %w", h.path, err), sqlite3.IOERR_FSTAT)
	}
	return int64(r.Float()), nil
}

func (h *handle) truncate(size int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
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
	if _, err := jsvfs.Call(h.sah, "flush"); err != nil {
		return vfs.SystemError(fmt.Errorf("opfs: flush %s: %w", h.path, err), sqlite3.IOERR_FSYNC)
	}
	return nil
}

// close releases the sync access handle, so other workers can open the file.
func (h *handle) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := jsvfs.Call(h.sah, "close"); err != nil {
		return vfs.SystemError(fmt.Errorf("opfs: close %s: %w", h.path, err), sqlite3.IOERR_CLOSE)
	}
	return nil
}
