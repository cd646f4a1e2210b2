package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/ncruces/go-sqlite3/vfs"
)

// countVFS is the operating system's VFS, counting how often a main
// database file is opened. Its name makes storage run on one connection,
// as in the browser.
type countVFS struct {
	vfs.VFS
	mainOpens atomic.Int64
}

const countVFSName = "hearth-count-opens"

var countingVFS = &countVFS{VFS: vfs.Find("os")}

func init() { vfs.Register(countVFSName, countingVFS) }

func (c *countVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	if flags&vfs.OPEN_MAIN_DB != 0 {
		c.mainOpens.Add(1)
	}
	return c.VFS.(vfs.VFSFilename).OpenFilename(name, flags)
}

// oneConnOptions are Options on OS files through countVFS.
func oneConnOptions(t *testing.T) Options {
	t.Helper()
	skipInBrowser(t)
	if !vfs.SupportsFileLocking {
		// The OS VFS needs nolock=1 there, which only the default VFS gets.
		t.Skip("js/wasm without file locking: the whole suite runs on one connection")
	}
	if !singleConnection(countVFSName) {
		t.Fatal("a named VFS should run on one connection")
	}
	return Options{Path: filepath.Join(t.TempDir(), "hearth.db"), VFS: countVFSName, Logger: quietLog}
}

