package idb

import (
	"errors"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/vfs"
)

// TestBusyWhenHeldElsewhere holds the database's Web Lock outside the VFS,
// as another worker or tab would, and expects opening the database to
// report BUSY until it is released.
func TestBusyWhenHeldElsewhere(t *testing.T) {
	const p = "/held-elsewhere.db"
	release, ok, err := acquireWebLock("hearth-idb:" + p)
	if err != nil || !ok {
		t.Fatalf("acquireWebLock = %v, %v", ok, err)
	}
	flags := vfs.OPEN_MAIN_DB | vfs.OPEN_READWRITE | vfs.OPEN_CREATE
	if _, _, err := (memVFS{}).Open(p, flags); !errors.Is(err, sqlite3.BUSY) {
		t.Errorf("Open while held elsewhere: error = %v, want BUSY", err)
	}
	db, err := driver.Open("file:" + p + "?vfs=" + Name)
	if err != nil {
		t.Fatalf("driver.Open: %v", err)
	}
	if err := db.Ping(); !errors.Is(err, sqlite3.BUSY) {
		t.Errorf("Ping while held elsewhere: error = %v, want BUSY", err)
	}
	db.Close()

	release()
	f, _, err := memVFS{}.Open(p, flags)
	if err != nil {
		t.Fatalf("Open after release: %v", err)
	}
	// While the VFS holds the database, nobody else gets the lock.
	if _, ok, err := acquireWebLock("hearth-idb:" + p); ok || err != nil {
		t.Errorf("acquireWebLock while open = %v, %v; want false, nil", ok, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	release, ok, err = acquireWebLock("hearth-idb:" + p)
	if !ok || err != nil {
		t.Fatalf("acquireWebLock after close = %v, %v; want true, nil", ok, err)
	}
	release()
	if err := (memVFS{}).Delete(p, false); err != nil {
		t.Errorf("Delete: %v", err)
	}
}
