package storage

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dbDump is everything a database holds that the schema made: the
// settings in its header, its sqlite_schema rows (root pages included),
// and the rows of every ordinary table (the version tables, the applied
// deltas, background updates, seeded rows, FTS5's shadow tables,
// sqlite_sequence).
type dbDump struct {
	Pragmas map[string]string
	Schema  []string
	Rows    map[string][]string
}

func dumpDB(t *testing.T, db *DB) dbDump {
	t.Helper()
	ctx := context.Background()
	d := dbDump{Pragmas: map[string]string{}, Rows: map[string][]string{}}
	for _, p := range []string{"page_size", "user_version", "application_id", "auto_vacuum", "encoding", "journal_mode", "freelist_count", "page_count"} {
		var v string
		if err := db.Reader().QueryRowContext(ctx, "PRAGMA "+p).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", p, err)
		}
		d.Pragmas[p] = v
	}
	var tables []string
	rows, err := db.Reader().QueryContext(ctx, "SELECT type, name, tbl_name, rootpage, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var typ, name, tbl, sqlText string
		var root int64
		if err := rows.Scan(&typ, &name, &tbl, &root, &sqlText); err != nil {
			t.Fatal(err)
		}
		d.Schema = append(d.Schema, fmt.Sprintf("%s %s on %s at %d: %s", typ, name, tbl, root, sqlText))
		if typ == "table" && !strings.HasPrefix(sqlText, "CREATE VIRTUAL TABLE") {
			tables = append(tables, name)
		}
	}
	rows.Close()
	for _, name := range tables {
		d.Rows[name] = tableRows(t, db, name)
	}
	return d
}

