package storage

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
)

// openOne opens a one-file database that lives on a single connection
// (see singleConnection) on that connection alone: the probe, the
// migration, and then every read and write of the DB. Where SQLite runs in
// the browser an open is slow (the OPFS file's sync access handle is taken
// again, and the WAL a killed worker left is read again), so a start costs
// one open, not the three of probe, migrator and writer.
//
// The connection opens without the journal pragmas and first only reads:
// the probe and the schema state in one statement each. So a foreign file,
// or a database too new for this code, is refused without a byte of it
// changed, as by probe. Then WAL and the synchronous level are set, and the
// migrator, which has nothing to do on a current database, runs from the
// state already read.
func openOne(ctx context.Context, o Options, tree *SchemaTree, log *slog.Logger) (*sql.DB, error) {
	// A connection the pool opens later (after a broken one) is on a
	// database already checked: it takes the journal pragmas at once.
	var checked atomic.Bool
	w, err := openSQL(dsnWith(o.Path, o, false, false), func(c *sqlite3.Conn) error {
		if checked.Load() {
			return c.Exec(journalPragmas(o))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", o.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrateOne(ctx, w, o, tree, log, &checked); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// migrateOne checks, sets up and migrates the database on w's connection.
func migrateOne(ctx context.Context, w *sql.DB, o Options, tree *SchemaTree, log *slog.Logger, checked *atomic.Bool) error {
	conn, err := w.Conn(ctx)
	if err != nil {
		return describeOpenError(readError(o.Path, err))
	}
	defer conn.Close()
	hasSchema, err := probeFile(ctx, conn, o.Path)
	if err != nil {
		return describeOpenError(err)
	}
	var st *schemaState
	if hasSchema {
		if st, err = readSchemaState(ctx, conn, o.Path); err != nil {
			return err
		}
		if err := checkCompat(o.Path, st.compat, tree); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, journalPragmas(o)); err != nil {
		return fmt.Errorf("open %s: %w", o.Path, describeOpenError(err))
	}
	checked.Store(true)
	m := migrator{conn: conn, tree: tree, path: o.Path, log: log, image: o.Image}
	return m.run(ctx, []string{LogicalMain, LogicalState}, st)
}
