package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ncruces/go-sqlite3"
)

// ErrTooNew is wrapped by the error Open returns for a database written by a
// newer hearth than this one can use.
var ErrTooNew = errors.New("database is too new for this hearth")

// ErrForeign is wrapped by the error Open returns for a file that is not a
// hearth database (another application's SQLite file, or not SQLite at all).
var ErrForeign = errors.New("not a hearth database")

// ErrIncomplete is wrapped by the error for a database file whose last
// write stopped half-way where a read-only open cannot repair it (a hot
// rollback journal beside it), such as a copy killed before it finished.
var ErrIncomplete = errors.New("the file is incomplete")

// physicalFile is one SQLite file and the logical databases it holds.
type physicalFile struct {
	path    string
	logical []string
}

func physicalFiles(o Options) []physicalFile {
	if o.StatePath == "" {
		return []physicalFile{{o.Path, []string{LogicalMain, LogicalState}}}
	}
	return []physicalFile{{o.Path, []string{LogicalMain}}, {o.StatePath, []string{LogicalState}}}
}

// probe looks at path read-only and refuses, without changing a byte of
// it, a file that is not SQLite, a SQLite file of another application, and
// a hearth database whose compat version is newer than tree.Version. A
// missing or empty file passes: it will be created.
func probe(ctx context.Context, path string, o Options, tree *SchemaTree) error {
	ro, err := openSQL(dsn(path, o, true), nil)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer ro.Close()
	ro.SetMaxOpenConns(1)

	var tables int
	err = ro.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables)
	switch {
	case errors.Is(err, sqlite3.CANTOPEN):
		return nil // does not exist yet
	case errors.Is(err, sqlite3.READONLY_ROLLBACK):
		// A hot journal: a write to the file stopped half-way, and a
		// read-only open cannot roll it back.
		return fmt.Errorf("%s: %w: %s-journal beside it records a write that never finished "+
			"(a copy or an older hearth's export killed half-way?)", path, ErrIncomplete, path)
	case errors.Is(err, sqlite3.NOTADB), errors.Is(err, sqlite3.CORRUPT):
		return fmt.Errorf("%s: %w: the file is not a SQLite database or is corrupt (%v)", path, ErrForeign, err)
	case err != nil:
		return fmt.Errorf("%s: cannot read database: %w", path, err)
	}
	if tables == 0 {
		return nil
	}
	var hasVersion int
	if err := ro.QueryRowContext(ctx,
		"SELECT count(*) FROM sqlite_schema WHERE type='table' AND name IN ('schema_version','schema_compat_version')").Scan(&hasVersion); err != nil {
		return fmt.Errorf("%s: cannot read database: %w", path, err)
	}
	if hasVersion != 2 {
		return fmt.Errorf("%s: %w: it is a SQLite database without hearth's schema_version tables", path, ErrForeign)
	}
	compat, err := compatVersion(ctx, ro)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if compat > tree.Version {
		return fmt.Errorf("%s: %w: its compat version is %d but this hearth's schema version is %d; use a newer hearth",
			path, ErrTooNew, compat, tree.Version)
	}
	return nil
}

func compatVersion(ctx context.Context, q Queryer) (int, error) {
	var compat int
	err := q.QueryRowContext(ctx, "SELECT compat_version FROM schema_compat_version").Scan(&compat)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading compat version: %w", err)
	}
	return compat, nil
}

// migrateFile creates the schema of a new file, or brings an existing one
// forward, on a connection of its own.
func migrateFile(ctx context.Context, path string, o Options, tree *SchemaTree, logical []string, log *slog.Logger) error {
	one := o
	one.StatePath = ""
	db, err := openSQL(dsn(path, one, false), nil)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, describeOpenError(err))
	}
	defer conn.Close()
	m := migrator{conn: conn, tree: tree, path: path, log: log}
	return m.run(ctx, logical)
}

// describeOpenError adds the likely cause to errors that mean the file or
// its folder cannot be written.
func describeOpenError(err error) error {
	if errors.Is(err, sqlite3.CANTOPEN) || errors.Is(err, sqlite3.READONLY) || errors.Is(err, sqlite3.PERM) {
		return fmt.Errorf("%w (is the data folder writable?)", err)
	}
	return err
}

type migrator struct {
	conn *sql.Conn
	tree *SchemaTree
	path string
	log  *slog.Logger
}

