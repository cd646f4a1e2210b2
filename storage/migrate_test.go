package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

const testCommon = `
CREATE TABLE schema_version (lock TEXT NOT NULL DEFAULT 'X' UNIQUE, version INTEGER NOT NULL, upgraded INTEGER NOT NULL);
CREATE TABLE schema_compat_version (lock TEXT NOT NULL DEFAULT 'X' UNIQUE, compat_version INTEGER NOT NULL);
CREATE TABLE applied_schema_deltas (version INTEGER NOT NULL, file TEXT NOT NULL, UNIQUE (version, file));
CREATE TABLE background_updates (update_name TEXT NOT NULL PRIMARY KEY, progress_json TEXT NOT NULL DEFAULT '{}', depends_on TEXT, ordering INTEGER NOT NULL DEFAULT 0);
`

// testTree is a schema tree for migrator tests: main has a full schema at
// version 1 and deltas for 2 and 3 (one SQL, one Go at 3); state has a full
// schema at 1 and a delta at 2.
func testTree(version int) *SchemaTree {
	t := &SchemaTree{
		FS: fstest.MapFS{
			"common/00versions.sql":           {Data: []byte(testCommon)},
			"main/full/1.sql":                 {Data: []byte("CREATE TABLE server_config (key TEXT PRIMARY KEY, value TEXT NOT NULL);\nCREATE TABLE a (x INTEGER);")},
			"main/delta/2/01add_b.sql":        {Data: []byte("-- adds b\nCREATE TABLE b (y INTEGER);\nINSERT INTO b VALUES (2);")},
			"main/delta/3/01add_c_column.sql": {Data: []byte("ALTER TABLE b ADD COLUMN z TEXT;")},
			"state/full/1.sql":                {Data: []byte("CREATE TABLE s (k TEXT);")},
			"state/delta/2/01add_t.sql":       {Data: []byte("CREATE TABLE t (k TEXT);")},
		},
		Version:       version,
		CompatVersion: 1,
	}
	t.register("main/delta/3/02fill_z", func(ctx context.Context, q Queryer) error {
		_, err := q.ExecContext(ctx, "UPDATE b SET z = 'from go'")
		return err
	})
	return t
}

func openTree(t *testing.T, o Options, tree *SchemaTree) (*DB, error) {
	t.Helper()
	db, err := openWith(context.Background(), o, tree)
	if err == nil {
		t.Cleanup(func() { db.Close() })
	}
	return db, err
}

