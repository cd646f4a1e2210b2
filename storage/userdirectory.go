package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"hearth.dev/hearth/core"
)

// UserDirectoryStore reads who the user directory shows from rooms' current
// state and local users' profiles. It implements core.UserDirectoryStore.
type UserDirectoryStore struct {
	db *DB
}

var _ core.UserDirectoryStore = (*UserDirectoryStore)(nil)

// NewUserDirectoryStore returns the user directory store of db.
func NewUserDirectoryStore(db *DB) *UserDirectoryStore { return &UserDirectoryStore{db: db} }

// sqlDirectoryUsers lists the active local users joined to the rooms ?1 is
// joined to (?1 left out) or to public rooms (join rule public or history
// world_readable), with whether they share a room with ?1 and their
// profile's display name and avatar URL (JSON values).
const sqlDirectoryUsers = `
WITH mine AS (
    SELECT room_nid FROM local_current_membership WHERE user_id = ?1 AND membership = 'join'
),
public AS (
    SELECT c.room_nid FROM current_state_events c JOIN event_json j ON j.event_nid = c.event_nid
    WHERE c.type = 'm.room.join_rules' AND c.state_key = '' AND json_extract(j.json, '$.content.join_rule') = 'public'
    UNION
    SELECT c.room_nid FROM current_state_events c JOIN event_json j ON j.event_nid = c.event_nid
    WHERE c.type = 'm.room.history_visibility' AND c.state_key = ''
        AND json_extract(j.json, '$.content.history_visibility') = 'world_readable'
),
visible AS (
    SELECT c.state_key AS user_id, max(c.room_nid IN (SELECT room_nid FROM mine) AND c.state_key != ?1) AS shares
    FROM current_state_events c
    WHERE c.type = 'm.room.member' AND c.membership = 'join'
        AND ((c.room_nid IN (SELECT room_nid FROM mine) AND c.state_key != ?1) OR c.room_nid IN (SELECT room_nid FROM public))
    GROUP BY c.state_key
)
SELECT v.user_id, v.shares,
    (SELECT value FROM profile_fields p WHERE p.user_id = v.user_id AND p.key = 'displayname'),
    (SELECT value FROM profile_fields p WHERE p.user_id = v.user_id AND p.key = 'avatar_url')
FROM visible v JOIN users u ON u.user_id = v.user_id
WHERE u.deactivated = 0
ORDER BY v.user_id`

// DirectoryUsers returns the users visible to searcher; see
// core.UserDirectoryStore.
func (s *UserDirectoryStore) DirectoryUsers(ctx context.Context, searcher string) ([]core.DirectoryUser, error) {
	var out []core.DirectoryUser
	err := s.db.Read(ctx, func(q Queryer) error {
		rows, err := q.QueryContext(ctx, sqlDirectoryUsers, searcher)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var u core.DirectoryUser
			var name, avatar sql.NullString
			if err := rows.Scan(&u.UserID, &u.SharesRoom, &name, &avatar); err != nil {
				return err
			}
			u.DisplayName = jsonString(name)
			u.AvatarURL = jsonString(avatar)
			out = append(out, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: user directory of %s: %w", searcher, err)
	}
	return out, nil
}

// jsonString decodes a JSON string value, "" for NULL or another value.
func jsonString(v sql.NullString) string {
	var s string
	if !v.Valid || json.Unmarshal([]byte(v.String), &s) != nil {
		return ""
	}
	return s
}
