package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"hearth.dev/hearth/core"
)

// DefaultToDeviceLimit is how many to-device messages ToDeviceSince returns
// when asked for no particular number (the spec recommends 100 per sync).
const DefaultToDeviceLimit = 100

// toDeviceStream numbers queued to-device messages.
var toDeviceStream = StreamIDs{Name: "to_device", Step: 1}

// ToDeviceStore is the inbox of to-device messages of local devices. It
// implements core.ToDeviceStore.
type ToDeviceStore struct {
	db *DB
	// Now is the clock for transaction records; nil uses time.Now.
	Now func() time.Time
}

var _ core.ToDeviceStore = (*ToDeviceStore)(nil)

// NewToDeviceStore returns the to-device store of db.
func NewToDeviceStore(db *DB) *ToDeviceStore { return &ToDeviceStore{db: db} }

func (s *ToDeviceStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// SendToDevice implements core.ToDeviceStore.
func (s *ToDeviceStore) SendToDevice(ctx context.Context, txn core.TxnID, eventType string, targets []core.ToDeviceTarget) (bool, error) {
	type queued struct {
		userID, deviceID string
		msg              []byte
	}
	fresh := false
	err := s.db.Write(ctx, func(q Queryer) error {
		var res sql.Result
		var err error
		if txn.DeviceID == "" {
			// A remote sender's message (federation): no local device to
			// key the transaction to.
			res, err = q.ExecContext(ctx, `INSERT INTO federation_to_device_txns (user_id, event_type, txn_id, inserted_ts)
				VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, txn.UserID, eventType, txn.TxnID, s.now().UnixMilli())
		} else {
			res, err = q.ExecContext(ctx, `INSERT INTO to_device_txns (user_id, device_id, event_type, txn_id, inserted_ts)
				VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, txn.UserID, txn.DeviceID, eventType, txn.TxnID, s.now().UnixMilli())
		}
		if err != nil {
			return fmt.Errorf("storage: to-device transaction: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			fresh = false
			return nil
		}
		fresh = true
		var out []queued
		for _, t := range targets {
			msg, err := json.Marshal(core.ToDeviceMessage{Sender: txn.UserID, Type: eventType, Content: t.Content})
			if err != nil {
				return fmt.Errorf("storage: to-device message: %w", core.ErrBadJSON.WithMessage("invalid message content"))
			}
			devs, err := targetDevices(ctx, q, t.UserID, t.DeviceID)
			if err != nil {
				return err
			}
			for _, d := range devs {
				out = append(out, queued{t.UserID, d, msg})
			}
		}
		if len(out) == 0 {
			return nil
		}
		first, err := toDeviceStream.Next(ctx, q, len(out))
		if err != nil {
			return err
		}
		for i, m := range out {
			_, err := q.ExecContext(ctx, `INSERT INTO device_inbox (stream_id, user_id, device_id, message_json)
				VALUES (?, ?, ?, ?)`, first+int64(i), m.userID, m.deviceID, string(m.msg))
			if err != nil {
				return fmt.Errorf("storage: queueing a to-device message: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return fresh, nil
}

// targetDevices returns the existing devices a message to deviceID of
// userID goes to: all of the user's for "*".
func targetDevices(ctx context.Context, q Queryer, userID, deviceID string) ([]string, error) {
	query, args := "SELECT device_id FROM devices WHERE user_id = ? AND device_id = ?", []any{userID, deviceID}
	if deviceID == "*" {
		query, args = "SELECT device_id FROM devices WHERE user_id = ? ORDER BY device_id", []any{userID}
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: devices of %s: %w", userID, err)
	}
	defer rows.Close()
	var devs []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("storage: devices of %s: %w", userID, err)
		}
		devs = append(devs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: devices of %s: %w", userID, err)
	}
	return devs, nil
}

// ToDevicePosition implements core.ToDeviceStore.
func (s *ToDeviceStore) ToDevicePosition(ctx context.Context) (int64, error) {
	return s.db.position(ctx, toDeviceStream)
}

// ToDeviceSince implements core.ToDeviceStore. A limit of 0 or less means
// DefaultToDeviceLimit.
func (s *ToDeviceStore) ToDeviceSince(ctx context.Context, userID, deviceID string, since int64, limit int) ([]core.ToDeviceMessage, int64, error) {
	if limit <= 0 {
		limit = DefaultToDeviceLimit
	}
	// The position is taken before the read's snapshot (or inside a read
	// scope, the one its snapshot covers): every message up to it is in
	// the snapshot.
	cur, err := s.db.position(ctx, toDeviceStream)
	if err != nil {
		return nil, 0, err
	}
	if cur <= since {
		// Nothing was sent since: no read (the soak's clients, and most
		// /syncs of any client, ask with the current position).
		return nil, cur, nil
	}
	var msgs []core.ToDeviceMessage
	var next int64
	err = s.db.Read(ctx, func(q Queryer) error {
		msgs = msgs[:0]
		next = cur
		rows, err := q.QueryContext(ctx, `SELECT stream_id, message_json FROM device_inbox
			WHERE user_id = ? AND device_id = ? AND stream_id > ? AND stream_id <= ?
			ORDER BY stream_id LIMIT ?`, userID, deviceID, since, cur, limit)
		if err != nil {
			return fmt.Errorf("storage: to-device messages of %s %s: %w", userID, deviceID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var pos int64
			var raw string
			if err := rows.Scan(&pos, &raw); err != nil {
				return fmt.Errorf("storage: to-device messages of %s %s: %w", userID, deviceID, err)
			}
			var m core.ToDeviceMessage
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				return fmt.Errorf("storage: to-device message %d: %w", pos, err)
			}
			m.Pos = pos
			msgs = append(msgs, m)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("storage: to-device messages of %s %s: %w", userID, deviceID, err)
		}
		if len(msgs) == limit {
			next = msgs[len(msgs)-1].Pos
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return msgs, next, nil
}

// sqlToDeviceAnyUpTo says whether a device has messages up to a position
// (index device_inbox_device).
const sqlToDeviceAnyUpTo = `SELECT EXISTS (SELECT 1 FROM device_inbox
	WHERE user_id = ? AND device_id = ? AND stream_id <= ?)`

// DeleteToDeviceUpTo implements core.ToDeviceStore.
//
// A client that ever received a to-device message sends a since token
// with a to-device position in every /sync: when none of its messages up
// to it is left (all were deleted by an earlier /sync), one read answers
// and nothing is written. The messages up to upTo were committed before
// the token holding it was given out, so the read's snapshot has them.
func (s *ToDeviceStore) DeleteToDeviceUpTo(ctx context.Context, userID, deviceID string, upTo int64) error {
	var any int
	err := s.db.Cached().QueryRowContext(ctx, sqlToDeviceAnyUpTo, userID, deviceID, upTo).Scan(&any)
	if err != nil {
		return fmt.Errorf("storage: delivered to-device messages of %s %s: %w", userID, deviceID, err)
	}
	if any == 0 {
		return nil
	}
	return s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "DELETE FROM device_inbox WHERE user_id = ? AND device_id = ? AND stream_id <= ?", userID, deviceID, upTo)
		if err != nil {
			return fmt.Errorf("storage: deleting delivered to-device messages of %s %s: %w", userID, deviceID, err)
		}
		return nil
	})
}
