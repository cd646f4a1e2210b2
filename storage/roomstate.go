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
		SELECT r.room_id, l.membership, e.event_id, e.stream_ordering FROM local_current_membership l
		JOIN rooms r ON r.room_nid = l.room_nid
		JOIN events e ON e.event_nid = l.event_nid
		WHERE l.user_id = ?1
		ORDER BY r.room_id`
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

// RoomsForUser returns a user's rooms; see core.RoomStateStore. It copies
// the rooms it returns from the cached list (RoomList).
func (s *EventStore) RoomsForUser(ctx context.Context, userID string, memberships ...string) ([]core.RoomMembership, error) {
	l, err := s.RoomList(ctx, userID)
	if err != nil {
		return nil, err
	}
	return l.Select(memberships...), nil
}

// RoomList returns a user's rooms; see core.RoomStateStore. The list is
// read once and then kept up to date by the writes that change it
// (membershipcache.go): a request reads no membership row.
func (s *EventStore) RoomList(ctx context.Context, userID string) (*core.RoomList, error) {
	l, gen, ok := s.db.members.get(userID)
	if ok {
		return l, nil
	}
	// What is read must be newer than gen: not from a read scope's
	// transaction, which may have begun before a change applied since.
	l, err := s.readRoomList(core.WithReadScope(ctx, nil), userID)
	if err != nil {
		return nil, err
	}
	s.db.members.put(userID, l, gen)
	return l, nil
}

// readRoomList reads a user's rooms from local_current_membership.
func (s *EventStore) readRoomList(ctx context.Context, userID string) (*core.RoomList, error) {
	var rooms []core.RoomMembership
	err := s.read(ctx, []string{sqlRoomsForUser}, func(r reader) error {
		rooms = rooms[:0]
		rows, err := r.query(sqlRoomsForUser, userID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m := core.RoomMembership{UserID: userID}
			if err := rows.Scan(&m.RoomID, &m.Membership, &m.EventID, &m.StreamOrdering); err != nil {
				return err
			}
			rooms = append(rooms, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: rooms of %s: %w", userID, err)
	}
	return core.NewRoomList(rooms), nil
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

// sqlCurrentMembers reads the member entries of the current state of the
// rooms of a JSON array of room IDs.
const sqlCurrentMembers = `
	WITH wanted(room_nid, room_id) AS MATERIALIZED (
		SELECT room_nid, room_id FROM rooms WHERE room_id IN (SELECT value FROM json_each(?1))
	)
	SELECT w.room_id, c.state_key, COALESCE(c.membership, ''), e.event_id, e.stream_ordering FROM wanted w
	JOIN current_state_events c ON c.room_nid = w.room_nid AND c.type = 'm.room.member'
	JOIN events e ON e.event_nid = c.event_nid`

// CurrentMembers returns the member entries of several rooms' current
// state; see core.RoomStateStore.
func (s *EventStore) CurrentMembers(ctx context.Context, roomIDs []string) (map[string][]core.RoomMembership, error) {
	out := map[string][]core.RoomMembership{}
	if len(roomIDs) == 0 {
		return out, nil
	}
	list, err := json.Marshal(roomIDs)
	if err != nil {
		return nil, wrapErr("current members", err)
	}
	err = s.read(ctx, []string{sqlCurrentMembers}, func(r reader) error {
		rows, err := r.query(sqlCurrentMembers, string(list))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m core.RoomMembership
			if err := rows.Scan(&m.RoomID, &m.UserID, &m.Membership, &m.EventID, &m.StreamOrdering); err != nil {
				return err
			}
			out[m.RoomID] = append(out[m.RoomID], m)
		}
		return rows.Err()
	})
	return out, wrapErr("current members", err)
}

// sqlLastJoins finds a user's latest join event in each room of a JSON
// array of room IDs, as sqlLastJoin does for one.
const sqlLastJoins = `
	WITH wanted(room_nid, room_id) AS MATERIALIZED (
		SELECT room_nid, room_id FROM rooms WHERE room_id IN (SELECT value FROM json_each(?1))
	)
	SELECT w.room_id, e.topological_ordering, e.stream_ordering FROM wanted w
	JOIN events e ON e.event_nid = (
		SELECT m.event_nid FROM room_memberships m
		JOIN events x ON x.event_nid = m.event_nid
		WHERE m.room_nid = w.room_nid AND m.user_id = ?2 AND m.membership = 'join'
			AND x.outlier = 0 AND x.rejection_reason IS NULL AND x.soft_failed = 0
		ORDER BY x.topological_ordering DESC, x.stream_ordering DESC LIMIT 1
	)`

// LastJoins returns where a user last joined each of several rooms; see
// core.RoomStateStore.
func (s *EventStore) LastJoins(ctx context.Context, roomIDs []string, userID string) (map[string]core.TopologicalToken, error) {
	out := map[string]core.TopologicalToken{}
	if len(roomIDs) == 0 {
		return out, nil
	}
	list, err := json.Marshal(roomIDs)
	if err != nil {
		return nil, wrapErr("last joins of "+userID, err)
	}
	err = s.read(ctx, []string{sqlLastJoins}, func(r reader) error {
		rows, err := r.query(sqlLastJoins, string(list), userID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var t core.TopologicalToken
			if err := rows.Scan(&id, &t.Depth, &t.Stream); err != nil {
				return err
			}
			out[id] = t
		}
		return rows.Err()
	})
	return out, wrapErr("last joins of "+userID, err)
}

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
