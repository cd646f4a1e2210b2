package idb

import (
	"hearth.dev/hearth/wasm/jsvfs"

	"fmt"
	"syscall/js"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

const (
	// dbName is the IndexedDB database that holds every file.
	dbName = "hearth-sqlite"
	// filesStore maps a path to the file's size in bytes.
	filesStore = "files"
	// blocksStore maps [path, index] to a Uint8Array of blockSize bytes.
	blocksStore = "blocks"
)

var (
	// idb is the open IndexedDB database, or undefined before first use.
	// +checklocks:mu
	idb = js.Undefined()
	// scratch is a Uint8Array of blockSize bytes that blocks are copied
	// into before a put, which clones it.
	// +checklocks:mu
	scratch = js.Undefined()
)

// database opens the IndexedDB database on first use.
// +checklocks:mu
func database() (js.Value, error) {
	if !idb.IsUndefined() {
		return idb, nil
	}
	factory := js.Global().Get("indexedDB")
	if factory.Type() != js.TypeObject {
		return js.Undefined(), vfs.SystemError(fmt.Errorf("idb: indexedDB is missing"), sqlite3.CANTOPEN)
	}
	req, err := jsvfs.Call(factory, "open", dbName, 1)
	if err != nil {
		return js.Undefined(), vfs.SystemError(fmt.Errorf("idb: open %s: %w", dbName, err), sqlite3.CANTOPEN)
	}
	var upgradeErr error
	upgrade := js.FuncOf(func(js.Value, []js.Value) any {
		db := req.Get("result")
		for _, name := range []string{filesStore, blocksStore} {
			if !db.Get("objectStoreNames").Call("contains", name).Bool() {
				if _, err := jsvfs.Call(db, "createObjectStore", name); err != nil {
					upgradeErr = err
				}
			}
		}
		return nil
	})
	defer upgrade.Release()
	req.Set("onupgradeneeded", upgrade)
	db, err := awaitRequest(req)
	if err == nil {
		err = upgradeErr
	}
	if err != nil {
		return js.Undefined(), vfs.SystemError(fmt.Errorf("idb: open %s: %w", dbName, err), sqlite3.CANTOPEN)
	}
	idb = db
	scratch = js.Global().Get("Uint8Array").New(blockSize)
	return idb, nil
}

// blockRange is the key range of the blocks of path from index on.
func blockRange(path string, from int) js.Value {
	inf := js.Global().Get("Infinity")
	return js.Global().Get("IDBKeyRange").Call("bound", []any{path, from}, []any{path, inf})
}

// storedSize returns the size IndexedDB records for path, and whether it
// has the file at all.
// +checklocks:mu
func storedSize(path string) (int64, bool, error) {
	db, err := database()
	if err != nil {
		return 0, false, err
	}
	tx, err := jsvfs.Call(db, "transaction", []any{filesStore}, "readonly")
	if err != nil {
		return 0, false, vfs.SystemError(fmt.Errorf("idb: access %s: %w", path, err), sqlite3.IOERR_ACCESS)
	}
	req, err := jsvfs.Call(tx.Call("objectStore", filesStore), "get", path)
	if err != nil {
		return 0, false, vfs.SystemError(fmt.Errorf("idb: access %s: %w", path, err), sqlite3.IOERR_ACCESS)
	}
	v, err := awaitRequest(req)
	if err != nil {
		return 0, false, vfs.SystemError(fmt.Errorf("idb: access %s: %w", path, err), sqlite3.IOERR_ACCESS)
	}
	if v.Type() != js.TypeNumber {
		return 0, false, nil
	}
	return int64(v.Float()), true, nil
}

// stored reports whether IndexedDB has the file at path.
// +checklocks:mu
func stored(path string) (bool, error) {
	_, ok, err := storedSize(path)
	return ok, err
}

// load reads the file at path from IndexedDB, or returns nil if it has none.
// +checklocks:mu
func load(path string) (*data, error) {
	db, err := database()
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*data, error) {
		return nil, vfs.SystemError(fmt.Errorf("idb: load %s: %w", path, err), sqlite3.CANTOPEN)
	}
	tx, err := jsvfs.Call(db, "transaction", []any{filesStore, blocksStore}, "readonly")
	if err != nil {
		return fail(err)
	}
	// Issue every request before waiting: a transaction with nothing
	// pending commits as soon as control returns to the event loop.
	sizeReq, err := jsvfs.Call(tx.Call("objectStore", filesStore), "get", path)
	if err != nil {
		return fail(err)
	}
	blocks := tx.Call("objectStore", blocksStore)
	keysReq, err := jsvfs.Call(blocks, "getAllKeys", blockRange(path, 0))
	if err != nil {
		return fail(err)
	}
	valsReq, err := jsvfs.Call(blocks, "getAll", blockRange(path, 0))
	if err != nil {
		return fail(err)
	}
	if err := awaitTransaction(tx); err != nil {
		return fail(err)
	}

	size := sizeReq.Get("result")
	if size.Type() != js.TypeNumber {
		return nil, nil
	}
	d := &data{path: path, size: int64(size.Float()), dirty: map[int]struct{}{}}
	n := int((d.size + blockSize - 1) / blockSize)
	d.blocks = make([]*[blockSize]byte, n)
	keys, vals := keysReq.Get("result"), valsReq.Get("result")
	for i := range keys.Length() {
		idx := keys.Index(i).Index(1).Int()
		val := vals.Index(i)
		if idx < 0 || idx >= n || val.Get("length").Int() != blockSize {
			return fail(fmt.Errorf("bad block %d", idx))
		}
		d.blocks[idx] = new([blockSize]byte)
		js.CopyBytesToGo(d.blocks[idx][:], val)
	}
	for i, b := range d.blocks {
		if b == nil {
			return fail(fmt.Errorf("block %d of %d is missing", i, n))
		}
	}
	d.saved = keys.Length()
	return d, nil
}

