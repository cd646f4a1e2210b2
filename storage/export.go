package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrExportLeftover is wrapped by ExportFile's error when an earlier export
// to the same file did not finish (or is still running).
var ErrExportLeftover = errors.New("an earlier export to this file did not finish")

// partialSuffix names the file an export writes before it is complete.
const partialSuffix = ".partial"

// ExportFile writes a consistent single-file copy of the database at o to
// dest, while a server may be using it (VACUUM INTO reads one snapshot).
// When the state database is a file of its own, its tables are copied into
// dest too, so the copy holds the whole homeserver in one file. dest must
// not exist.
//
// The copy is readable by its owner only (0600): it holds every message
// and password hash. It is written as dest.partial and renamed to dest
// once complete, so dest is never a half-written file. An export that
// fails or is cancelled removes dest.partial; one that was killed leaves
// it behind, and the next export to dest is refused with an error wrapping
// ErrExportLeftover that says so.
func ExportFile(ctx context.Context, o Options, dest string) (err error) {
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite it", dest)
	}
	tmp := dest + partialSuffix
	if _, err := os.Stat(tmp); err == nil {
		return fmt.Errorf("export: %s exists: %w (it was killed, or is running now); "+
			"remove %s and any %s-journal beside it, then export again", tmp, ErrExportLeftover, tmp, tmp)
	}
	if err := probe(ctx, o.Path, o, Schema()); err != nil {
		return err
	}
	// Created here, empty, so that it is the owner's only: VACUUM INTO
	// fills an existing empty file and keeps its mode.
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(tmp)
			os.Remove(tmp + "-journal")
		}
	}()
	if err := vacuumInto(ctx, o, tmp); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("export of %s interrupted (%w); nothing was written to %s", o.Path, ctx.Err(), dest)
		}
		return fmt.Errorf("export %s: %w", o.Path, err)
	}
	if o.StatePath != "" {
		if err := mergeStateFile(ctx, o, tmp); err != nil {
			return err
		}
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("%s appeared while exporting; refusing to overwrite it", dest)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// vacuumInto copies the database at o into the empty file dest.
func vacuumInto(ctx context.Context, o Options, dest string) error {
	ro, err := openSQL(dsn(o.Path, o, true), nil)
	if err != nil {
		return err
	}
	defer ro.Close()
	ro.SetMaxOpenConns(1)
	_, err = ro.ExecContext(ctx, "VACUUM INTO ?", dest)
	return err
}

// syncFile flushes path to the disk, so the rename that publishes it never
// names a file whose contents a power cut could lose.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// commonTables exist in every physical file; a merged copy keeps main's.
var commonTables = map[string]bool{
	"schema_version": true, "schema_compat_version": true,
	"applied_schema_deltas": true, "background_updates": true,
}

// mergeStateFile copies the state file's own tables, with their indexes,
// into the single file at dest.
func mergeStateFile(ctx context.Context, o Options, dest string) error {
	one := Options{Path: dest, SynchronousFull: true}
	db, err := openSQL(dsn(dest, one, false), nil)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS src", "file:"+escapePath(o.StatePath)+"?mode=ro"); err != nil {
		return fmt.Errorf("export: attach %s: %w", o.StatePath, err)
	}
	rows, err := conn.QueryContext(ctx, "SELECT type, name, sql FROM src.sqlite_schema WHERE sql IS NOT NULL ORDER BY type = 'index', rowid")
	if err != nil {
		return err
	}
	type obj struct{ typ, name, sql string }
	var objs []obj
	for rows.Next() {
		var x obj
		if err := rows.Scan(&x.typ, &x.name, &x.sql); err != nil {
			rows.Close()
			return err
		}
		objs = append(objs, x)
	}
	rows.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	for _, x := range objs {
		if commonTables[x.name] || strings.HasPrefix(x.name, "sqlite_") {
			continue
		}
		if _, err := conn.ExecContext(ctx, x.sql); err != nil {
			conn.ExecContext(ctx, "ROLLBACK")
			return fmt.Errorf("export: creating %s: %w", x.name, err)
		}
		if x.typ == "table" {
			q := fmt.Sprintf("INSERT INTO main.%q SELECT * FROM src.%q", x.name, x.name)
			if _, err := conn.ExecContext(ctx, q); err != nil {
				conn.ExecContext(ctx, "ROLLBACK")
				return fmt.Errorf("export: copying %s: %w", x.name, err)
			}
		}
	}
	// The state file's deltas made the tables just copied: the copy has
	// them applied, or its next open would make them again.
	if _, err := conn.ExecContext(ctx,
		"INSERT OR IGNORE INTO main.applied_schema_deltas (version, file) SELECT version, file FROM src.applied_schema_deltas WHERE file LIKE 'state/%'"); err != nil {
		conn.ExecContext(ctx, "ROLLBACK")
		return fmt.Errorf("export: copying the state file's deltas: %w", err)
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// ImportFile installs the database file src as the database at o.Path
// (which must not exist), after checking it is a hearth database this code
// can use. The copy is made with VACUUM INTO, so a source in WAL mode is
// copied whole.
func ImportFile(ctx context.Context, src string, o Options) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if _, err := os.Stat(o.Path); err == nil {
		return fmt.Errorf("import: %s already exists; move it away first", o.Path)
	}
	srcOpts := Options{Path: src}
	if err := probe(ctx, src, srcOpts, Schema()); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	rep, err := Inspect(ctx, srcOpts)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if rep.SchemaVersion == 0 {
		return fmt.Errorf("import: %s: %w", src, ErrForeign)
	}
	tmp := o.Path + ".importing"
	os.Remove(tmp)
	if err := ExportFile(ctx, srcOpts, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("import: %w", err)
	}
	if err := os.Rename(tmp, o.Path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("import: %w", err)
	}
	return nil
}
