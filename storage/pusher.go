package storage

import (
	"context"
	"fmt"

	"hearth.dev/hearth/core"
)

// PusherStore keeps pushers. It implements core.PusherStore.
type PusherStore struct {
	db *DB
}

var _ core.PusherStore = (*PusherStore)(nil)

// NewPusherStore returns the pusher store of db.
func NewPusherStore(db *DB) *PusherStore { return &PusherStore{db: db} }

const (
	sqlPushersOfUser = `SELECT app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, lang, data, pushkey_ts, device_id
		FROM pushers WHERE user_id = ? ORDER BY pusher_id`
	sqlPusherUpsert = `INSERT INTO pushers (user_id, app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, lang, data, pushkey_ts, device_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET kind = excluded.kind, app_display_name = excluded.app_display_name,
			device_display_name = excluded.device_display_name, profile_tag = excluded.profile_tag, lang = excluded.lang,
			data = excluded.data, pushkey_ts = excluded.pushkey_ts, device_id = excluded.device_id`
	sqlPusherDeleteOthers = "DELETE FROM pushers WHERE app_id = ? AND pushkey = ? AND user_id <> ?"
	sqlPusherDelete       = "DELETE FROM pushers WHERE user_id = ? AND app_id = ? AND pushkey = ?"
)

// Pushers implements core.PusherStore.
func (s *PusherStore) Pushers(ctx context.Context, userID string) ([]core.Pusher, error) {
	rows, err := s.db.Cached().QueryContext(ctx, sqlPushersOfUser, userID)
	if err != nil {
		return nil, fmt.Errorf("storage: pushers of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []core.Pusher
	for rows.Next() {
		p := core.Pusher{UserID: userID}
		var data string
		if err := rows.Scan(&p.AppID, &p.PushKey, &p.Kind, &p.AppDisplayName, &p.DeviceDisplayName,
			&p.ProfileTag, &p.Lang, &data, &p.PushKeyTS, &p.DeviceID); err != nil {
			return nil, fmt.Errorf("storage: pushers of %s: %w", userID, err)
		}
		p.Data = []byte(data)
		out = append(out, p)
	}
	return out, wrapErr("pushers of "+userID, rows.Err())
}

// SetPusher implements core.PusherStore.
func (s *PusherStore) SetPusher(ctx context.Context, p core.Pusher, appendOthers bool) error {
	data := string(p.Data)
	if data == "" {
		data = "{}"
	}
	return s.db.Write(ctx, func(q Queryer) error {
		if !appendOthers {
			if _, err := q.ExecContext(ctx, sqlPusherDeleteOthers, p.AppID, p.PushKey, p.UserID); err != nil {
				return fmt.Errorf("storage: pusher: %w", err)
			}
		}
		_, err := q.ExecContext(ctx, sqlPusherUpsert, p.UserID, p.AppID, p.PushKey, p.Kind, p.AppDisplayName,
			p.DeviceDisplayName, p.ProfileTag, p.Lang, data, p.PushKeyTS, p.DeviceID)
		return wrapErr("pusher", err)
	})
}

// DeletePusher implements core.PusherStore.
func (s *PusherStore) DeletePusher(ctx context.Context, userID, appID, pushKey string) error {
	return s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, sqlPusherDelete, userID, appID, pushKey)
		return wrapErr("pusher", err)
	})
}