func (m *migrator) run(ctx context.Context, logical []string) error {
	var exists int
	if err := m.conn.QueryRowContext(ctx,
		"SELECT count(*) FROM sqlite_schema WHERE type='table' AND name='schema_version'").Scan(&exists); err != nil {
		return fmt.Errorf("%s: %w", m.path, describeOpenError(err))
	}
	fullAt := map[string]int{}
	current := 0
	if exists == 0 {
		v, err := m.create(ctx, logical, fullAt)
		if err != nil {
			return err
		}
		current = v
	} else {
		if err := m.conn.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&current); err != nil {
			return fmt.Errorf("%s: reading schema version: %w", m.path, err)
		}
		compat, err := compatVersion(ctx, m.conn)
		if err != nil {
			return fmt.Errorf("%s: %w", m.path, err)
		}
		if compat > m.tree.Version {
			return fmt.Errorf("%s: %w: its compat version is %d but this hearth's schema version is %d; use a newer hearth",
				m.path, ErrTooNew, compat, m.tree.Version)
		}
	}
	// Deltas run from the current version's own directory (a delta added
	// there after this database reached the version still applies) up to
	// the code's version.
	for v := current; v <= m.tree.Version; v++ {
		for _, db := range logical {
			if f, ok := fullAt[db]; ok && v <= f {
				continue // covered by the full schema this file was made from
			}
			ds, err := m.tree.deltas(db, v)
			if err != nil {
				return fmt.Errorf("%s: reading deltas: %w", m.path, err)
			}
			for _, d := range ds {
				if err := m.apply(ctx, v, d); err != nil {
					return err
				}
			}
		}
		if v > current {
			if _, err := m.conn.ExecContext(ctx, "UPDATE schema_version SET version = ?, upgraded = 1", v); err != nil {
				return fmt.Errorf("%s: recording schema version %d: %w", m.path, v, err)
			}
			m.log.Info("schema upgraded", "file", m.path, "version", v)
		}
	}
	if _, err := m.conn.ExecContext(ctx,
		"UPDATE schema_compat_version SET compat_version = ? WHERE compat_version < ?",
		m.tree.CompatVersion, m.tree.CompatVersion); err != nil {
		return fmt.Errorf("%s: recording compat version: %w", m.path, err)
	}
	return nil
}

// create lays down the common tables and each logical database's newest
// full schema in one transaction, and returns the version the file is then
// at (the lowest of the full schemas used).
func (m *migrator) create(ctx context.Context, logical []string, fullAt map[string]int) (int, error) {
	common, err := m.tree.common()
	if err != nil {
		return 0, err
	}
	version := m.tree.Version
	scripts := []string{common}
	for _, db := range logical {
		v, sqlText, err := m.tree.fullSchema(db)
		if err != nil {
			return 0, err
		}
		fullAt[db] = v
		version = min(version, v)
		scripts = append(scripts, sqlText)
	}
	err = m.inTx(ctx, func() error {
		for _, s := range scripts {
			if _, err := m.conn.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		if _, err := m.conn.ExecContext(ctx, "INSERT INTO schema_version (lock, version, upgraded) VALUES ('X', ?, 0)", version); err != nil {
			return err
		}
		_, err := m.conn.ExecContext(ctx, "INSERT INTO schema_compat_version (lock, compat_version) VALUES ('X', ?)", m.tree.CompatVersion)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: creating schema: %w", m.path, describeOpenError(err))
	}
	m.log.Info("database created", "file", m.path, "schema_version", version, "logical", logical)
	return version, nil
}

// apply runs one delta in its own transaction, unless it ran before.
func (m *migrator) apply(ctx context.Context, v int, d delta) error {
	var done int
	if err := m.conn.QueryRowContext(ctx,
		"SELECT count(*) FROM applied_schema_deltas WHERE version = ? AND file = ?", v, d.name).Scan(&done); err != nil {
		return fmt.Errorf("%s: reading applied deltas: %w", m.path, err)
	}
	if done > 0 {
		return nil
	}
	err := m.inTx(ctx, func() error {
		if d.fn != nil {
			if err := d.fn(ctx, m.conn); err != nil {
				return err
			}
		} else if _, err := m.conn.ExecContext(ctx, d.sql); err != nil {
			return err
		}
		_, err := m.conn.ExecContext(ctx, "INSERT INTO applied_schema_deltas (version, file) VALUES (?, ?)", v, d.name)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: schema delta %s failed, database left as it was: %w", m.path, d.name, err)
	}
	m.log.Info("schema delta applied", "file", m.path, "delta", d.name)
	return nil
}

func (m *migrator) inTx(ctx context.Context, fn func() error) (err error) {
	if _, err := m.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
		if err != nil {
			_, _ = m.conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	if err := fn(); err != nil {
		return err
	}
	_, err = m.conn.ExecContext(ctx, "COMMIT")
	return err
}
