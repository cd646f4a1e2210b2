package vfstest

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/vfs"
)

// testWALExclusive checks that the storage PRAGMAs take effect: without
// shared memory, WAL needs exclusive locking, and SQLite silently keeps the
// old journal mode when it cannot switch.
func testWALExclusive(t *testing.T, vfsName string) {
	path := Fresh(t, vfsName)
	db := Open(t, vfsName, path, WAL...)
	mustExec(t, db, "CREATE TABLE t (x)")
	for _, tc := range []struct{ pragma, want string }{
		{"PRAGMA journal_mode", "wal"},
		{"PRAGMA locking_mode", "exclusive"},
		{"PRAGMA synchronous", "1"},
	} {
		if got := queryString(t, db, tc.pragma); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
	if ok, err := vfs.Find(vfsName).Access(path+"-wal", vfs.ACCESS_EXISTS); !ok || err != nil {
		t.Errorf("Access(-wal) after a write = %v, %v; want true, nil", ok, err)
	}
}

// fillRows inserts rows [from, to) in transactions of batch rows.
func fillRows(t testing.TB, db *sql.DB, from, to, batch int) {
	t.Helper()
	for lo := from; lo < to; lo += batch {
		tx, err := db.Begin()
		if err != nil {
			t.Fatalf("Begin: %v", err)
		}
		stmt, err := tx.Prepare("INSERT INTO rows (id, name, n) VALUES (?, ?, ?)")
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		for i := lo; i < min(lo+batch, to); i++ {
			if _, err := stmt.Exec(i, fmt.Sprintf("row %d %x", i, i*i), i*3); err != nil {
				t.Fatalf("insert %d: %v", i, err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
}

// checkRows fails unless the table rows holds exactly rows [0, n) as
// fillRows wrote them.
func checkRows(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	if got := queryInt(t, db, "SELECT count(*) FROM rows"); got != int64(n) {
		t.Fatalf("count(*) = %d, want %d", got, n)
	}
	if n == 0 {
		return
	}
	wantSum := int64(3 * n * (n - 1) / 2)
	if got := queryInt(t, db, "SELECT sum(n) FROM rows"); got != wantSum {
		t.Fatalf("sum(n) = %d, want %d", got, wantSum)
	}
	for _, i := range []int{0, n / 3, n - 1} {
		want := fmt.Sprintf("row %d %x", i, i*i)
		if got := queryString(t, db, "SELECT name FROM rows WHERE id = ?", i); got != want {
			t.Fatalf("row %d name = %q, want %q", i, got, want)
		}
	}
}

const rowsSchema = "CREATE TABLE rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER NOT NULL)"

func testInsertsReadBack(t *testing.T, vfsName string) {
	path := Fresh(t, vfsName)
	const n = 20000
	db := Open(t, vfsName, path, WAL...)
	mustExec(t, db, rowsSchema)
	fillRows(t, db, 0, n, 500)
	checkRows(t, db, n)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = Open(t, vfsName, path, WAL...)
	checkRows(t, db, n)
	checkIntegrity(t, db)
}

// testLargeBlob stores blobs that span many overflow pages, and WAL frames.
func testLargeBlob(t *testing.T, vfsName string) {
	path := Fresh(t, vfsName)
	sizes := []int{1<<20 + 17, 5 << 20, 100}
	db := Open(t, vfsName, path, WAL...)
	mustExec(t, db, "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
	for i, size := range sizes {
		mustExec(t, db, "INSERT INTO blobs (id, data) VALUES (?, ?)", i, pattern(size, byte(i)))
	}
	check := func(when string) {
		t.Helper()
		for i, size := range sizes {
			var got []byte
			if err := db.QueryRow("SELECT data FROM blobs WHERE id = ?", i).Scan(&got); err != nil {
				t.Fatalf("%s: blob %d: %v", when, i, err)
			}
			if !bytes.Equal(got, pattern(size, byte(i))) {
				t.Fatalf("%s: blob %d (%d bytes) differs: got %d bytes, sha256 %x", when, i, size, len(got), sha256.Sum256(got))
			}
		}
	}
	check("before close")
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db = Open(t, vfsName, path, WAL...)
	check("after reopen")
	checkIntegrity(t, db)
}

// testTruncate shrinks the database: VACUUM then a truncating checkpoint
// must leave a database file of page_count pages and an empty WAL.
func testTruncate(t *testing.T, vfsName string) {
	path := Fresh(t, vfsName)
	db := Open(t, vfsName, path, WAL...)
	mustExec(t, db, "CREATE TABLE big (id INTEGER PRIMARY KEY, data BLOB)")
	mustExec(t, db, "CREATE TABLE keep (id INTEGER PRIMARY KEY, v TEXT)")
	mustExec(t, db, "INSERT INTO keep (id, v) VALUES (1, 'kept')")
	mustExec(t, db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 2000) INSERT INTO big (id, data) SELECT i, randomblob(1000) FROM c")
	mustExec(t, db, "PRAGMA wal_checkpoint(TRUNCATE)")
	before := queryInt(t, db, "PRAGMA page_count")
	pageSize := queryInt(t, db, "PRAGMA page_size")

	mustExec(t, db, "DELETE FROM big")
	mustExec(t, db, "VACUUM")
	mustExec(t, db, "PRAGMA wal_checkpoint(TRUNCATE)")
	after := queryInt(t, db, "PRAGMA page_count")
	if after >= before/10 {
		t.Errorf("page_count after VACUUM = %d, want under a tenth of %d", after, before)
	}

	f := openFile(t, vfsName, path, vfs.OPEN_MAIN_DB|vfs.OPEN_READWRITE)
	size := fileSize(t, f)
	f.Close()
	if size != after*pageSize {
		t.Errorf("database file size = %d, want %d pages of %d = %d", size, after, pageSize, after*pageSize)
	}
	if ok, err := vfs.Find(vfsName).Access(path+"-wal", vfs.ACCESS_EXISTS); ok || err != nil {
		t.Errorf("Access(-wal) after a truncating checkpoint = %v, %v; want false, nil", ok, err)
	}
	if got := queryString(t, db, "SELECT v FROM keep WHERE id = 1"); got != "kept" {
		t.Errorf("kept row = %q, want \"kept\"", got)
	}
	checkIntegrity(t, db)
}

// testRollbackJournal uses the default rollback journal: the journal file
// appears during a write transaction and is gone after it, and a rolled
// back transaction leaves nothing behind.
func testRollbackJournal(t *testing.T, vfsName string) {
	path := Fresh(t, vfsName)
	v := vfs.Find(vfsName)
	db := Open(t, vfsName, path, "journal_mode(delete)")
	mustExec(t, db, rowsSchema)
	fillRows(t, db, 0, 1000, 100)

	tx, err := db.Begin()
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	mustExec(t, tx, "UPDATE rows SET n = n + 1")
	if ok, err := v.Access(path+"-journal", vfs.ACCESS_EXISTS); !ok || err != nil {
		t.Errorf("Access(-journal) inside a write transaction = %v, %v; want true, nil", ok, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if ok, err := v.Access(path+"-journal", vfs.ACCESS_EXISTS); ok || err != nil {
		t.Errorf("Access(-journal) after rollback = %v, %v; want false, nil", ok, err)
	}
	checkRows(t, db, 1000)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db = Open(t, vfsName, path, "journal_mode(delete)")
	checkRows(t, db, 1000)
	checkIntegrity(t, db)
}

// testTwoConnections runs two connections on one file in rollback-journal
// mode: the in-process lock table makes the second writer wait.
func testTwoConnections(t *testing.T, vfsName string) {
	path := Fresh(t, vfsName)
	a := Open(t, vfsName, path, "busy_timeout(0)", "journal_mode(delete)")
	b := Open(t, vfsName, path, "busy_timeout(0)", "journal_mode(delete)")
	mustExec(t, a, "CREATE TABLE t (x)")
	mustExec(t, a, "INSERT INTO t VALUES (1)")
	if got := queryInt(t, b, "SELECT count(*) FROM t"); got != 1 {
		t.Fatalf("b sees %d rows, want 1", got)
	}

	ctx := t.Context()
	conn, err := a.Conn(ctx)
	if err != nil {
		t.Fatalf("Conn: %v", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("BEGIN IMMEDIATE: %v", err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO t VALUES (2)"); err != nil {
		t.Fatalf("INSERT: %v", err)
	}
	if _, err := b.Exec("INSERT INTO t VALUES (3)"); !errors.Is(err, sqlite3.BUSY) {
		t.Errorf("second writer error = %v, want BUSY", err)
	}
	if got := queryInt(t, b, "SELECT count(*) FROM t"); got != 1 {
		t.Errorf("b sees %d rows during a's transaction, want 1", got)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatalf("COMMIT: %v", err)
	}
	conn.Close() // a has one connection: give it back
	mustExec(t, b, "INSERT INTO t VALUES (3)")
	if got := queryInt(t, a, "SELECT count(*) FROM t"); got != 3 {
		t.Errorf("a sees %d rows, want 3", got)
	}
}

// testReadOnly opens a WAL database read-only, as storage's probe does.
func testReadOnly(t *testing.T, vfsName string) {
	path := Fresh(t, vfsName)
	db := Open(t, vfsName, path, WAL...)
	mustExec(t, db, rowsSchema)
	fillRows(t, db, 0, 100, 100)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	ro, err := driver.Open(DSN(vfsName, path, "busy_timeout(10000)", "locking_mode(exclusive)") + "&mode=ro")
	if err != nil {
		t.Fatalf("Open(mode=ro): %v", err)
	}
	defer ro.Close()
	ro.SetMaxOpenConns(1)
	checkRows(t, ro, 100)
	if _, err := ro.Exec("INSERT INTO rows (id, name, n) VALUES (1000, 'x', 0)"); !errors.Is(err, sqlite3.READONLY) {
		t.Errorf("INSERT on a read-only connection error = %v, want READONLY", err)
	}
}

// testTempFiles makes SQLite use its temporary files: a temp table, a sort
// too big for the cache, and a statement journal.
func testTempFiles(t *testing.T, vfsName string) {
	path := Fresh(t, vfsName)
	db := Open(t, vfsName, path, append(WAL, "cache_size(-256)", "temp_store(file)")...)
	mustExec(t, db, "CREATE TEMP TABLE scratch (x)")
	mustExec(t, db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 30000) INSERT INTO scratch SELECT i FROM c")
	if got := queryInt(t, db, "SELECT sum(x) FROM (SELECT x FROM scratch ORDER BY -x LIMIT 10)"); got != 30000*10-45 {
		t.Errorf("sum of the 10 largest = %d, want %d", got, 30000*10-45)
	}
	mustExec(t, db, "CREATE TABLE u (x UNIQUE)")
	mustExec(t, db, "INSERT INTO u VALUES (1), (2)")
	// A multi-row UPDATE that fails half way needs the statement journal.
	if _, err := db.Exec("UPDATE u SET x = 2 WHERE x = 1"); !errors.Is(err, sqlite3.CONSTRAINT) {
		t.Errorf("UPDATE error = %v, want CONSTRAINT", err)
	}
	if got := queryInt(t, db, "SELECT sum(x) FROM u"); got != 3 {
		t.Errorf("sum(x) = %d, want 3", got)
	}
}

// testReopen opens and closes a database many times: every close must
// release the file so the next open can take it.
func testReopen(t *testing.T, vfsName string) {
	path := Fresh(t, vfsName)
	for i := 0; i < 10; i++ {
		db := Open(t, vfsName, path, WAL...)
		mustExec(t, db, "CREATE TABLE IF NOT EXISTS t (x)")
		mustExec(t, db, "INSERT INTO t VALUES (?)", i)
		if got := queryInt(t, db, "SELECT count(*) FROM t"); got != int64(i+1) {
			t.Fatalf("open %d: count(*) = %d, want %d", i, got, i+1)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("open %d: Close: %v", i, err)
		}
	}
}
