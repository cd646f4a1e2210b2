package storage

import (
	"context"
	"encoding/json"
	"fmt"

	"hearth.dev/hearth/core"
)

// The statements of a room purge. ?1 is the room's nid, or for
// sqlPurgeByEvent the JSON array of its event nids, or for sqlPurgeByRoomID
// its room ID. The rows that name one of the room's events are deleted
// before the events, so deleting an event only checks its foreign keys.
var (
	sqlPurgeStateGroups = []string{
		"DELETE FROM state_group_edges WHERE state_group IN (SELECT id FROM state_groups WHERE room_id = ?1)",
		"DELETE FROM state_groups_state WHERE state_group IN (SELECT id FROM state_groups WHERE room_id = ?1)",
		"DELETE FROM state_groups WHERE room_id = ?1",
		"DELETE FROM state_compressor_progress WHERE room_id = ?1",
	}
	sqlPurgeByRoomNID = []string{
		"DELETE FROM current_state_events WHERE room_nid = ?1",
		"DELETE FROM local_current_membership WHERE room_nid = ?1",
		"DELETE FROM event_forward_extremities WHERE room_nid = ?1",
		"DELETE FROM event_backward_extremities WHERE room_nid = ?1",
		"DELETE FROM receipts WHERE room_nid = ?1",
		"DELETE FROM threads WHERE room_nid = ?1",
		"DELETE FROM event_push_actions WHERE room_nid = ?1",
		"DELETE FROM event_relations WHERE room_nid = ?1",
		"DELETE FROM event_txn_id WHERE room_nid = ?1",
		"DELETE FROM room_memberships WHERE room_nid = ?1",
	}
	sqlPurgeByEvent = []string{
		"DELETE FROM event_to_state_groups WHERE event_nid IN (SELECT value FROM json_each(?1))",
		"DELETE FROM redactions WHERE event_nid IN (SELECT value FROM json_each(?1))",
		"DELETE FROM event_auth_chain_links WHERE origin_chain_id IN (SELECT chain_id FROM event_auth_chains WHERE event_nid IN (SELECT value FROM json_each(?1)))",
		"DELETE FROM event_auth_chains WHERE event_nid IN (SELECT value FROM json_each(?1))",
		"DELETE FROM event_auth_chain_to_calculate WHERE event_nid IN (SELECT value FROM json_each(?1))",
		// The triggers on event_json take the events out of the search index.
		"DELETE FROM event_json WHERE event_nid IN (SELECT value FROM json_each(?1))",
		"DELETE FROM events WHERE event_nid IN (SELECT value FROM json_each(?1))",
	}
	sqlPurgeByRoomID = []string{
		"DELETE FROM room_aliases WHERE room_id = ?1",
		"DELETE FROM room_forgotten WHERE room_id = ?1",
		"DELETE FROM account_data WHERE room_id = ?1",
		"DELETE FROM rooms WHERE room_id = ?1",
	}
)

// PurgeRoom removes roomID from the database in one write; see
// core.AdminRoomStore. With the state database in a file of its own, whose
// half of a write commits first (see openWith), the room's state groups go
// in a second write after the rest: a crash in between leaves groups of a
// room that no longer exists, which the next open removes, never events
// whose state groups are gone.
func (s *AdminRoomStore) PurgeRoom(ctx context.Context, roomID string) (core.PurgedRoom, error) {
	var out core.PurgedRoom
	twoFiles := s.db.opts.StatePath != ""
	// The room leaves its local members' room lists.
	defer s.db.members.invalidate()
	err := s.db.Write(ctx, func(q Queryer) error {
		out = core.PurgedRoom{}
		markMembersChanged(q)
		dropWriterKeys(q) // the room's key goes
		s.db.sentReads.forget()
		nid, err := roomNID(reader{ctx: ctx, q: q}, roomID)
		if err != nil {
			return err
		}
		nids, err := roomEventNIDs(ctx, q, nid)
		if err != nil {
			return err
		}
		out.Events = int64(len(nids))
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM state_groups WHERE room_id = ?", roomID).Scan(&out.StateGroups); err != nil {
			return err
		}
		list, err := json.Marshal(nids)
		if err != nil {
			return err
		}
		stateGroups := sqlPurgeStateGroups
		if twoFiles {
			stateGroups = nil
		}
		for _, step := range []struct {
			stmts []string
			arg   any
		}{
			{stateGroups, roomID},
			{sqlPurgeByRoomNID, nid},
			{sqlPurgeByEvent, string(list)},
			{sqlPurgeByRoomID, roomID},
		} {
			if err := execAll(ctx, q, step.stmts, step.arg); err != nil {
				return err
			}
		}
		return nil
	})
	s.db.chains.reset() // the room's events may be stored again, at other auth chain positions
	if err == nil && twoFiles {
		err = s.db.Write(ctx, func(q Queryer) error { return execAll(ctx, q, sqlPurgeStateGroups, roomID) })
	}
	if err != nil {
		return core.PurgedRoom{}, fmt.Errorf("storage: purge room %s: %w", roomID, err)
	}
	return out, nil
}

// execAll runs each of stmts with arg.
func execAll(ctx context.Context, q Queryer, stmts []string, arg any) error {
	for _, stmt := range stmts {
		if _, err := q.ExecContext(ctx, stmt, arg); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// roomEventNIDs returns the nids of every event of a room, outliers
// included.
func roomEventNIDs(ctx context.Context, q Queryer, roomNID int64) ([]int64, error) {
	rows, err := q.QueryContext(ctx, "SELECT event_nid FROM events WHERE room_nid = ?", roomNID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	nids := []int64{}
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		nids = append(nids, n)
	}
	return nids, rows.Err()
}