func appliedDeltas(t *testing.T, db *DB) []string {
	t.Helper()
	var out []string
	rows, err := db.Reader().Query("SELECT version || ':' || file FROM applied_schema_deltas ORDER BY version, file")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

func schemaVersion(t *testing.T, db *DB) int {
	t.Helper()
	var v int
	if err := db.Reader().QueryRow("SELECT version FROM schema_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrateNewDatabaseFromOldFullSchema(t *testing.T) {
	db, err := openTree(t, testOptions(t), testTree(3))
	if err != nil {
		t.Fatal(err)
	}
	if v := schemaVersion(t, db); v != 3 {
		t.Errorf("schema version %d, want 3", v)
	}
	want := []string{"2:main/delta/2/01add_b.sql", "2:state/delta/2/01add_t.sql",
		"3:main/delta/3/01add_c_column.sql", "3:main/delta/3/02fill_z.go"}
	if diff := cmp.Diff(want, appliedDeltas(t, db)); diff != "" {
		t.Errorf("applied deltas (-want +got):\n%s", diff)
	}
	var z string
	if err := db.Reader().QueryRow("SELECT z FROM b").Scan(&z); err != nil || z != "from go" {
		t.Errorf("b.z = %q, %v; want the Go delta's value", z, err)
	}
}

func TestMigrateExistingDatabaseOnceEach(t *testing.T) {
	o := testOptions(t)
	db, err := openWith(context.Background(), o, testTree(1))
	if err != nil {
		t.Fatal(err)
	}
	if got := appliedDeltas(t, db); len(got) != 0 {
		t.Errorf("version-1 database has deltas %v", got)
	}
	db.Close()

	for range 2 { // the second open must apply nothing again
		db, err = openWith(context.Background(), o, testTree(3))
		if err != nil {
			t.Fatal(err)
		}
		if v := schemaVersion(t, db); v != 3 {
			t.Errorf("schema version %d, want 3", v)
		}
		var n int
		db.Reader().QueryRow("SELECT count(*) FROM b").Scan(&n)
		if n != 1 {
			t.Errorf("delta 2 ran %d times, want once", n)
		}
		if got := appliedDeltas(t, db); len(got) != 4 {
			t.Errorf("applied %v, want 4 deltas", got)
		}
		db.Close()
	}
}

func TestMigrateFailingDeltaLeavesDatabaseAsItWas(t *testing.T) {
	o := testOptions(t)
	db, err := openWith(context.Background(), o, testTree(1))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	bad := testTree(2)
	fsys := bad.FS.(fstest.MapFS)
	fsys["main/delta/2/02broken.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);")}
	_, err = openWith(context.Background(), o, bad)
	if err == nil {
		t.Fatal("open with a failing delta succeeded")
	}
	if !strings.Contains(err.Error(), "main/delta/2/02broken.sql") {
		t.Errorf("error %q does not name the delta", err)
	}

	db, err = openTree(t, o, testTree(1))
	if err != nil {
		t.Fatal(err)
	}
	if v := schemaVersion(t, db); v != 1 {
		t.Errorf("schema version %d after failed upgrade, want 1", v)
	}
	var n int
	db.Reader().QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'half'").Scan(&n)
	if n != 0 {
		t.Error("the failing delta's table survived the rollback")
	}
	for _, d := range appliedDeltas(t, db) {
		if strings.Contains(d, "broken") {
			t.Errorf("failing delta recorded as applied: %s", d)
		}
	}
}

// fileBytes reads a test database file (host file system only).
func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func skipInBrowser(t *testing.T) {
	if testVFS != "" {
		t.Skip("inspects database files with the os package; not available inside a browser VFS")
	}
}

func TestOpenRefusesTooNewDatabase(t *testing.T) {
	skipInBrowser(t)
	o := testOptions(t)
	db, err := openWith(context.Background(), o, testTree(3))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Write(context.Background(), func(q Queryer) error {
		_, err := q.ExecContext(context.Background(), "UPDATE schema_compat_version SET compat_version = 7")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := fileBytes(t, o.Path)

	_, err = openWith(context.Background(), o, testTree(3))
	if !errors.Is(err, ErrTooNew) {
		t.Fatalf("open of too-new database: %v, want ErrTooNew", err)
	}
	for _, want := range []string{"7", "3", o.Path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if !bytes.Equal(before, fileBytes(t, o.Path)) {
		t.Error("refused database file was modified")
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	skipInBrowser(t)
	cases := map[string]func(path string) error{
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
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			o := testOptions(t)
			if err := mk(o.Path); err != nil {
				t.Fatal(err)
			}
			before := fileBytes(t, o.Path)
			_, err := Open(context.Background(), o)
			if !errors.Is(err, ErrForeign) {
				t.Fatalf("Open: %v, want ErrForeign", err)
			}
			if !bytes.Equal(before, fileBytes(t, o.Path)) {
				t.Error("foreign file was modified")
			}
		})
	}
}

func TestOpenUnwritableFolder(t *testing.T) {
	skipInBrowser(t)
	// A folder that cannot hold files: its "parent" is a regular file. (A
	// chmod'ed folder would not do: the tests may run as root.)
	parent := filepath.Join(t.TempDir(), "plainfile")
	if err := os.WriteFile(parent, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Options{Path: filepath.Join(parent, "hearth.db")})
	if err == nil {
		t.Fatal("Open under a plain file succeeded")
	}
	if !strings.Contains(err.Error(), "writable") {
		t.Errorf("error %q does not point at the folder", err)
	}
}

func TestTwoPhysicalFiles(t *testing.T) {
	o := testOptions(t)
	o.StatePath = testPath(t, "state.db")
	db, err := openTree(t, o, testTree(2))
	if err != nil {
		t.Fatal(err)
	}
	// "t" comes from the state tree and must be in the state file only
	// (the connection's primary, "main"; hearth.db is attached as
	// "hearth").
	var inMain, inState int
	db.Reader().QueryRow("SELECT count(*) FROM hearth.sqlite_schema WHERE name = 't'").Scan(&inMain)
	db.Reader().QueryRow("SELECT count(*) FROM main.sqlite_schema WHERE name = 't'").Scan(&inState)
	if inMain != 0 || inState != 1 {
		t.Errorf("table t: %d in main, %d in state; want 0 and 1", inMain, inState)
	}
	// Unqualified names reach both files, for reads and writes.
	err = db.Write(context.Background(), func(q Queryer) error {
		if _, err := q.ExecContext(context.Background(), "INSERT INTO t VALUES ('k')"); err != nil {
			return err
		}
		_, err := q.ExecContext(context.Background(), "INSERT INTO a VALUES (1)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Reader().QueryRow("SELECT count(*) FROM t, a").Scan(&n); err != nil || n != 1 {
		t.Errorf("join across files: %d, %v", n, err)
	}
}

func TestRegisterGoDeltaRejectsBadKeys(t *testing.T) {
	for _, key := range []string{"main/3/01x", "main/delta/x/01y", "main/delta/3/x"} {
		t.Run(key, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("register(%q) did not panic", key)
				}
			}()
			(&SchemaTree{}).register(key, nil)
		})
	}
}

func ExampleSchemaTree() {
	fmt.Println(SchemaVersion >= SchemaCompatVersion)
	// Output: true
}

// TestMigrateNewFileIsOneTransaction: a new file gets its full schemas and
// every delta since in one transaction, so a delta that fails leaves it
// with no schema at all (not at the full schema's version with some deltas
// applied), and the next open makes it whole.
func TestMigrateNewFileIsOneTransaction(t *testing.T) {
	o := testOptions(t)
	bad := testTree(3)
	fsys := bad.FS.(fstest.MapFS)
	fsys["main/delta/3/03broken.sql"] = &fstest.MapFile{Data: []byte("INSERT INTO nowhere VALUES (1);")}
	_, err := openWith(context.Background(), o, bad)
	if err == nil {
		t.Fatal("creating a file with a failing delta succeeded")
	}
	if !strings.Contains(err.Error(), "main/delta/3/03broken.sql") {
		t.Errorf("error %q does not name the delta", err)
	}

	raw, err := openSQL(dsn(o.Path, o, false), nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	err = raw.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n)
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("the failed creation left %d schema objects, want none", n)
	}

	db, err := openTree(t, o, testTree(3))
	if err != nil {
		t.Fatal(err)
	}
	if v := schemaVersion(t, db); v != 3 {
		t.Errorf("schema version %d, want 3", v)
	}
	if got := appliedDeltas(t, db); len(got) != 4 {
		t.Errorf("applied %v, want 4 deltas", got)
	}
}
