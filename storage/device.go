package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"hearth.dev/hearth/core"
)

// seenInterval is how often a device's last_seen_ts is written while it
// keeps making requests from the same address.
const seenInterval = 5 * time.Minute

func scanDevice(row interface{ Scan(...any) error }) (core.Device, error) {
	var d core.Device
	var name, ip sql.NullString
	var ts sql.NullInt64
	err := row.Scan(&d.UserID, &d.DeviceID, &name, &ts, &ip)
	d.DisplayName, d.LastSeenIP = name.String, ip.String
	if ts.Valid {
		d.LastSeen = time.UnixMilli(ts.Int64)
	}
	return d, err
}

const deviceColumns = "user_id, device_id, display_name, last_seen_ts, last_seen_ip"

// Devices lists a user's devices; see core.DeviceStore.
func (s *AccountStore) Devices(ctx context.Context, userID string) ([]core.Device, error) {
	rows, err := s.db.Cached().QueryContext(ctx,
		"SELECT "+deviceColumns+" FROM devices WHERE user_id = ? ORDER BY device_id", userID)
	if err != nil {
		return nil, fmt.Errorf("storage: devices of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []core.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: devices of %s: %w", userID, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Device returns one device; see core.DeviceStore.
func (s *AccountStore) Device(ctx context.Context, userID, deviceID string) (core.Device, error) {
	d, err := scanDevice(s.db.Cached().QueryRowContext(ctx,
		"SELECT "+deviceColumns+" FROM devices WHERE user_id = ? AND device_id = ?", userID, deviceID))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Device{}, notFound("device %s of %s", deviceID, userID)
	}
	if err != nil {
		return core.Device{}, fmt.Errorf("storage: device %s of %s: %w", deviceID, userID, err)
	}
	return d, nil
}

// SetDeviceDisplayName renames a device; see core.DeviceStore.
func (s *AccountStore) SetDeviceDisplayName(ctx context.Context, userID, deviceID, name string) error {
	return s.db.Write(ctx, func(q Queryer) error {
		res, err := q.ExecContext(ctx, "UPDATE devices SET display_name = ? WHERE user_id = ? AND device_id = ?",
			nullString(name), userID, deviceID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("device %s of %s", deviceID, userID)
		}
		// Other users see device names in key queries.
		return markDevicesChanged(ctx, q, userID, false, deviceID)
	})
}

// DeleteDevices deletes devices, their tokens and their pushers; see
// core.DeviceStore.
func (s *AccountStore) DeleteDevices(ctx context.Context, userID string, deviceIDs []string) error {
	if len(deviceIDs) == 0 {
		return nil
	}
	err := s.db.Write(ctx, func(q Queryer) error {
		var deleted []string
		for _, id := range deviceIDs {
			res, err := q.ExecContext(ctx, "DELETE FROM devices WHERE user_id = ? AND device_id = ?", userID, id)
			if err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, sqlDeleteDevicePushers, userID, id); err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				deleted = append(deleted, id)
			}
		}
		return markDevicesChanged(ctx, q, userID, true, deleted...)
	})
	set := make(map[string]bool, len(deviceIDs))
	for _, id := range deviceIDs {
		set[id] = true
		s.seen.forget(userID, id)
	}
	s.cache.invalidate(func(e *core.Session) bool { return e.UserID == userID && set[e.DeviceID] })
	return err
}

// DeviceSeen records a device's last request; see core.DeviceStore. The
// row is written at most every seenInterval while the address stays the
// same.
func (s *AccountStore) DeviceSeen(ctx context.Context, userID, deviceID, ip string, t time.Time) error {
	if !s.seen.due(userID, deviceID, ip, t) {
		return nil
	}
	return s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "UPDATE devices SET last_seen_ts = ?, last_seen_ip = ? WHERE user_id = ? AND device_id = ?",
			t.UnixMilli(), ip, userID, deviceID)
		return err
	})
}

// Pushers belong to the device that set them (Synapse deletes them with
// the device): sqlDeleteDevicePushers deletes one device's,
// sqlDeleteOrphanPushers those of a user's devices that no longer exist.
// Pushers set before devices were recorded (an empty device_id) stay.
const (
	sqlDeleteDevicePushers = "DELETE FROM pushers WHERE user_id = ? AND device_id = ? AND device_id <> ''"
	sqlDeleteOrphanPushers = `DELETE FROM pushers WHERE user_id = ?1 AND device_id <> ''
		AND device_id NOT IN (SELECT device_id FROM devices WHERE user_id = ?1)`
)

// deleteDevicesWhere deletes the devices of userID matching the extra
// condition (with its arguments) and their pushers, and marks the change:
// their keys go with them (by cascade), so users sharing a room stop
// encrypting for them, and other servers are told.
func deleteDevicesWhere(ctx context.Context, q Queryer, userID, cond string, args ...any) error {
	rows, err := q.QueryContext(ctx, "DELETE FROM devices WHERE user_id = ?"+cond+" RETURNING device_id", append([]any{userID}, args...)...)
	if err != nil {
		return err
	}
	var deleted []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		deleted = append(deleted, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, sqlDeleteOrphanPushers, userID); err != nil {
		return err
	}
	slices.Sort(deleted)
	return markDevicesChanged(ctx, q, userID, true, deleted...)
}

// seenThrottle remembers when each device's last_seen was last written.
type seenThrottle struct {
	mu   sync.Mutex
	last map[[2]string]seenMark
}

type seenMark struct {
	at time.Time
	ip string
}

// due reports whether a write is due, and if so records it as done.
func (st *seenThrottle) due(userID, deviceID, ip string, t time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := [2]string{userID, deviceID}
	if m, ok := st.last[k]; ok && m.ip == ip && t.Sub(m.at) < seenInterval && !t.Before(m.at) {
		return false
	}
	if st.last == nil {
		st.last = make(map[[2]string]seenMark)
	}
	st.last[k] = seenMark{at: t, ip: ip}
	return true
}

// forget drops a device's mark (all of the user's devices when deviceID is
// empty).
func (st *seenThrottle) forget(userID, deviceID string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k := range st.last {
		if k[0] == userID && (deviceID == "" || k[1] == deviceID) {
			delete(st.last, k)
		}
	}
}
