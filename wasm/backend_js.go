package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"

	"hearth.dev/hearth/wasm/idb"
	"hearth.dev/hearth/wasm/opfs"
)

// A backend is where the database file lives: a SQLite VFS and the name
// the JavaScript API reports for it.
type backend struct {
	// Name is what status() reports: "opfs", "indexeddb" or "memory".
	Name string
	// VFS is the registered SQLite VFS.
	VFS string
}

var (
	backendOPFS   = backend{Name: "opfs", VFS: opfs.Name}
	backendIDB    = backend{Name: "indexeddb", VFS: idb.Name}
	backendMemory = backend{Name: "memory", VFS: memoryVFSName}
)

// chooseBackend picks the storage for want ("auto" or "", "opfs",
// "indexeddb", "memory"): auto takes OPFS where this worker has sync
// access handles, else IndexedDB, else memory. Asking for a storage this
// context lacks is an error.
func chooseBackend(want string) (backend, error) {
	switch want {
	case "", "auto":
		switch {
		case opfs.Supported():
			return backendOPFS, nil
		case idb.Supported():
			return backendIDB, nil
		}
		return backendMemory, nil
	case "opfs":
		if !opfs.Supported() {
			return backend{}, newCodeError(codeUnsupported,
				"storage %q is not available here (OPFS sync access handles exist only in dedicated workers of browsers that have them)", want)
		}
		return backendOPFS, nil
	case "indexeddb":
		if !idb.Supported() {
			return backend{}, newCodeError(codeUnsupported, "storage %q is not available here", want)
		}
		return backendIDB, nil
	case "memory":
		return backendMemory, nil
	}
	return backend{}, newCodeError(codeBadOption, "storage is %q; it must be auto, opfs, indexeddb or memory", want)
}

func (b backend) vfs() (vfs.VFS, error) {
	v := vfs.Find(b.VFS)
	if v == nil {
		return nil, fmt.Errorf("storage %s: SQLite VFS %q is not registered", b.Name, b.VFS)
	}
	return v, nil
}

// exists reports whether the file holds anything.
func (b backend) exists(name string) (bool, error) {
	v, err := b.vfs()
	if err != nil {
		return false, err
	}
	return v.Access(name, vfs.ACCESS_EXISTS)
}

// remove deletes a file; a missing file is not an error.
func (b backend) remove(name string) error {
	v, err := b.vfs()
	if err != nil {
		return err
	}
	if err := v.Delete(name, false); err != nil && !errors.Is(err, sqlite3.IOERR_DELETE_NOENT) {
		if ok, aerr := v.Access(name, vfs.ACCESS_EXISTS); aerr == nil && !ok {
			return nil
		}
		return fmt.Errorf("storage %s: delete %s: %w", b.Name, name, err)
	}
	return nil
}

// removeDatabase deletes a database file and its journals.
func (b backend) removeDatabase(name string) error {
	for _, suffix := range [...]string{"-wal", "-journal", ""} {
		if err := b.remove(name + suffix); err != nil {
			return err
		}
	}
	return nil
}

// readFile returns the whole contents of a file.
func (b backend) readFile(name string) ([]byte, error) {
	v, err := b.vfs()
	if err != nil {
		return nil, err
	}
	f, _, err := v.Open(name, vfs.OPEN_READONLY|vfs.OPEN_MAIN_DB)
	if err != nil {
		return nil, fmt.Errorf("storage %s: open %s: %w", b.Name, name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("storage %s: size of %s: %w", b.Name, name, err)
	}
	buf := make([]byte, size)
	if n, err := f.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && int64(n) == size) {
		return nil, fmt.Errorf("storage %s: read %s: %w", b.Name, name, err)
	}
	return buf, nil
}

// writeFile replaces the contents of a file with data and syncs it.
func (b backend) writeFile(name string, data []byte) error {
	v, err := b.vfs()
	if err != nil {
		return err
	}
	f, _, err := v.Open(name, vfs.OPEN_CREATE|vfs.OPEN_READWRITE|vfs.OPEN_MAIN_DB)
	if err != nil {
		return fmt.Errorf("storage %s: create %s: %w", b.Name, name, err)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(data, 0)
	}
	if err == nil {
		err = f.Sync(vfs.SYNC_FULL)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storage %s: write %s: %w", b.Name, name, err)
	}
	return nil
}
