package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// Report describes a database file without changing it.
type Report struct {
	Path           string
	SchemaVersion  int
	CompatVersion  int
	CodeVersion    int // SchemaVersion of this build
	AppliedDeltas  []string
	PendingUpdates []PendingUpdate
	ServerName     string
	PageCount      int64
	PageSize       int64
}

// Inspect reads the schema state of the database at o.Path read-only. It
// refuses foreign files like Open does, but also reports a too-new
// database instead of refusing it (the report says both versions).
func Inspect(ctx context.Context, o Options) (*Report, error) {
	tree := Schema()
	lenient := *tree
	lenient.Version = 1 << 30 // report, do not refuse, a newer database
	if err := probe(ctx, o.Path, o, &lenient); err != nil {
		return nil, err
	}
	ro, err := openSQL(dsn(o.Path, o, true), nil)
	if err != nil {
		return nil, err
	}
	defer ro.Close()
	ro.SetMaxOpenConns(1)
	r := &Report{Path: o.Path, CodeVersion: tree.Version}
	if err := ro.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&r.SchemaVersion); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Path, errors.Join(ErrForeign, err))
	}
	if r.CompatVersion, err = compatVersion(ctx, ro); err != nil {
		return nil, err
	}
	rows, err := ro.QueryContext(ctx, "SELECT version, file FROM applied_schema_deltas ORDER BY version, file")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var v int
		var f string
		if err := rows.Scan(&v, &f); err != nil {
			rows.Close()
			return nil, err
		}
		r.AppliedDeltas = append(r.AppliedDeltas, f)
	}
	rows.Close()
	rows, err = ro.QueryContext(ctx, `SELECT update_name, progress_json, coalesce(depends_on, ''), ordering
		FROM background_updates ORDER BY ordering, update_name`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var p PendingUpdate
		var prog string
		if err := rows.Scan(&p.Name, &prog, &p.DependsOn, &p.Ordering); err != nil {
			rows.Close()
			return nil, err
		}
		p.Progress = json.RawMessage(prog)
		r.PendingUpdates = append(r.PendingUpdates, p)
	}
	rows.Close()
	if v, err := configValue(ctx, ro, "server_name"); err == nil {
		r.ServerName = v
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	ro.QueryRowContext(ctx, "PRAGMA page_count").Scan(&r.PageCount)
	ro.QueryRowContext(ctx, "PRAGMA page_size").Scan(&r.PageSize)
	return r, nil
}
