package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

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

	hasSchema, err := probeFile(ctx, ro, path)
	if err != nil || !hasSchema {
		return err
	}
	compat, err := compatVersion(ctx, ro)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return checkCompat(path, compat, tree)
}

// probeSQL classifies a file in one read: how many objects its schema
// has, and how many of hearth's two version tables are among them.
const probeSQL = `SELECT count(*),
	count(*) FILTER (WHERE type = 'table' AND name IN ('schema_version', 'schema_compat_version'))
	FROM sqlite_schema`

// probeFile reads the schema of path through q and refuses a file that is
// not SQLite, is incomplete, or belongs to another application. It
// reports whether hearth's schema is there: false for a missing or empty
// file, which will be created. It reads only.
func probeFile(ctx context.Context, q Queryer, path string) (hasSchema bool, err error) {
	var tables, versionTables int
	err = q.QueryRowContext(ctx, probeSQL).Scan(&tables, &versionTables)
	if errors.Is(err, sqlite3.CANTOPEN) {
		return false, nil // does not exist yet
	}
	if err != nil {
		return false, readError(path, err)
	}
	if tables == 0 {
		return false, nil
	}
	if versionTables != 2 {
		return false, fmt.Errorf("%s: %w: it is a SQLite database without hearth's schema_version tables", path, ErrForeign)
	}
	return true, nil
}

// readError says why the first read of path failed.
func readError(path string, err error) error {
	switch {
	case errors.Is(err, sqlite3.READONLY_ROLLBACK):
		// A hot journal: a write to the file stopped half-way, and a
		// read-only open cannot roll it back.
		return fmt.Errorf("%s: %w: %s-journal beside it records a write that never finished "+
			"(a copy or an older hearth's export killed half-way?)", path, ErrIncomplete, path)
	case errors.Is(err, sqlite3.NOTADB), errors.Is(err, sqlite3.CORRUPT):
		return fmt.Errorf("%s: %w: the file is not a SQLite database or is corrupt (%v)", path, ErrForeign, err)
	}
	return fmt.Errorf("%s: cannot read database: %w", path, err)
}

// checkCompat refuses a database whose compat version is newer than the
// tree's schema version.
func checkCompat(path string, compat int, tree *SchemaTree) error {
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

// schemaState is where a hearth file's schema stands: its version, its
// compat version, and the deltas applied at that version or later (keyed
// by deltaKeyOf).
type schemaState struct {
	version, compat int
	applied         map[string]bool
}

// schemaStateSQL reads a schemaState in one statement: on a database that
// is current this is the whole of the migrator's work at start.
const schemaStateSQL = `SELECT (SELECT version FROM schema_version),
	coalesce((SELECT compat_version FROM schema_compat_version), 0),
	coalesce((SELECT group_concat(version || ' ' || file, char(10)) FROM applied_schema_deltas
		WHERE version >= (SELECT version FROM schema_version)), '')`

// readSchemaState reads the schema state of a file that has hearth's
// version tables.
func readSchemaState(ctx context.Context, q Queryer, path string) (*schemaState, error) {
	var version sql.NullInt64
	var compat int
	var applied string
	if err := q.QueryRowContext(ctx, schemaStateSQL).Scan(&version, &compat, &applied); err != nil {
		return nil, fmt.Errorf("%s: reading schema version: %w", path, err)
	}
	if !version.Valid {
		return nil, fmt.Errorf("%s: reading schema version: %w", path, sql.ErrNoRows)
	}
	st := &schemaState{version: int(version.Int64), compat: compat, applied: map[string]bool{}}
	for _, k := range strings.Split(applied, "\n") {
		if k != "" {
			st.applied[k] = true
		}
	}
	return st, nil
}

// deltaKeyOf is how schemaState.applied names delta d of version v.
func deltaKeyOf(v int, name string) string { return strconv.Itoa(v) + " " + name }

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
	hasSchema, err := probeFile(ctx, conn, path)
	if err != nil {
		return describeOpenError(err)
	}
	var st *schemaState
	if hasSchema {
		if st, err = readSchemaState(ctx, conn, path); err != nil {
			return err
		}
	}
	m := migrator{conn: conn, tree: tree, path: path, log: log, image: o.Image}
	return m.run(ctx, logical, st)
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
	// image, when set, is a schema image (schemaimage.go) that a new file
	// holding every logical database starts from.
	image []byte
	// oneTx is set while createAll's transaction is open: the steps in it
	// open none of their own.
	oneTx bool
}

