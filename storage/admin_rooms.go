package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"hearth.dev/hearth/core"
)

// AdminRoomStore answers the admin room API: room summaries read from the
// current state, local members and aliases, room blocks and purges. It
// implements core.AdminRoomStore.
type AdminRoomStore struct {
	db *DB
	// local is ":" + the server name: the suffix of local user IDs.
	local string
}

var _ core.AdminRoomStore = (*AdminRoomStore)(nil)

// NewAdminRoomStore returns the admin room store of db, whose local users
// are those of serverName.
func NewAdminRoomStore(db *DB, serverName string) *AdminRoomStore {
	return &AdminRoomStore{db: db, local: ":" + serverName}
}

// sqlAdminRooms summarises rooms from their current state. ?1 is the
// local user suffix (":server"); the caller appends a WHERE and ORDER BY.
// A text field of a state event's content reads as NULL when it is absent
// or not a string.
const sqlAdminRooms = `
WITH st AS (
    SELECT c.room_nid, c.type, j.json
    FROM current_state_events c JOIN event_json j ON j.event_nid = c.event_nid
    WHERE c.state_key = '' AND c.type IN ('m.room.name', 'm.room.topic', 'm.room.avatar',
        'm.room.canonical_alias', 'm.room.encryption', 'm.room.join_rules',
        'm.room.guest_access', 'm.room.history_visibility', 'm.room.create')
)
SELECT r.room_id, r.room_version, coalesce(r.creator, ''), r.is_public,
    (SELECT CASE WHEN json_type(json, '$.content.name') = 'text' THEN json_extract(json, '$.content.name') END
        FROM st WHERE st.room_nid = r.room_nid AND st.type = 'm.room.name'),
    (SELECT CASE WHEN json_type(json, '$.content.topic') = 'text' THEN json_extract(json, '$.content.topic') END
        FROM st WHERE st.room_nid = r.room_nid AND st.type = 'm.room.topic'),
    (SELECT CASE WHEN json_type(json, '$.content.url') = 'text' THEN json_extract(json, '$.content.url') END
        FROM st WHERE st.room_nid = r.room_nid AND st.type = 'm.room.avatar'),
    (SELECT CASE WHEN json_type(json, '$.content.alias') = 'text' THEN json_extract(json, '$.content.alias') END
        FROM st WHERE st.room_nid = r.room_nid AND st.type = 'm.room.canonical_alias'),
    (SELECT CASE WHEN json_type(json, '$.content.algorithm') = 'text' THEN json_extract(json, '$.content.algorithm') END
        FROM st WHERE st.room_nid = r.room_nid AND st.type = 'm.room.encryption'),
    (SELECT CASE WHEN json_type(json, '$.content.join_rule') = 'text' THEN json_extract(json, '$.content.join_rule') END
        FROM st WHERE st.room_nid = r.room_nid AND st.type = 'm.room.join_rules'),
    (SELECT CASE WHEN json_type(json, '$.content.guest_access') = 'text' THEN json_extract(json, '$.content.guest_access') END
        FROM st WHERE st.room_nid = r.room_nid AND st.type = 'm.room.guest_access'),
    (SELECT CASE WHEN json_type(json, '$.content.history_visibility') = 'text' THEN json_extract(json, '$.content.history_visibility') END
        FROM st WHERE st.room_nid = r.room_nid AND st.type = 'm.room.history_visibility'),
    (SELECT CASE WHEN json_type(json, '$.content.type') = 'text' THEN json_extract(json, '$.content.type') END
        FROM st WHERE st.room_nid = r.room_nid AND st.type = 'm.room.create'),
    coalesce((SELECT json_type(json, '$.content."m.federate"') = 'false'
        FROM st WHERE st.room_nid = r.room_nid AND st.type = 'm.room.create'), 0),
    (SELECT count(*) FROM current_state_events c
        WHERE c.room_nid = r.room_nid AND c.type = 'm.room.member' AND c.membership = 'join'),
    (SELECT count(*) FROM current_state_events c
        WHERE c.room_nid = r.room_nid AND c.type = 'm.room.member' AND c.membership = 'join'
        AND substr(c.state_key, -length(?1)) = ?1),
    (SELECT count(*) FROM devices d WHERE d.user_id IN (SELECT c.state_key FROM current_state_events c
        WHERE c.room_nid = r.room_nid AND c.type = 'm.room.member' AND c.membership = 'join')),
    (SELECT count(*) FROM current_state_events c WHERE c.room_nid = r.room_nid),
    NOT EXISTS (SELECT 1 FROM local_current_membership l JOIN events e ON e.event_nid = l.event_nid
        WHERE l.room_nid = r.room_nid AND NOT EXISTS (SELECT 1 FROM room_forgotten f
            WHERE f.user_id = l.user_id AND f.room_id = r.room_id AND f.event_id = e.event_id))
FROM rooms r`

