package storage

import (
	"context"
	"fmt"
)

// dropOrphanStateGroups removes, when the state database is a file of its
// own, the state groups that a write cut off by a crash left behind.
//
// SQLite commits a write that spans the two files one file after the
// other, the state file first (see openWith), so a crash between the two
// keeps the new state groups and loses the events that name them. Such
// groups are the newest: every group an event names was made before that
// event was stored, so the groups above the highest one named are the ones
// nothing names. They do no harm (IDs are never reused: AUTOINCREMENT),
// but they are dead weight, and they are removed here, before any write.
// A group stored by StoreStateGroup and not yet named by an event when the
// process stopped goes the same way, and so do the groups of a room that
// is no longer stored (PurgeRoom removes them after the room).
func (db *DB) dropOrphanStateGroups(ctx context.Context) error {
	var dropped int64
	err := db.Write(ctx, func(q Queryer) error {
		var tables int
		if err := q.QueryRowContext(ctx, `
			SELECT (SELECT count(*) FROM main.sqlite_schema WHERE type = 'table' AND name = 'state_groups')
			     + (SELECT count(*) FROM `+db.mainSchema+`.sqlite_schema WHERE type = 'table' AND name = 'event_to_state_groups')`).
			Scan(&tables); err != nil {
			return fmt.Errorf("storage: state group tables: %w", err)
		}
		if tables != 2 {
			return nil // a schema without state groups (tests of the migrator)
		}
		var newest int64
		if err := q.QueryRowContext(ctx,
			"SELECT coalesce(max(state_group), 0) FROM event_to_state_groups").Scan(&newest); err != nil {
			return fmt.Errorf("storage: newest state group named: %w", err)
		}
		for _, stmt := range []string{
			"DELETE FROM state_groups_state WHERE state_group > ?",
			"DELETE FROM state_group_edges WHERE state_group > ?",
		} {
			if _, err := q.ExecContext(ctx, stmt, newest); err != nil {
				return fmt.Errorf("storage: drop orphan state groups: %w", err)
			}
		}
		res, err := q.ExecContext(ctx, "DELETE FROM state_groups WHERE id > ?", newest)
		if err != nil {
			return fmt.Errorf("storage: drop orphan state groups: %w", err)
		}
		if dropped, err = res.RowsAffected(); err != nil {
			return err
		}
		// The groups of rooms that are gone (a purge cut off between its
		// two writes).
		gone := "SELECT id FROM state_groups WHERE room_id NOT IN (SELECT room_id FROM " + db.mainSchema + ".rooms)"
		for _, stmt := range []string{
			"DELETE FROM state_groups_state WHERE state_group IN (" + gone + ")",
			"DELETE FROM state_group_edges WHERE state_group IN (" + gone + ")",
		} {
			if _, err := q.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("storage: drop orphan state groups: %w", err)
			}
		}
		if res, err = q.ExecContext(ctx, "DELETE FROM state_groups WHERE id IN ("+gone+")"); err != nil {
			return fmt.Errorf("storage: drop orphan state groups: %w", err)
		}
		n, err := res.RowsAffected()
		dropped += n
		return err
	})
	if err != nil {
		return err
	}
	if dropped > 0 {
		db.log.Warn("removed state groups that no event names, left by a write a crash cut off",
			"state_groups", dropped, "file", db.opts.StatePath)
	}
	return nil
}
