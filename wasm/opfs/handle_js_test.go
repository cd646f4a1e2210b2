package opfs

import (
	"hearth.dev/hearth/wasm/jsvfs"

	"errors"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/vfs"
)

// TestBusyWhenHeldElsewhere holds a sync access handle outside the VFS, as
// another worker or tab would, and expects Open to report BUSY until it is
// released.
func TestBusyWhenHeldElsewhere(t *testing.T) {
	const p = "/dir/held-elsewhere.db"
	flags := vfs.OPEN_MAIN_DB | vfs.OPEN_READWRITE | vfs.OPEN_CREATE
	f, _, err := fsVFS{}.Open(p, flags)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	defer fsVFS{}.Delete(p, false)

	dir, err := directory(p, false)
	if err != nil {
		t.Fatalf("directory: %v", err)
	}
	fh, err := jsvfs.Await(dir, "getFileHandle", "held-elsewhere.db")
	if err != nil {
		t.Fatalf("getFileHandle: %v", err)
	}
	other, err := jsvfs.Await(fh, "createSyncAccessHandle")
	if err != nil {
		t.Fatalf("createSyncAccessHandle: %v", err)
	}

	if _, _, err := (fsVFS{}).Open(p, flags); !errors.Is(err, sqlite3.BUSY) {
		t.Errorf("Open while held elsewhere: error = %v, want BUSY", err)
	}
	// SQLite sees the same code: "database is locked".
	db, err := driver.Open("file:" + p + "?vfs=" + Name)
	if err != nil {
		t.Fatalf("driver.Open: %v", err)
	}
	if err := db.Ping(); !errors.Is(err, sqlite3.BUSY) {
		t.Errorf("Ping while held elsewhere: error = %v, want BUSY", err)
	}
	db.Close()
	if ok, err := (fsVFS{}).Access(p, vfs.ACCESS_EXISTS); err != nil {
		t.Errorf("Access while held elsewhere: %v", err)
	} else if ok {
		t.Errorf("Access(empty file held elsewhere) = true, want false")
	}

	if _, err := jsvfs.Call(other, "close"); err != nil {
		t.Fatalf("close: %v", err)
	}
	f, _, err = fsVFS{}.Open(p, flags)
	if err != nil {
		t.Fatalf("Open after release: %v", err)
	}
	f.Close()
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"/hearth.db", "/hearth.db", true},
		{"hearth.db", "/hearth.db", true},
		{"/a/b/../c.db", "/a/c.db", true},
		{"/../x.db", "/x.db", true},
		{"//a//b.db", "/a/b.db", true},
		{"/", "", false},
		{"", "", false},
		{"/a/..", "", false},
	}
	for _, tc := range tests {
		got, err := cleanPath(tc.name)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q, ok=%v", tc.name, got, err, tc.want, tc.ok)
		}
	}
}

// TestRootAskedOnce checks that the VFS asks the browser for the OPFS root
// once, not for every file it opens, checks or deletes, and how many
// promises each of those waits for.
func TestRootAskedOnce(t *testing.T) {
	if _, err := root(); err != nil {
		t.Fatal(err)
	}
	before := ReadStats()
	if _, err := fileExists("/root-once.db"); err != nil {
		t.Fatal(err)
	}
	h, err := openHandle("/root-once.db", vfs.OPEN_CREATE|vfs.OPEN_READWRITE|vfs.OPEN_MAIN_DB)
	if err != nil {
		t.Fatal(err)
	}
	h.close()
	if err := removeFile("/root-once.db"); err != nil {
		t.Fatal(err)
	}
	after := ReadStats()
	if n := after.Roots - before.Roots; n != 0 {
		t.Errorf("the OPFS root was asked for %d more times", n)
	}
	// A missing file: getFileHandle (refused). Open: getFileHandle and
	// createSyncAccessHandle. Delete: removeEntry.
	if n := after.Awaits - before.Awaits; n != 4 {
		t.Errorf("exists, open and delete waited for %d promises, want 4", n)
	}
}