// scanAdminRoom reads one row of sqlAdminRooms.
func scanAdminRoom(rows *sql.Rows) (core.AdminRoom, error) {
	var a core.AdminRoom
	var name, topic, avatar, alias, enc, join, guest, hist, typ sql.NullString
	var unfederated bool
	err := rows.Scan(&a.RoomID, &a.Version, &a.Creator, &a.Public,
		&name, &topic, &avatar, &alias, &enc, &join, &guest, &hist, &typ, &unfederated,
		&a.JoinedMembers, &a.JoinedLocalMembers, &a.JoinedLocalDevices, &a.StateEvents, &a.Forgotten)
	if err != nil {
		return a, err
	}
	a.Name, a.Topic, a.Avatar, a.CanonicalAlias = name.String, topic.String, avatar.String, alias.String
	a.Encryption, a.JoinRules, a.GuestAccess, a.HistoryVisibility = enc.String, join.String, guest.String, hist.String
	a.RoomType = typ.String
	a.Federatable = !unfederated
	return a, nil
}

// AdminRooms returns every room's summary; see core.AdminRoomStore.
func (s *AdminRoomStore) AdminRooms(ctx context.Context) ([]core.AdminRoom, error) {
	var out []core.AdminRoom
	err := s.db.Read(ctx, func(q Queryer) error {
		rows, err := q.QueryContext(ctx, sqlAdminRooms+" ORDER BY r.room_id", s.local)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAdminRoom(rows)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: admin rooms: %w", err)
	}
	return out, nil
}

// AdminRoom returns roomID's summary; see core.AdminRoomStore.
func (s *AdminRoomStore) AdminRoom(ctx context.Context, roomID string) (core.AdminRoom, error) {
	var a core.AdminRoom
	found := false
	err := s.db.Read(ctx, func(q Queryer) error {
		rows, err := q.QueryContext(ctx, sqlAdminRooms+" WHERE r.room_id = ?2", s.local, roomID)
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			found = true
			if a, err = scanAdminRoom(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return core.AdminRoom{}, fmt.Errorf("storage: admin room %s: %w", roomID, err)
	}
	if !found {
		return core.AdminRoom{}, notFound("room %s", roomID)
	}
	return a, nil
}

const sqlLocalMembers = `
SELECT l.user_id, l.membership FROM local_current_membership l JOIN rooms r ON r.room_nid = l.room_nid
WHERE r.room_id = ? ORDER BY l.user_id`

// LocalMembers returns the local users' memberships of roomID; see
// core.AdminRoomStore.
func (s *AdminRoomStore) LocalMembers(ctx context.Context, roomID string) ([]core.LocalMember, error) {
	rows, err := s.db.Cached().QueryContext(ctx, sqlLocalMembers, roomID)
	if err != nil {
		return nil, fmt.Errorf("storage: local members of %s: %w", roomID, err)
	}
	defer rows.Close()
	var out []core.LocalMember
	for rows.Next() {
		var m core.LocalMember
		if err := rows.Scan(&m.UserID, &m.Membership); err != nil {
			return nil, fmt.Errorf("storage: local members of %s: %w", roomID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: local members of %s: %w", roomID, err)
	}
	return out, nil
}

// LocalAliases returns the aliases pointing at roomID; see
// core.AdminRoomStore.
func (s *AdminRoomStore) LocalAliases(ctx context.Context, roomID string) ([]string, error) {
	rows, err := s.db.Cached().QueryContext(ctx, "SELECT alias FROM room_aliases WHERE room_id = ? ORDER BY alias", roomID)
	if err != nil {
		return nil, fmt.Errorf("storage: aliases of %s: %w", roomID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("storage: aliases of %s: %w", roomID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: aliases of %s: %w", roomID, err)
	}
	return out, nil
}

// SetRoomBlock blocks roomID or lifts its block; see core.AdminRoomStore.
func (s *AdminRoomStore) SetRoomBlock(ctx context.Context, roomID string, blocked bool, by string) error {
	return s.db.Write(ctx, func(q Queryer) error {
		var err error
		if blocked {
			_, err = q.ExecContext(ctx,
				"INSERT INTO blocked_rooms (room_id, user_id) VALUES (?, ?) ON CONFLICT (room_id) DO NOTHING", roomID, by)
		} else {
			_, err = q.ExecContext(ctx, "DELETE FROM blocked_rooms WHERE room_id = ?", roomID)
		}
		if err != nil {
			return fmt.Errorf("storage: block room %s: %w", roomID, err)
		}
		return nil
	})
}

// RoomBlock tells whether roomID is blocked; see core.AdminRoomStore.
func (s *AdminRoomStore) RoomBlock(ctx context.Context, roomID string) (core.RoomBlock, error) {
	var b core.RoomBlock
	err := s.db.Cached().QueryRowContext(ctx, "SELECT user_id FROM blocked_rooms WHERE room_id = ?", roomID).Scan(&b.By)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return core.RoomBlock{}, nil
	case err != nil:
		return core.RoomBlock{}, fmt.Errorf("storage: room block %s: %w", roomID, err)
	}
	b.Blocked = true
	return b, nil
}
