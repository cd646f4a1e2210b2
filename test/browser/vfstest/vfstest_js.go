// Package vfstest is the shared test suite of hearth's browser SQLite VFSes
// (hearth.dev/hearth/wasm/opfs and hearth.dev/hearth/wasm/idb). A VFS
// package's tests call [Run], [Phase] and [BenchmarkInsert] with its name;
// test/browser/run-go-test.mjs runs the resulting test binary in a dedicated
// worker in Chromium.
//
// The package only builds for GOOS=js. Importing it registers the "sqlite3"
// database/sql driver (it imports github.com/ncruces/go-sqlite3/driver); it
// registers no VFS.
package vfstest

import (
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/vfs"
)

// WAL is the set of PRAGMAs hearth's storage uses in the browser: WAL with
// exclusive locking (these VFSes have no shared memory), on one connection.
var WAL = []string{
	"busy_timeout(10000)",
	"locking_mode(exclusive)",
	"journal_mode(wal)",
	"synchronous(normal)",
}

// DSN returns the data source name for the database at path on VFS vfsName
// with the given PRAGMAs, in order.
func DSN(vfsName, path string, pragmas ...string) string {
	q := url.Values{"vfs": {vfsName}}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return "file:" + path + "?" + q.Encode()
}

// Path returns a database path named after tb, unique among the tests of
// one binary.
func Path(tb testing.TB) string {
	return "/" + strings.NewReplacer("/", "_", " ", "_", "#", "_").Replace(tb.Name()) + ".db"
}

// Remove deletes the database at path and its journal and WAL, if present.
func Remove(tb testing.TB, vfsName, path string) {
	tb.Helper()
	v := vfs.Find(vfsName)
	if v == nil {
		tb.Fatalf("VFS %q is not registered", vfsName)
	}
	for _, suffix := range []string{"", "-journal", "-wal"} {
		err := v.Delete(path+suffix, false)
		if err != nil && !errors.Is(err, sqlite3.IOERR_DELETE_NOENT) {
			tb.Fatalf("Delete(%q): %v", path+suffix, err)
		}
	}
}

// Fresh returns a path for tb on which no database exists, and removes the
// database at cleanup.
func Fresh(tb testing.TB, vfsName string) string {
	tb.Helper()
	path := Path(tb)
	Remove(tb, vfsName, path)
	tb.Cleanup(func() { Remove(tb, vfsName, path) })
	return path
}

// Open opens the database at path on vfsName with pragmas on a single
// connection, checks that the connection works, and closes it at cleanup
// unless the test closed it first.
func Open(tb testing.TB, vfsName, path string, pragmas ...string) *sql.DB {
	tb.Helper()
	db, err := driver.Open(DSN(vfsName, path, pragmas...))
	if err != nil {
		tb.Fatalf("Open(%q): %v", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		tb.Fatalf("Ping(%q): %v", path, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// mustExec runs statements and fails the test on the first error.
func mustExec(tb testing.TB, db interface {
	Exec(string, ...any) (sql.Result, error)
}, query string, args ...any) {
	tb.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		tb.Fatalf("Exec(%q): %v", query, err)
	}
}

// queryString returns the single text value query yields.
func queryString(tb testing.TB, db *sql.DB, query string, args ...any) string {
	tb.Helper()
	var s string
	if err := db.QueryRow(query, args...).Scan(&s); err != nil {
		tb.Fatalf("QueryRow(%q): %v", query, err)
	}
	return s
}

// queryInt returns the single integer value query yields.
func queryInt(tb testing.TB, db *sql.DB, query string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatalf("QueryRow(%q): %v", query, err)
	}
	return n
}

// checkIntegrity fails the test unless PRAGMA integrity_check says "ok".
func checkIntegrity(tb testing.TB, db *sql.DB) {
	tb.Helper()
	if got := queryString(tb, db, "PRAGMA integrity_check"); got != "ok" {
		tb.Fatalf("PRAGMA integrity_check = %q, want \"ok\"", got)
	}
}