// TestOneConnectionOpensOnce: creating, migrating and reopening a current
// database each open the file once, and the migrations run as on the
// native path.
func TestOneConnectionOpensOnce(t *testing.T) {
	o := oneConnOptions(t)
	ctx := context.Background()
	steps := []struct {
		name    string
		version int
		deltas  int
	}{
		{"create at 1", 1, 0},
		{"migrate to 3", 3, 4},
		{"reopen current", 3, 4},
	}
	for _, s := range steps {
		before := countingVFS.mainOpens.Load()
		db, err := openWith(ctx, o, testTree(s.version))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if n := countingVFS.mainOpens.Load() - before; n != 1 {
			t.Errorf("%s: the database file was opened %d times, want 1", s.name, n)
		}
		if v := schemaVersion(t, db); v != s.version {
			t.Errorf("%s: schema version %d, want %d", s.name, v, s.version)
		}
		if got := appliedDeltas(t, db); len(got) != s.deltas {
			t.Errorf("%s: applied deltas %v, want %d", s.name, got, s.deltas)
		}
		var n int
		if s.version >= 2 {
			db.Reader().QueryRow("SELECT count(*) FROM b").Scan(&n)
			if n != 1 {
				t.Errorf("%s: delta 2 ran %d times, want once", s.name, n)
			}
		}
		// The journal pragmas were set after the probe.
		var mode string
		if err := db.Reader().QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("%s: journal_mode %q, %v; want wal", s.name, mode, err)
		}
		if err := db.Write(ctx, func(q Queryer) error {
			_, err := q.ExecContext(ctx, "INSERT INTO a (x) VALUES (1)")
			return err
		}); err != nil {
			t.Errorf("%s: write: %v", s.name, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOneConnectionRefusesWithoutWriting: a too-new database and foreign
// files are refused on the one connection without a byte changed.
func TestOneConnectionRefusesWithoutWriting(t *testing.T) {
	ctx := context.Background()
	t.Run("too new", func(t *testing.T) {
		o := oneConnOptions(t)
		db, err := openWith(ctx, o, testTree(3))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Write(ctx, func(q Queryer) error {
			_, err := q.ExecContext(ctx, "UPDATE schema_compat_version SET compat_version = 7")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		before := fileBytes(t, o.Path)
		if _, err := openWith(ctx, o, testTree(3)); !errors.Is(err, ErrTooNew) {
			t.Fatalf("open: %v, want ErrTooNew", err)
		}
		if !bytes.Equal(before, fileBytes(t, o.Path)) {
			t.Error("refused database file was modified")
		}
		if _, err := os.Stat(o.Path + "-wal"); err == nil {
			t.Error("refusing left a WAL file beside the database")
		}
	})
	foreign := map[string]func(path string) error{
		"garbage": func(p string) error {
			return os.WriteFile(p, bytes.Repeat([]byte("not a database at all "), 300), 0o600)
		},
		"other application's sqlite": func(p string) error {
			db, err := openSQL("file:"+p, nil)
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.Exec("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('x')")
			return err
		},
	}
	for name, mk := range foreign {
		t.Run(name, func(t *testing.T) {
			o := oneConnOptions(t)
			if err := mk(o.Path); err != nil {
				t.Fatal(err)
			}
			before := fileBytes(t, o.Path)
			if _, err := Open(ctx, o); !errors.Is(err, ErrForeign) {
				t.Fatalf("Open: %v, want ErrForeign", err)
			}
			if !bytes.Equal(before, fileBytes(t, o.Path)) {
				t.Error("foreign file was modified")
			}
		})
	}
}

// TestOneConnectionFailingDelta: a delta that fails is rolled back and
// named; the next open applies the rest, each delta once.
func TestOneConnectionFailingDelta(t *testing.T) {
	o := oneConnOptions(t)
	ctx := context.Background()
	db, err := openWith(ctx, o, testTree(1))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	bad := testTree(2)
	bad.FS.(fstest.MapFS)["main/delta/2/02broken.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);")}
	if _, err := openWith(ctx, o, bad); err == nil || !strings.Contains(err.Error(), "main/delta/2/02broken.sql") {
		t.Fatalf("open with a failing delta: %v, want an error naming it", err)
	}

	db, err = openTree(t, o, testTree(3))
	if err != nil {
		t.Fatal(err)
	}
	if v := schemaVersion(t, db); v != 3 {
		t.Errorf("schema version %d, want 3", v)
	}
	var n int
	db.Reader().QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'half'").Scan(&n)
	if n != 0 {
		t.Error("the failing delta's table survived the rollback")
	}
	db.Reader().QueryRow("SELECT count(*) FROM b").Scan(&n)
	if n != 1 {
		t.Errorf("delta 2 ran %d times, want once", n)
	}
	if got := appliedDeltas(t, db); len(got) != 4 {
		t.Errorf("applied %v, want 4 deltas", got)
	}
}

// TestOneConnectionWriterKeepsStatements: on one connection the writer's
// statements stay prepared from one batch to the next (compiling them is
// most of a small write's cost in the browser), reads still run between
// batches, and a failing write in a batch of several leaves the others.
func TestOneConnectionWriterKeepsStatements(t *testing.T) {
	o := oneConnOptions(t)
	ctx := context.Background()
	db, err := openTree(t, o, testTree(3))
	if err != nil {
		t.Fatal(err)
	}
	const insert = "INSERT INTO a (x) VALUES (?)"
	for i := range 3 {
		if err := db.Write(ctx, func(q Queryer) error {
			_, err := q.ExecContext(ctx, insert, i)
			return err
		}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		var n int
		if err := db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM a").Scan(&n); err != nil || n != i+1 {
			t.Fatalf("after write %d: %d rows, %v", i, n, err)
		}
		if db.stmts[insert] == nil {
			t.Errorf("after write %d the insert is not kept prepared", i)
		}
	}
	// A write that fails is rolled back; the next one still runs on the
	// kept statement.
	errFail := errors.New("fail")
	if err := db.Write(ctx, func(q Queryer) error {
		if _, err := q.ExecContext(ctx, insert, 99); err != nil {
			return err
		}
		return errFail
	}); !errors.Is(err, errFail) {
		t.Fatalf("failing write: %v", err)
	}
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, insert, 4)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var n, bad int
	db.Reader().QueryRowContext(ctx, "SELECT count(*), count(*) FILTER (WHERE x = 99) FROM a").Scan(&n, &bad)
	if n != 4 || bad != 0 {
		t.Errorf("%d rows, %d of the failed write; want 4 and 0", n, bad)
	}
}
