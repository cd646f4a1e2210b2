package storage

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ncruces/go-sqlite3/vfs"
)

// singleOSVFS is the operating system's VFS under another name: a DB opened
// on it runs in single-connection mode, as in the browser.
const singleOSVFS = "hearth-test-single-os"

var registerSingleOS sync.Once

func openSingle(t *testing.T) *DB {
	t.Helper()
	var db *DB
	if testVFS != "" {
		// A browser VFS: every DB of the suite is in single-connection mode.
		db = mustOpen(t)
	} else {
		registerSingleOS.Do(func() { vfs.Register(singleOSVFS, vfs.Find("os")) })
		db = mustOpenWith(t, Options{Path: filepath.Join(t.TempDir(), "hearth.db"), VFS: singleOSVFS, Logger: quietLog})
	}
	if !db.single {
		t.Fatal("a DB on a named VFS is not in single-connection mode")
	}
	return db
}

// openBoth runs fn on a DB in single-connection mode (as in the browser)
// and, natively, on one with a read pool.
func openBoth(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Run("single", func(t *testing.T) { fn(t, openSingle(t)) })
	if testVFS == "" {
		t.Run("pool", func(t *testing.T) {
			db := mustOpen(t)
			if db.single {
				t.Fatal("a native DB is in single-connection mode")
			}
			fn(t, db)
		})
	}
}

// TestReadPrepares checks that Read runs a statement unprepared the first
// time, prepares it once the transaction ends, and runs it prepared
// afterwards, with the same answers, beside writes.
func TestReadPrepares(t *testing.T) { openBoth(t, testReadPrepares) }

func testReadPrepares(t *testing.T, db *DB) {
	ctx := context.Background()
	const q = "SELECT value FROM server_config WHERE key = ?"
	if err := db.Write(ctx, func(w Queryer) error {
		_, err := w.ExecContext(ctx, "INSERT OR REPLACE INTO server_config (key, value) VALUES (?, ?)", "test-key", "one")
		return err
	}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	read := func() string {
		t.Helper()
		var v string
		if err := db.Read(ctx, func(r Queryer) error {
			if txOf(r) == nil {
				t.Error("txOf(Read's Queryer) = nil")
			}
			return r.QueryRowContext(ctx, q, "test-key").Scan(&v)
		}); err != nil {
			t.Fatalf("Read: %v", err)
		}
		return v
	}
	if _, known := db.txReads.lookup(q); known {
		t.Fatal("statement known before any read")
	}
	if got := read(); got != "one" {
		t.Errorf("first read = %q, want one", got)
	}
	if st, _ := db.txReads.lookup(q); st == nil {
		t.Fatal("statement not prepared after the read that used it")
	}
	if err := db.Write(ctx, func(w Queryer) error {
		_, err := w.ExecContext(ctx, "UPDATE server_config SET value = ? WHERE key = ?", "two", "test-key")
		return err
	}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if got := read(); got != "two" {
		t.Errorf("prepared read after a write = %q, want two", got)
	}

	// A statement SQLite refuses fails its read, every time, and leaves
	// the connection usable.
	const bad = "SELECT value FROM no_such_table"
	for range 2 {
		if err := db.Read(ctx, func(r Queryer) error {
			var v string
			return r.QueryRowContext(ctx, bad).Scan(&v)
		}); err == nil {
			t.Fatal("Read of a missing table succeeded")
		}
	}
	if got := read(); got != "two" {
		t.Errorf("read after a refused statement = %q, want two", got)
	}

	// An error from fn is returned and the connection stays usable.
	errStop := errors.New("stop")
	if err := db.Read(ctx, func(r Queryer) error { return errStop }); !errors.Is(err, errStop) {
		t.Errorf("Read(failing fn) = %v, want %v", err, errStop)
	}
	if got := read(); got != "two" {
		t.Errorf("read after a failed read = %q, want two", got)
	}
}

// TestReadCancelledKeepsPreparing checks that a read whose context ends
// does not mark its statements as impossible to prepare.
func TestReadCancelledKeepsPreparing(t *testing.T) {
	openBoth(t, testReadCancelledKeepsPreparing)
}

func testReadCancelledKeepsPreparing(t *testing.T, db *DB) {
	ctx, cancel := context.WithCancel(context.Background())
	const q = "SELECT count(*) FROM server_config"
	if err := db.Read(ctx, func(r Queryer) error {
		var n int
		err := r.QueryRowContext(ctx, q).Scan(&n)
		cancel()
		return err
	}); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: %v", err)
	}
	if st, known := db.txReads.lookup(q); known && st == nil {
		t.Error("a cancelled read marked its statement as one that cannot be prepared")
	}
}
