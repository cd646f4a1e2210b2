package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// testVFS is the SQLite VFS the storage tests run on: empty for operating
// system files, or a browser VFS ("opfs", "idb") when the suite runs inside
// a browser worker (see test/browser).
var testVFS = os.Getenv("HEARTH_TEST_VFS")

// quietLog keeps test and benchmark output readable.
var quietLog = slog.New(slog.DiscardHandler)

// testPath returns a fresh database path for tb. On the host's file system
// it lives in tb.TempDir(); in a browser VFS it is a unique name, since a
// browser worker has no OS file system.
func testPath(tb testing.TB, name string) string {
	tb.Helper()
	if testVFS != "" {
		b := make([]byte, 8)
		rand.Read(b)
		return "/" + hex.EncodeToString(b) + "-" + name
	}
	return filepath.Join(tb.TempDir(), name)
}

// testOptions returns Options for a fresh database at a new path.
func testOptions(tb testing.TB) Options {
	tb.Helper()
	return Options{Path: testPath(tb, "hearth.db"), VFS: testVFS, Logger: quietLog}
}

// mustOpen opens a fresh hearth database for tb and closes it at cleanup.
func mustOpen(tb testing.TB) *DB {
	tb.Helper()
	return mustOpenWith(tb, testOptions(tb))
}

// mustOpenWith opens the database described by o and closes it at cleanup.
func mustOpenWith(tb testing.TB, o Options) *DB {
	tb.Helper()
	db, err := Open(context.Background(), o)
	if err != nil {
		tb.Fatalf("Open(%q): %v", o.Path, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

// pauseSearchIndex stops db's full-text index batches from running on
// their own (searches still index what they need) and waits for one
// already started, so that a test counting the writer's writes or batches
// counts only its own.
func pauseSearchIndex(db *DB) {
	s := &db.search
	s.paused.Store(true)
	for {
		s.mu.Lock()
		running := s.running
		s.mu.Unlock()
		if !running {
			return
		}
		runtime.Gosched()
	}
}