// tableRows returns the rows of table, each as text, sorted.
func tableRows(t *testing.T, db *DB, table string) []string {
	t.Helper()
	rows, err := db.Reader().Query(`SELECT * FROM "` + table + `"`)
	if err != nil {
		t.Fatalf("reading %s: %v", table, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := []string{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, fmt.Sprintf("%#v", vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// logRecorder keeps the messages logged through it.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}

func (r *logRecorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// openLogged opens a database in a new folder with o's VFS, the schema
// image given, and a logger that records what the migrator did.
func openLogged(t *testing.T, o Options, tree *SchemaTree, image []byte) (*DB, *logRecorder) {
	t.Helper()
	rec := &logRecorder{}
	o.Path = filepath.Join(t.TempDir(), "hearth.db")
	o.Logger = slog.New(rec)
	o.Image = image
	db, err := openTree(t, o, tree)
	if err != nil {
		t.Fatal(err)
	}
	return db, rec
}

// TestSchemaImageIsWhatTheMigratorMakes: a database started from the
// schema image the build makes holds exactly what the migrator makes
// statement by statement (header settings, sqlite_schema with its root
// pages, every row of every table), on one connection as in the browser
// and on the native pool, and no delta runs on it.
func TestSchemaImageIsWhatTheMigratorMakes(t *testing.T) {
	skipInBrowser(t)
	ctx := context.Background()
	image, err := SchemaImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		o    func(t *testing.T) Options
	}{
		{"one connection", oneConnOptions},
		{"pool", func(t *testing.T) Options { skipInBrowser(t); return Options{} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			made, madeLog := openLogged(t, c.o(t), Schema(), nil)
			copied, copiedLog := openLogged(t, c.o(t), Schema(), image)
			if n := madeLog.count("schema delta applied"); n == 0 {
				t.Fatal("the migrator applied no delta: nothing to compare with")
			}
			if n := copiedLog.count("database created from the schema image"); n != 1 {
				t.Errorf("the image was used %d times, want 1 (log: %q)", n, copiedLog.msgs)
			}
			if n := copiedLog.count("schema delta applied"); n != 0 {
				t.Errorf("%d deltas ran on a database from a current image, want 0", n)
			}
			want, got := dumpDB(t, made), dumpDB(t, copied)
			if len(want.Rows["applied_schema_deltas"]) == 0 || len(want.Schema) < 50 {
				t.Fatalf("the migrator's database looks empty: %d schema rows, applied deltas %v", len(want.Schema), want.Rows["applied_schema_deltas"])
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("database from the image differs from the migrator's (-migrator +image):\n%s", diff)
			}
			// And it is a working database.
			if _, err := copied.ClaimServerName(ctx, "image.test"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSchemaImageSameBytes: the image depends only on the schema, so a
// build makes the same file (and the same content-hashed name) each time.
func TestSchemaImageSameBytes(t *testing.T) {
	skipInBrowser(t)
	ctx := context.Background()
	a, err := SchemaImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SchemaImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two schema images differ (%d and %d bytes)", len(a), len(b))
	}
}

// TestSchemaImageBroughtForward: an image made before a delta (an old
// build's) still gives a current database: the migrator applies what it
// lacks, as on any database.
func TestSchemaImageBroughtForward(t *testing.T) {
	skipInBrowser(t)
	ctx := context.Background()
	const delta = "main/delta/2/97appservice_ephemeral.sql"
	old, err := schemaImage(ctx, schemaWithout(t, delta))
	if err != nil {
		t.Fatal(err)
	}
	db, rec := openLogged(t, oneConnOptions(t), Schema(), old)
	if n := rec.count("database created from the schema image"); n != 1 {
		t.Fatalf("the image was used %d times, want 1", n)
	}
	if n := rec.count("schema delta applied"); n != 1 {
		t.Errorf("%d deltas applied on the old image, want 1", n)
	}
	made, _ := openLogged(t, oneConnOptions(t), Schema(), nil)
	if diff := cmp.Diff(appliedDeltas(t, made), appliedDeltas(t, db)); diff != "" {
		t.Errorf("applied deltas (-migrator +old image):\n%s", diff)
	}
	if diff := cmp.Diff(schemaSQL(t, made), schemaSQL(t, db)); diff != "" {
		t.Errorf("schema (-migrator +old image):\n%s", diff)
	}
}

// schemaSQL is the text of every object of db's schema, by name.
func schemaSQL(t *testing.T, db *DB) map[string]string {
	t.Helper()
	rows, err := db.Reader().Query("SELECT name, coalesce(sql, '') FROM sqlite_schema")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, s string
		if err := rows.Scan(&name, &s); err != nil {
			t.Fatal(err)
		}
		out[name] = s
	}
	return out
}

// TestSchemaImageNotSQLite: bytes that are not a database are set aside
// with a warning, and the migrator makes the schema itself.
func TestSchemaImageNotSQLite(t *testing.T) {
	db, rec := openLogged(t, oneConnOptions(t), Schema(), []byte(strings.Repeat("not a database ", 20)))
	if n := rec.count("schema image ignored: not a SQLite database"); n != 1 {
		t.Errorf("warned %d times, want 1 (log: %q)", n, rec.msgs)
	}
	if n := rec.count("schema delta applied"); n == 0 {
		t.Error("the migrator applied no delta")
	}
	if v := schemaVersion(t, db); v != SchemaVersion {
		t.Errorf("schema version %d, want %d", v, SchemaVersion)
	}
}

// TestSchemaImageOnlyForNewFiles: an existing database is opened as it
// is; the image is not copied over it.
func TestSchemaImageOnlyForNewFiles(t *testing.T) {
	skipInBrowser(t)
	ctx := context.Background()
	image, err := SchemaImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := oneConnOptions(t)
	db, err := openWith(ctx, o, Schema())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimServerName(ctx, "kept.test"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	rec := &logRecorder{}
	o.Image, o.Logger = image, slog.New(rec)
	db, err = openTree(t, o, Schema())
	if err != nil {
		t.Fatal(err)
	}
	if n := rec.count("database created from the schema image"); n != 0 {
		t.Errorf("the image was copied over an existing database")
	}
	if name, err := db.ClaimServerName(ctx, ""); err != nil || name != "kept.test" {
		t.Errorf("server name %q, %v; want kept.test", name, err)
	}
}

// TestSchemaImageRefusedBySQLite: an image SQLite will not copy (its pages
// are 1,024 bytes, and a backup into a WAL database of another page size
// is refused as read-only, as into the tab's in-memory storage) is set
// aside with a warning; nothing of it was written, and the migrator makes
// the schema itself.
func TestSchemaImageRefusedBySQLite(t *testing.T) {
	o := oneConnOptions(t)
	small := filepath.Join(t.TempDir(), "small.db")
	sdb, err := sql.Open("sqlite3", "file:"+small+"?_pragma=page_size(1024)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.Exec("CREATE TABLE not_hearth (x)"); err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	image, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	db, rec := openLogged(t, o, Schema(), image)
	if n := rec.count("schema image not used"); n != 1 {
		t.Errorf("warned %d times, want 1 (log: %q)", n, rec.msgs)
	}
	if v := schemaVersion(t, db); v != SchemaVersion {
		t.Errorf("schema version %d, want %d", v, SchemaVersion)
	}
	var n int
	if err := db.Reader().QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'not_hearth'").Scan(&n); err != nil || n != 0 {
		t.Errorf("tables of the refused image: %d, %v; want 0", n, err)
	}
}
