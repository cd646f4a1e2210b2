package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"hearth.dev/hearth/core"
)

// CurrentState returns part of a room's current state; see
// core.RoomStateStore.
func (s *EventStore) CurrentState(ctx context.Context, roomID string, filter core.StateFilter) (core.StateMap, error) {
	m := core.StateMap{}
	where, args := stateFilterSQL(filter, "c.type", "c.state_key")
	query := `
		SELECT c.type, c.state_key, e.event_id FROM current_state_events c
		JOIN events e ON e.event_nid = c.event_nid
		WHERE c.room_nid = ? AND ` + where
	err := s.read(ctx, []string{sqlRoomNID, query}, func(r reader) error {
		room, err := roomNID(r, roomID)
		if err != nil {
			return err
		}
		rows, err := r.query(query, append([]any{room}, args...)...)
		if err != nil {
			return fmt.Errorf("storage: current state of %s: %w", roomID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var k core.StateKey
			var id string
			if err := rows.Scan(&k.Type, &k.StateKey, &id); err != nil {
				return fmt.Errorf("storage: current state of %s: %w", roomID, err)
			}
			m[k] = id
		}
		return wrapErr("current state of "+roomID, rows.Err())
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

const (
	sqlLocalMembership = `
		SELECT l.membership, e.event_id, e.stream_ordering FROM local_current_membership l
		JOIN events e ON e.event_nid = l.event_nid
		WHERE l.user_id = ? AND l.room_nid = ?`
	sqlStateMembership = `
		SELECT c.membership, e.event_id, e.stream_ordering FROM current_state_events c
		JOIN events e ON e.event_nid = c.event_nid
		WHERE c.room_nid = ? AND c.type = 'm.room.member' AND c.state_key = ?`
	sqlRoomsForUser = `
		SELECT r.room_id, l.membership, e.event_id, e.stream_ordering, l.room_nid, l.event_nid FROM local_current_membership l
		JOIN rooms r ON r.room_nid = l.room_nid
		JOIN events e ON e.event_nid = l.event_nid
		WHERE l.user_id = ?1
		ORDER BY r.room_id`
	// sqlRoomsForUserOf is sqlRoomsForUser for the rooms of a JSON array
	// of room_nids (?2).
	sqlRoomsForUserOf = `
		SELECT r.room_id, l.membership, e.event_id, e.stream_ordering, l.room_nid, l.event_nid FROM local_current_membership l
		JOIN rooms r ON r.room_nid = l.room_nid
		JOIN events e ON e.event_nid = l.event_nid
		WHERE l.user_id = ?1 AND l.room_nid IN (SELECT value FROM json_each(?2))
		ORDER BY r.room_id`
	// sqlMemberRows is a user's rows of local_current_membership, from its
	// primary key alone.
	sqlMemberRows = `SELECT room_nid, event_nid, membership FROM local_current_membership WHERE user_id = ?1`
)

// Membership returns a user's membership of a room; see
// core.RoomStateStore.
func (s *EventStore) Membership(ctx context.Context, roomID, userID string) (core.RoomMembership, error) {
	m := core.RoomMembership{RoomID: roomID, UserID: userID}
	err := s.read(ctx, []string{sqlRoomNID, sqlLocalMembership, sqlStateMembership}, func(r reader) error {
		room, err := roomNID(r, roomID)
		if err != nil {
			return err
		}
		// A local user's latest membership, out-of-band ones included,
		// else the one in the room's current state.
		err = r.queryRow(sqlLocalMembership, userID, room).Scan(&m.Membership, &m.EventID, &m.StreamOrdering)
		if !errors.Is(err, sql.ErrNoRows) {
			return wrapErr("membership of "+userID, err)
		}
		err = r.queryRow(sqlStateMembership, room, userID).Scan(&m.Membership, &m.EventID, &m.StreamOrdering)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("membership of %s in %s", userID, roomID)
		}
		return wrapErr("membership of "+userID, err)
	})
	if err != nil {
		return core.RoomMembership{}, err
	}
	return m, nil
}

// RoomsForUser returns a user's rooms; see core.RoomStateStore. The list
// is cached until a membership change commits; then the user's rows of
// local_current_membership (a walk of its primary key) are compared with
// those the cached list was made of, and only the rooms whose row changed
// are read again: a user in thousands of rooms who joins one more does
// not pay for reading and sorting all of them.
func (s *EventStore) RoomsForUser(ctx context.Context, userID string, memberships ...string) ([]core.RoomMembership, error) {
	gen := s.db.membershipGen.Load()
	if rooms, ok := s.members.get(userID, gen); ok {
		return selectMemberships(rooms, memberships), nil
	}
	stale := s.members.stale(userID)
	var fresh cachedRooms
	err := s.read(ctx, []string{sqlMemberRows, sqlRoomsForUser, sqlRoomsForUserOf}, func(r reader) error {
		var err error
		fresh, err = readRoomsForUser(r, userID, stale)
		return err
	})
	if err != nil {
		return nil, err
	}
	fresh.gen = gen
	s.members.put(userID, fresh, &s.db.membershipGen)
	return selectMemberships(fresh.rooms, memberships), nil
}

// readRoomsForUser reads userID's rooms: all of them, or, given the list
// old, those whose row differs from the one old was made of.
func readRoomsForUser(r reader, userID string, old *cachedRooms) (cachedRooms, error) {
	out := cachedRooms{rows: map[int64]memberRow{}}
	fail := func(err error) (cachedRooms, error) {
		return cachedRooms{}, fmt.Errorf("storage: rooms of %s: %w", userID, err)
	}
	// scan reads rows of sqlRoomsForUser(Of) into list and rows.
	scan := func(rows *sql.Rows, list *[]core.RoomMembership, byNID map[int64]memberRow) error {
		defer rows.Close()
		for rows.Next() {
			m := core.RoomMembership{UserID: userID}
			var row memberRow
			var nid int64
			if err := rows.Scan(&m.RoomID, &m.Membership, &m.EventID, &m.StreamOrdering, &nid, &row.event); err != nil {
				return err
			}
			row.membership, row.index = m.Membership, len(*list)
			byNID[nid] = row
			*list = append(*list, m)
		}
		return rows.Err()
	}
	if old == nil || old.rows == nil {
		rows, err := r.query(sqlRoomsForUser, userID)
		if err == nil {
			err = scan(rows, &out.rooms, out.rows)
		}
		if err != nil {
			return fail(err)
		}
		return out, nil
	}
	// Which rows are new or changed, and which of the old ones remain.
	rows, err := r.query(sqlMemberRows, userID)
	if err != nil {
		return fail(err)
	}
	keep := make([]bool, len(old.rooms))
	var changed []int64
	for rows.Next() {
		var nid int64
		var row memberRow
		if err := rows.Scan(&nid, &row.event, &row.membership); err != nil {
			rows.Close()
			return fail(err)
		}
		if o, ok := old.rows[nid]; ok && o.event == row.event && o.membership == row.membership {
			keep[o.index] = true
			out.rows[nid] = o
			continue
		}
		changed = append(changed, nid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	var added []core.RoomMembership
	addedRows := map[int64]memberRow{}
	if len(changed) > 0 {
		js, err := json.Marshal(changed)
		if err != nil {
			return fail(err)
		}
		rows, err := r.query(sqlRoomsForUserOf, userID, string(js))
		if err == nil {
			err = scan(rows, &added, addedRows)
		}
		if err != nil {
			return fail(err)
		}
	}
	// Merge the old rooms that remain with the new ones, both in room ID
	// order, numbering the rows' indexes again.
	oldNID := make([]int64, len(old.rooms))
	for nid, row := range out.rows {
		oldNID[row.index] = nid
	}
	addedNID := make([]int64, len(added))
	for nid, row := range addedRows {
		addedNID[row.index] = nid
	}
	out.rooms = make([]core.RoomMembership, 0, len(out.rows)+len(added))
	i, j := 0, 0
	for i < len(old.rooms) || j < len(added) {
		if i < len(old.rooms) && !keep[i] {
			i++
			continue
		}
		if j == len(added) || i < len(old.rooms) && old.rooms[i].RoomID < added[j].RoomID {
			row := out.rows[oldNID[i]]
			row.index = len(out.rooms)
			out.rows[oldNID[i]] = row
			out.rooms = append(out.rooms, old.rooms[i])
			i++
			continue
		}
		row := addedRows[addedNID[j]]
		row.index = len(out.rooms)
		out.rows[addedNID[j]] = row
		out.rooms = append(out.rooms, added[j])
		j++
	}
	return out, nil
}

// wrapErr adds context to a non-nil err.
func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("storage: %s: %w", what, err)
}

// sqlLastJoin finds a user's latest join event of a room (index
// room_memberships_room_user, delta 2/85).
const sqlLastJoin = `
	SELECT e.topological_ordering, e.stream_ordering FROM room_memberships m
	JOIN events e ON e.event_nid = m.event_nid
	WHERE m.room_nid = ?1 AND m.user_id = ?2 AND m.membership = 'join'
		AND e.outlier = 0 AND e.rejection_reason IS NULL AND e.soft_failed = 0
	ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT 1`

// LastJoin returns where a user last joined a room; see
// core.RoomStateStore.
func (s *EventStore) LastJoin(ctx context.Context, roomID, userID string) (core.TopologicalToken, error) {
	var t core.TopologicalToken
	err := s.read(ctx, []string{sqlRoomNID, sqlLastJoin}, func(r reader) error {
		room, err := roomNID(r, roomID)
		if err != nil {
			return err
		}
		err = r.queryRow(sqlLastJoin, room, userID).Scan(&t.Depth, &t.Stream)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("no join of %s in %s", userID, roomID)
		}
		return wrapErr("last join of "+userID, err)
	})
	return t, err
}
