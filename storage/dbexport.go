package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// exportSuffix names the temporary copy Export makes beside the database.
const exportSuffix = "-export"

// Export writes a consistent single-file copy of the open database to w,
// while it keeps serving: VACUUM INTO writes the snapshot of one read
// transaction (WAL content included) to a file beside the database, in the
// database's own VFS (the browser's OPFS or IndexedDB too), which is then
// copied to w and deleted. With a separate state file, its tables are
// merged into the copy. The result opens with `hearth db import`, like
// ExportFile's. One export runs at a time.
func (db *DB) Export(ctx context.Context, w io.Writer) error {
	db.exportMu.Lock()
	defer db.exportMu.Unlock()
	v := vfs.Find(db.opts.VFS)
	if v == nil {
		return fmt.Errorf("storage: export: SQLite VFS %q is not registered", db.opts.VFS)
	}
	tmp := db.opts.Path + exportSuffix
	// A copy left by an export that was killed is of no use.
	if err := removeDatabaseFile(v, tmp); err != nil {
		return fmt.Errorf("storage: export: %w", err)
	}
	defer removeDatabaseFile(v, tmp)
	if db.opts.VFS == "" {
		// The owner's only, from the start (VACUUM INTO keeps the mode of
		// an empty file it fills).
		f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("storage: export: %w", err)
		}
		f.Close()
	}
	if err := db.vacuumInto(ctx, tmp); err != nil {
		return fmt.Errorf("storage: export %s: %w", db.opts.Path, err)
	}
	if db.opts.StatePath != "" {
		if err := mergeStateFile(ctx, db.opts, tmp); err != nil {
			return err
		}
	}
	if err := copyFile(w, v, db.opts.VFS, tmp); err != nil {
		return fmt.Errorf("storage: export: %w", err)
	}
	return nil
}

// copyFile copies the file name of the VFS named vfsName (v) to w.
func copyFile(w io.Writer, v vfs.VFS, vfsName, name string) error {
	if vfsName == "" {
		// The operating system's VFS opens files only for SQLite itself.
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	}
	f, _, err := v.Open(name, vfs.OPEN_READONLY|vfs.OPEN_MAIN_DB)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return err
	}
	_, err = io.Copy(w, io.NewSectionReader(f, 0, size))
	return err
}

// vacuumInto copies hearth.db's logical databases into the empty or
// missing file dest. The browser's single connection does it itself;
// natively a read-only connection of its own reads beside the writer.
func (db *DB) vacuumInto(ctx context.Context, dest string) error {
	if !db.single {
		return vacuumInto(ctx, db.opts, dest)
	}
	target := "file:" + escapePath(dest)
	if db.opts.VFS != "" {
		target += "?vfs=" + db.opts.VFS
	}
	_, err := db.reader.ExecContext(ctx, "VACUUM "+db.mainSchema+" INTO ?", target)
	return err
}

// removeDatabaseFile deletes name and its rollback journal from v; a
// missing file is not an error.
func removeDatabaseFile(v vfs.VFS, name string) error {
	for _, n := range [...]string{name + "-journal", name} {
		ok, err := v.Access(n, vfs.ACCESS_EXISTS)
		if err != nil || !ok {
			continue
		}
		if err := v.Delete(n, false); err != nil && !errors.Is(err, sqlite3.IOERR_DELETE_NOENT) {
			return fmt.Errorf("delete %s: %w", n, err)
		}
	}
	return nil
}

// Size is the database's size in bytes: the pages of hearth.db, and of the
// state file when it is separate (WAL content not yet checkpointed is not
// counted).
func (db *DB) Size(ctx context.Context) (int64, error) {
	schemas := []string{db.mainSchema}
	if db.opts.StatePath != "" {
		schemas = append(schemas, "main") // the state file is the connection's primary
	}
	var total int64
	for _, s := range schemas {
		// Plain PRAGMAs, not the pragma_page_count() table-valued
		// functions: those go through SQLite's virtual-table code, which
		// nothing else runs before the tab's first answer and which V8
		// would compile for this alone. s is one of our schema names.
		var pages, size int64
		if err := db.reader.QueryRowContext(ctx, "PRAGMA "+s+".page_count").Scan(&pages); err != nil {
			return 0, fmt.Errorf("storage: size of %s: %w", s, err)
		}
		if err := db.reader.QueryRowContext(ctx, "PRAGMA "+s+".page_size").Scan(&size); err != nil {
			return 0, fmt.Errorf("storage: size of %s: %w", s, err)
		}
		total += pages * size
	}
	return total, nil
}
