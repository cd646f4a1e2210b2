package storage

import (
	"context"
	"fmt"

	"hearth.dev/hearth/core"
)

// markDeviceListChange records, at one new position of the device list
// stream, that the devices or keys of userIDs changed.
func markDeviceListChange(ctx context.Context, q Queryer, userIDs ...string) error {
	if len(userIDs) == 0 {
		return nil
	}
	pos, err := deviceListStream.Next(ctx, q, 1)
	if err != nil {
		return err
	}
	for _, u := range userIDs {
		_, err := q.ExecContext(ctx, `INSERT INTO device_list_changes (user_id, stream_id) VALUES (?, ?)
			ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id`, u, pos)
		if err != nil {
			return fmt.Errorf("storage: device list change of %s: %w", u, err)
		}
	}
	return nil
}

// DeviceListPosition implements core.DeviceListStore.
func (s *KeyStore) DeviceListPosition(ctx context.Context) (int64, error) {
	return s.db.position(ctx, deviceListStream)
}

// DeviceListChanges implements core.DeviceListStore.
func (s *KeyStore) DeviceListChanges(ctx context.Context, userID string, since, to int64) (core.DeviceLists, error) {
	var out core.DeviceLists
	if to <= since {
		return out, nil
	}
	rows, err := s.db.Cached().QueryContext(ctx, `SELECT user_id FROM device_list_changes
		WHERE stream_id > ? AND stream_id <= ? ORDER BY user_id`, since, to)
	if err != nil {
		return out, fmt.Errorf("storage: device list changes: %w", err)
	}
	var changed []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return out, fmt.Errorf("storage: device list changes: %w", err)
		}
		changed = append(changed, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("storage: device list changes: %w", err)
	}
	if len(changed) == 0 {
		return out, nil
	}
	shared := s.SharedRoomUsers
	if shared == nil {
		shared = s.joinedRoomPeers
	}
	peers, err := shared(ctx, userID)
	if err != nil {
		return out, err
	}
	isPeer := make(map[string]bool, len(peers)+1)
	isPeer[userID] = true
	for _, p := range peers {
		isPeer[p] = true
	}
	for _, u := range changed {
		if isPeer[u] {
			out.Changed = append(out.Changed, u)
		}
	}
	return out, nil
}

// RemoteDeviceListChanged records, at a new position of the device list
// stream, that a remote user's devices or cross-signing keys changed (an
// m.device_list_update or m.signing_key_update EDU), so local users who
// share a room with them see it in /sync and query the keys again; their
// cached keys are dropped in the same write, so that query goes out.
func (s *KeyStore) RemoteDeviceListChanged(ctx context.Context, userID string) error {
	return s.db.Write(ctx, func(q Queryer) error {
		if err := forgetRemoteKeys(ctx, q, userID); err != nil {
			return err
		}
		return markDeviceListChange(ctx, q, userID)
	})
}

// joinedRoomPeers returns the users, local and remote, joined to a room
// userID is joined to: local users from local_current_membership, and the
// joined members of the current state of userID's rooms.
func (s *KeyStore) joinedRoomPeers(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.db.Cached().QueryContext(ctx, `SELECT b.user_id
		FROM local_current_membership a JOIN local_current_membership b ON b.room_nid = a.room_nid
		WHERE a.user_id = ? AND a.membership = 'join' AND b.membership = 'join'
		UNION
		SELECT c.state_key
		FROM local_current_membership a JOIN current_state_events c
		ON c.room_nid = a.room_nid AND c.type = 'm.room.member' AND c.membership = 'join'
		WHERE a.user_id = ? AND a.membership = 'join'`, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("storage: users sharing a room with %s: %w", userID, err)
	}
	defer rows.Close()
	var users []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("storage: users sharing a room with %s: %w", userID, err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: users sharing a room with %s: %w", userID, err)
	}
	return users, nil
}
