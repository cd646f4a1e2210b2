package storage

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ncruces/go-sqlite3/vfs"
)

// writeVFSFile puts data into a file of the test VFS.
func writeVFSFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if testVFS == "" {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, _, err := vfs.Find(testVFS).Open(name, vfs.OPEN_CREATE|vfs.OPEN_READWRITE|vfs.OPEN_MAIN_DB)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
}

// TestDBExportAndSize: the open database exports a consistent copy to a
// writer (in the test VFS too, as the browser does), which is a hearth
// database with the same contents; Size is its page count times page size.
func TestDBExportAndSize(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	db := mustOpenWith(t, o)
	if _, err := db.ClaimServerName(ctx, "export.test"); err != nil {
		t.Fatal(err)
	}
	// What an export killed half-way leaves is cleared first.
	writeVFSFile(t, o.Path+exportSuffix, []byte("half of an earlier export"))
	var buf bytes.Buffer
	if err := db.Export(ctx, &buf); err != nil {
		t.Fatalf("Export: %v", err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("SQLite format 3\x00")) {
		t.Fatalf("export is not a SQLite file (%d bytes)", buf.Len())
	}
	if ok, _ := vfs.Find(testVFS).Access(o.Path+exportSuffix, vfs.ACCESS_EXISTS); ok {
		t.Error("Export left its temporary copy behind")
	}
	copyPath := testPath(t, "copy.db")
	writeVFSFile(t, copyPath, buf.Bytes())
	rep, err := Inspect(ctx, Options{Path: copyPath, VFS: testVFS})
	if err != nil {
		t.Fatalf("Inspect(export): %v", err)
	}
	if rep.ServerName != "export.test" || rep.PageCount*rep.PageSize != int64(buf.Len()) {
		t.Errorf("export: server %q, %d pages of %d for %d bytes", rep.ServerName, rep.PageCount, rep.PageSize, buf.Len())
	}

	size, err := db.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The browser VFSes hold the database exclusively while it is open, so
	// it is read back after Close (which checkpoints it to the same pages).
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	orig, err := Inspect(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := orig.PageCount * orig.PageSize; size != want || size == 0 {
		t.Errorf("Size = %d, want %d (page_count * page_size)", size, want)
	}
}

// TestDBExportTwoFiles: with the state database in a file of its own, the
// export still holds the whole homeserver in one file, and Size counts
// both files.
func TestDBExportTwoFiles(t *testing.T) {
	if testVFS != "" || runtime.GOOS == "js" {
		t.Skip("two-file mode is for native hosts")
	}
	ctx := context.Background()
	dir := t.TempDir()
	o := Options{Path: filepath.Join(dir, "hearth.db"), StatePath: filepath.Join(dir, "state.db"), Logger: quietLog}
	db, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimServerName(ctx, "two.test"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := db.Export(ctx, &buf); err != nil {
		t.Fatalf("Export: %v", err)
	}
	size, err := db.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed, both files are checkpointed to their full page count.
	var files int64
	for _, p := range []string{o.Path, o.StatePath} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		files += st.Size()
	}
	if size != files {
		t.Errorf("Size = %d, want %d (both files)", size, files)
	}

	single := filepath.Join(t.TempDir(), "hearth.db")
	if err := os.WriteFile(single, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	one, err := Open(ctx, Options{Path: single, Logger: quietLog})
	if err != nil {
		t.Fatalf("the export does not open as a single-file database: %v", err)
	}
	defer one.Close()
	var groups int
	if err := one.Reader().QueryRowContext(ctx, "SELECT count(*) FROM state_groups").Scan(&groups); err != nil {
		t.Errorf("the export lacks the state database's tables: %v", err)
	}
	if name, err := one.ServerName(ctx); err != nil || name != "two.test" {
		t.Errorf("export's server name = %q, %v", name, err)
	}
}
