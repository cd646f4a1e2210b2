package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"hearth.dev/hearth/core"
)

// Remote users' device list updates applied in place (delta 2/26): an
// m.device_list_update whose prev_id names the stream_id of the last
// update seen for its user changes just that device in the cached keys;
// any other (a gap, or no update seen yet) drops them, so the next query
// resyncs.

const (
	sqlRemoteDLStream    = "SELECT stream_id FROM remote_device_list_streams WHERE user_id = ?"
	sqlRemoteDLSetStream = `INSERT INTO remote_device_list_streams (user_id, stream_id) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET stream_id = max(stream_id, excluded.stream_id)`
	sqlRemoteDLCached    = "SELECT keys_json FROM remote_device_keys_cache WHERE user_id = ?"
	sqlRemoteDLSetCached = "UPDATE remote_device_keys_cache SET keys_json = ? WHERE user_id = ?"
)

var _ core.RemoteDeviceUpdates = (*KeyStore)(nil)

// RemoteDeviceUpdate records an m.device_list_update of a remote user (see
// core.RemoteDeviceUpdates) at a new position of the device list stream,
// in one write.
func (s *KeyStore) RemoteDeviceUpdate(ctx context.Context, u core.DeviceListUpdate) error {
	return s.db.Write(ctx, func(q Queryer) error {
		var last int64
		err := q.QueryRowContext(ctx, sqlRemoteDLStream, u.UserID).Scan(&last)
		known := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("storage: device list stream of %s: %w", u.UserID, err)
		}
		switch {
		case known && u.StreamID <= last:
			// Seen already (a retried transaction): nothing changes.
			return nil
		case known && slices.Contains(u.PrevID, last):
			if err := applyRemoteDeviceUpdate(ctx, q, u); err != nil {
				return err
			}
		default:
			if err := forgetRemoteKeys(ctx, q, u.UserID); err != nil {
				return err
			}
		}
		if _, err := q.ExecContext(ctx, sqlRemoteDLSetStream, u.UserID, u.StreamID); err != nil {
			return fmt.Errorf("storage: device list stream of %s: %w", u.UserID, err)
		}
		return markDeviceListChange(ctx, q, u.UserID)
	})
}

// applyRemoteDeviceUpdate changes u's device in its user's cached keys (if
// any are cached): its new keys, or its deletion. Keys that do not name the
// user and device they are for drop the cached keys instead.
func applyRemoteDeviceUpdate(ctx context.Context, q Queryer, u core.DeviceListUpdate) error {
	var b []byte
	err := q.QueryRowContext(ctx, sqlRemoteDLCached, u.UserID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: cached keys of %s: %w", u.UserID, err)
	}
	var k core.RemoteUserKeys
	if err := json.Unmarshal(b, &k); err != nil {
		return forgetRemoteKeys(ctx, q, u.UserID)
	}
	if k.DeviceKeys == nil {
		k.DeviceKeys = map[string]json.RawMessage{}
	}
	switch {
	case u.Deleted:
		delete(k.DeviceKeys, u.DeviceID)
	case len(u.Keys) > 0 && string(u.Keys) != "null":
		var head struct {
			UserID   string `json:"user_id"`
			DeviceID string `json:"device_id"`
		}
		if json.Unmarshal(u.Keys, &head) != nil || head.UserID != u.UserID || head.DeviceID != u.DeviceID {
			return forgetRemoteKeys(ctx, q, u.UserID)
		}
		k.DeviceKeys[u.DeviceID] = u.Keys
	default:
		// A new name only, or a device without keys yet: the cached keys
		// stay as they are.
		return nil
	}
	if b, err = json.Marshal(k); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, sqlRemoteDLSetCached, b, u.UserID); err != nil {
		return fmt.Errorf("storage: cached keys of %s: %w", u.UserID, err)
	}
	return nil
}