// run brings the file forward from st, the state read at open, or creates
// its schema when st is nil: from the schema image when there is one (and
// then forward, should the image lack deltas), else statement by
// statement. A current file costs no statement at all.
func (m *migrator) run(ctx context.Context, logical []string, st *schemaState) error {
	fullAt := map[string]int{}
	if st == nil && m.image != nil && len(logical) == 2 {
		var err error
		st, err = restoreImage(ctx, m.conn, m.path, m.image)
		switch {
		case errors.Is(err, errNotImage):
			m.log.Warn("schema image ignored: not a SQLite database", "file", m.path, "bytes", len(m.image))
		case errors.Is(err, errImageNotCopied):
			// SQLite refused the copy (a backup into an in-memory
			// database of another page size is refused as read-only);
			// nothing was written, so the schema is made as without one.
			m.log.Warn("schema image not used", "file", m.path, "err", err)
			st = nil
		case err != nil:
			return err
		default:
			m.log.Info("database created from the schema image", "file", m.path, "schema_version", st.version, "deltas", len(st.applied))
		}
	}
	if st == nil {
		return m.createAll(ctx, logical, fullAt)
	}
	if err := checkCompat(m.path, st.compat, m.tree); err != nil {
		return err
	}
	return m.forward(ctx, logical, st, fullAt)
}

// createAll makes a new file: the common tables, the newest full schemas
// and every delta since, in one transaction. One commit instead of one per
// delta (a sync each, the slowest part of a browser tab's first start), and
// a failure leaves the file without a schema, made again at the next open.
func (m *migrator) createAll(ctx context.Context, logical []string, fullAt map[string]int) error {
	var stepErr error
	err := m.inTx(ctx, func() error {
		m.oneTx = true
		defer func() { m.oneTx = false }()
		v, err := m.create(ctx, logical, fullAt)
		if err == nil {
			err = m.forward(ctx, logical, &schemaState{version: v, compat: m.tree.CompatVersion, applied: map[string]bool{}}, fullAt)
		}
		stepErr = err
		return err
	})
	if err != nil && stepErr == nil {
		return fmt.Errorf("%s: creating schema: %w", m.path, describeOpenError(err))
	}
	return err
}

// forward applies the deltas st lacks, up to the code's version.
func (m *migrator) forward(ctx context.Context, logical []string, st *schemaState, fullAt map[string]int) error {
	// Deltas run from the current version's own directory (a delta added
	// there after this database reached the version still applies) up to
	// the code's version.
	for v := st.version; v <= m.tree.Version; v++ {
		for _, db := range logical {
			if f, ok := fullAt[db]; ok && v <= f {
				continue // covered by the full schema this file was made from
			}
			ds, err := m.tree.deltas(db, v)
			if err != nil {
				return fmt.Errorf("%s: reading deltas: %w", m.path, err)
			}
			for _, d := range ds {
				if st.applied[deltaKeyOf(v, d.name)] {
					continue
				}
				if err := m.apply(ctx, v, d); err != nil {
					return err
				}
			}
		}
		if v > st.version {
			if _, err := m.conn.ExecContext(ctx, "UPDATE schema_version SET version = ?, upgraded = 1", v); err != nil {
				return fmt.Errorf("%s: recording schema version %d: %w", m.path, v, err)
			}
			m.log.Info("schema upgraded", "file", m.path, "version", v)
		}
	}
	if st.compat < m.tree.CompatVersion {
		if _, err := m.conn.ExecContext(ctx,
			"UPDATE schema_compat_version SET compat_version = ? WHERE compat_version < ?",
			m.tree.CompatVersion, m.tree.CompatVersion); err != nil {
			return fmt.Errorf("%s: recording compat version: %w", m.path, err)
		}
	}
	return nil
}

// create lays down the common tables and each logical database's newest
// full schema (in createAll's transaction), and returns the version the file is then
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

// apply runs one delta, which has not run before, in its own transaction
// (in createAll's, for a new file).
func (m *migrator) apply(ctx context.Context, v int, d delta) error {
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
	if m.oneTx {
		return fn()
	}
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