// save writes every change since the last save (the changed blocks and
// sizes of open files, and the files deleted) in one IndexedDB transaction,
// and waits for it to commit. With strict set, it asks for "strict"
// durability: IndexedDB reports success only once the data is on the device.
// +checklocks:mu
func save(strict bool) error {
	var changed []*data
	for _, d := range files {
		if d.changed() {
			changed = append(changed, d)
		}
	}
	if len(changed) == 0 && len(deleted) == 0 {
		return nil
	}
	db, err := database()
	if err != nil {
		return err
	}
	durability := "relaxed"
	if strict {
		durability = "strict"
	}
	fail := func(err error) error {
		err = fmt.Errorf("idb: save: %w", err)
		if jsvfs.ErrorName(err) == "QuotaExceededError" {
			return vfs.SystemError(err, sqlite3.FULL)
		}
		return vfs.SystemError(err, sqlite3.IOERR_WRITE)
	}
	tx, err := jsvfs.Call(db, "transaction", []any{filesStore, blocksStore}, "readwrite", map[string]any{"durability": durability})
	if err != nil {
		return fail(err)
	}
	sizes, blocks := tx.Call("objectStore", filesStore), tx.Call("objectStore", blocksStore)
	// Every request goes out before the wait; a failed one aborts the
	// transaction, so nothing of this save is kept.
	put := func() error {
		for p := range deleted {
			if _, err := jsvfs.Call(sizes, "delete", p); err != nil {
				return err
			}
			if _, err := jsvfs.Call(blocks, "delete", blockRange(p, 0)); err != nil {
				return err
			}
		}
		for _, d := range changed {
			if _, err := jsvfs.Call(sizes, "put", d.size, d.path); err != nil {
				return err
			}
			for i := range d.dirty {
				js.CopyBytesToJS(scratch, d.blocks[i][:])
				if _, err := jsvfs.Call(blocks, "put", scratch, []any{d.path, i}); err != nil {
					return err
				}
			}
			if d.saved > len(d.blocks) {
				if _, err := jsvfs.Call(blocks, "delete", blockRange(d.path, len(d.blocks))); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := put(); err != nil {
		jsvfs.Call(tx, "abort")
		return fail(err)
	}
	if err := awaitTransaction(tx); err != nil {
		return fail(err)
	}
	clear(deleted)
	for _, d := range changed {
		clear(d.dirty)
		d.resized, d.created = false, false
		d.saved = len(d.blocks)
	}
	return nil
}
