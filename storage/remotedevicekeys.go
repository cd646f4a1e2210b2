package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"hearth.dev/hearth/core"
)

// RemoteDeviceKeysStore is the cache of remote users' device and
// cross-signing keys (core.RemoteDeviceKeysCache).
type RemoteDeviceKeysStore struct{ db *DB }

var _ core.RemoteDeviceKeysCache = (*RemoteDeviceKeysStore)(nil)

// NewRemoteDeviceKeysStore returns the remote device keys cache of db.
func NewRemoteDeviceKeysStore(db *DB) *RemoteDeviceKeysStore { return &RemoteDeviceKeysStore{db: db} }

// sharesRoomSQL holds for a user (the first argument) joined to a room a
// local user is joined to.
const sharesRoomSQL = `EXISTS (SELECT 1 FROM current_state_events c
  JOIN local_current_membership l ON l.room_nid = c.room_nid AND l.membership = 'join'
  WHERE c.type = 'm.room.member' AND c.state_key = ? AND c.membership = 'join')`

const newestMembershipSQL = `COALESCE((SELECT MAX(event_nid) FROM room_memberships WHERE user_id = ?), 0)`

const cachedRemoteKeysSQL = `SELECT keys_json FROM remote_device_keys_cache
WHERE user_id = ? AND membership_nid = ` + newestMembershipSQL + ` AND ` + sharesRoomSQL

// CachedRemoteKeys returns the cached keys of userID, if they are still
// good: no update EDU since, no membership event of the user since, and
// the user shares a room with a local user.
func (s *RemoteDeviceKeysStore) CachedRemoteKeys(ctx context.Context, userID string) (core.RemoteUserKeys, bool, error) {
	var b []byte
	err := s.db.reader.QueryRowContext(ctx, cachedRemoteKeysSQL, userID, userID, userID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return core.RemoteUserKeys{}, false, nil
	}
	if err != nil {
		return core.RemoteUserKeys{}, false, fmt.Errorf("storage: read cached keys of %s: %w", userID, err)
	}
	var k core.RemoteUserKeys
	if err := json.Unmarshal(b, &k); err != nil {
		return core.RemoteUserKeys{}, false, nil
	}
	return k, true, nil
}

// StoreRemoteKeys caches the keys of userID, only while the user shares a
// room with a local user (only then do their update EDUs reach this
// server).
func (s *RemoteDeviceKeysStore) StoreRemoteKeys(ctx context.Context, userID string, keys core.RemoteUserKeys) error {
	b, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, `INSERT INTO remote_device_keys_cache (user_id, keys_json, membership_nid, cached_ts)
SELECT ?, ?, `+newestMembershipSQL+`, ? WHERE `+sharesRoomSQL+`
ON CONFLICT (user_id) DO UPDATE SET keys_json = excluded.keys_json, membership_nid = excluded.membership_nid, cached_ts = excluded.cached_ts`,
			userID, b, userID, time.Now().UnixMilli(), userID)
		if err != nil {
			return fmt.Errorf("storage: cache keys of %s: %w", userID, err)
		}
		return nil
	})
}

// forgetRemoteKeys drops the cached keys of userIDs (an update EDU came).
func forgetRemoteKeys(ctx context.Context, q Queryer, userIDs ...string) error {
	for _, u := range userIDs {
		if _, err := q.ExecContext(ctx, "DELETE FROM remote_device_keys_cache WHERE user_id = ?", u); err != nil {
			return fmt.Errorf("storage: forget cached keys of %s: %w", u, err)
		}
	}
	return nil
}
