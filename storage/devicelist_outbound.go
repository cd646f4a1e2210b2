package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"hearth.dev/hearth/core"
)

// Local device changes for other servers (table device_list_outbound,
// delta 2/24). Every path that creates, renames, deletes or re-keys a local
// device calls markDevicesChanged inside its write transaction, so a change
// that committed is never lost to the servers that must hear of it. A row
// with an empty device_id (markSigningKeysChanged) is a change of the
// user's master or self-signing key: it becomes an m.signing_key_update,
// which has no place in the m.device_list_update chain of stream_ids.

const (
	sqlDeviceOutboundInsert = "INSERT INTO device_list_outbound (stream_id, user_id, device_id, deleted) VALUES (?, ?, ?, ?)"
	sqlDeviceOutboundLast   = "SELECT coalesce(max(stream_id), 0) FROM device_list_outbound WHERE user_id = ? AND stream_id < ? AND device_id <> ''"
	sqlDeviceOutboundPos    = "SELECT stream_id FROM device_list_outbound_position"
	sqlDeviceOutboundSetPos = "UPDATE device_list_outbound_position SET stream_id = ?"
	sqlDeviceOutboundTop    = "SELECT coalesce(max(stream_id), 0) FROM device_list_outbound"
	sqlDeviceOutboundNew    = `SELECT o.stream_id, o.user_id, o.device_id, o.deleted OR d.device_id IS NULL, coalesce(d.display_name, '')
		FROM device_list_outbound o LEFT JOIN devices d ON d.user_id = o.user_id AND d.device_id = o.device_id
		WHERE o.stream_id > ? ORDER BY o.stream_id LIMIT ?`
	// Rows already sent are only needed as a user's newest device change
	// (its prev_id); signing key changes not at all.
	sqlDeviceOutboundPrune = `DELETE FROM device_list_outbound WHERE stream_id <= ?1 AND (device_id = '' OR stream_id <
		(SELECT max(o.stream_id) FROM device_list_outbound o WHERE o.user_id = device_list_outbound.user_id AND o.device_id <> ''))`
	// The other servers with a member joined to a room userID is joined to.
	sqlUserServers = `SELECT DISTINCT substr(c.state_key, instr(c.state_key, ':') + 1)
		FROM local_current_membership l JOIN current_state_events c
		ON c.room_nid = l.room_nid AND c.type = 'm.room.member' AND c.membership = 'join'
		WHERE l.user_id = ? AND l.membership = 'join'`
)

// markDevicesChanged records that deviceIDs of the local user userID were
// created, renamed or re-keyed (or deleted): the device list change /sync
// shows, and one row each in device_list_outbound at a new position of the
// device list stream, for the federation sender.
func markDevicesChanged(ctx context.Context, q Queryer, userID string, deleted bool, deviceIDs ...string) error {
	if len(deviceIDs) == 0 {
		return nil
	}
	if err := markDeviceListChange(ctx, q, userID); err != nil {
		return err
	}
	first, err := deviceListStream.Next(ctx, q, len(deviceIDs))
	if err != nil {
		return err
	}
	for i, dev := range deviceIDs {
		if _, err := q.ExecContext(ctx, sqlDeviceOutboundInsert, first+int64(i), userID, dev, deleted); err != nil {
			return fmt.Errorf("storage: device change of %s %s: %w", userID, dev, err)
		}
	}
	return nil
}

// markSigningKeysChanged records that the local user userID's master or
// self-signing key changed (or was signed anew), for an
// m.signing_key_update to the servers sharing a room with them.
func markSigningKeysChanged(ctx context.Context, q Queryer, userID string) error {
	pos, err := deviceListStream.Next(ctx, q, 1)
	if err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, sqlDeviceOutboundInsert, pos, userID, "", false); err != nil {
		return fmt.Errorf("storage: signing key change of %s: %w", userID, err)
	}
	return nil
}

// DeviceListStreamID returns the stream_id of the newest change of a local
// user's devices that other servers are told of (0 when none was
// recorded): GET /user/devices answers it, and the user's next
// m.device_list_update names it in prev_id.
func (s *KeyStore) DeviceListStreamID(ctx context.Context, userID string) (int64, error) {
	var id int64
	err := s.db.Cached().QueryRowContext(ctx, sqlDeviceOutboundLast, userID, int64(1<<62)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storage: device list stream id of %s: %w", userID, err)
	}
	return id, nil
}

// QueueDeviceListUpdates queues, for each local device change recorded
// since the last call, an m.device_list_update EDU for every other server
// sharing a room with the device's user, and advances past them; see
// core.FederationQueueStore.
func (s *FederationQueueStore) QueueDeviceListUpdates(ctx context.Context, limit int) ([]string, bool, error) {
	if limit <= 0 {
		return nil, false, errors.New("storage: QueueDeviceListUpdates needs a positive limit")
	}
	// QueueWaiting told the sender there are device changes: no read first.
	var dests []string
	var more bool
	err := s.db.Write(ctx, func(q Queryer) error {
		var err error
		dests, more, err = queueDeviceListUpdates(ctx, q, limit)
		return err
	})
	return dests, more, err
}

type deviceChange struct {
	stream       int64
	user, device string
	deleted      bool
	displayName  string
}

func queueDeviceListUpdates(ctx context.Context, q Queryer, limit int) ([]string, bool, error) {
	var pos int64
	if err := q.QueryRowContext(ctx, sqlDeviceOutboundPos).Scan(&pos); err != nil {
		return nil, false, fmt.Errorf("storage: device list position: %w", err)
	}
	var server string
	if err := q.QueryRowContext(ctx, "SELECT value FROM server_config WHERE key = 'server_name'").Scan(&server); err != nil {
		return nil, false, fmt.Errorf("storage: server name: %w", err)
	}
	rows, err := q.QueryContext(ctx, sqlDeviceOutboundNew, pos, limit)
	if err != nil {
		return nil, false, fmt.Errorf("storage: device changes to send: %w", err)
	}
	var changes []deviceChange
	for rows.Next() {
		var c deviceChange
		if err := rows.Scan(&c.stream, &c.user, &c.device, &c.deleted, &c.displayName); err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("storage: device changes to send: %w", err)
		}
		changes = append(changes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("storage: device changes to send: %w", err)
	}
	if len(changes) == 0 {
		return nil, false, nil
	}
	prev := map[string]int64{}
	servers := map[string][]string{}
	sigs := map[string]map[string][]core.KeySignature{}
	touched := map[string]bool{}
	var dests []string
	for _, c := range changes {
		p, ok := prev[c.user]
		if !ok {
			if err := q.QueryRowContext(ctx, sqlDeviceOutboundLast, c.user, c.stream).Scan(&p); err != nil {
				return nil, false, fmt.Errorf("storage: last device change of %s: %w", c.user, err)
			}
		}
		if c.device != "" {
			prev[c.user] = c.stream
		}
		list, ok := servers[c.user]
		if !ok {
			if list, err = userServers(ctx, q, c.user, server); err != nil {
				return nil, false, err
			}
			servers[c.user] = list
		}
		if len(list) == 0 {
			continue
		}
		eduType, content := "m.device_list_update", []byte(nil)
		if c.device == "" {
			eduType = "m.signing_key_update"
			if content, err = signingKeyUpdate(ctx, q, c.user); err != nil {
				return nil, false, err
			}
		} else if content, err = deviceListUpdateContent(ctx, q, c, p, sigs); err != nil {
			return nil, false, err
		}
		if content == nil {
			continue
		}
		for _, d := range list {
			if _, err := q.ExecContext(ctx, sqlFedQueueEDU, d, eduType, content); err != nil {
				return nil, false, fmt.Errorf("storage: queue %s for %s: %w", eduType, d, err)
			}
			if !touched[d] {
				touched[d] = true
				dests = append(dests, d)
			}
		}
	}
	next := changes[len(changes)-1].stream
	if _, err := q.ExecContext(ctx, sqlDeviceOutboundSetPos, next); err != nil {
		return nil, false, fmt.Errorf("storage: device list position: %w", err)
	}
	if _, err := q.ExecContext(ctx, sqlDeviceOutboundPrune, next); err != nil {
		return nil, false, fmt.Errorf("storage: pruning sent device changes: %w", err)
	}
	return dests, len(changes) == limit, nil
}

// deviceListUpdateContent is the m.device_list_update of change c, whose
// user's previous change was at p (0: none).
func deviceListUpdateContent(ctx context.Context, q Queryer, c deviceChange, p int64, sigs map[string]map[string][]core.KeySignature) ([]byte, error) {
	up := core.DeviceListUpdate{UserID: c.user, DeviceID: c.device, StreamID: c.stream, PrevID: []int64{}, Deleted: c.deleted}
	if p > 0 {
		up.PrevID = []int64{p}
	}
	if !c.deleted {
		up.DisplayName = c.displayName
		var err error
		if up.Keys, err = deviceKeysForEDU(ctx, q, c.user, c.device, sigs); err != nil {
			return nil, err
		}
	}
	content, err := json.Marshal(up)
	if err != nil {
		return nil, fmt.Errorf("storage: device list update of %s: %w", c.user, err)
	}
	return content, nil
}

// signingKeyUpdate is the m.signing_key_update of userID: their master and
// self-signing keys with the signatures their own keys made on them (nil
// when they have neither).
func signingKeyUpdate(ctx context.Context, q Queryer, userID string) ([]byte, error) {
	keys, pubs, err := storedCrossSigningKeys(ctx, q, userID)
	if err != nil {
		return nil, err
	}
	if keys.Master == nil && keys.SelfSigning == nil {
		return nil, nil
	}
	sigs, err := visibleSignatures(ctx, q, userID, userID)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"user_id": userID}
	for name, k := range map[string]struct {
		raw json.RawMessage
		typ string
	}{"master_key": {keys.Master, core.CrossSigningMaster}, "self_signing_key": {keys.SelfSigning, core.CrossSigningSelfSigning}} {
		if k.raw == nil {
			continue
		}
		merged, err := mergeSignatures(k.raw, sigs[pubs[k.typ]])
		if err != nil {
			return nil, err
		}
		out[name] = merged
	}
	return json.Marshal(out)
}

// deviceKeysForEDU returns a device's identity keys with the signatures its
// user's own keys made on it (nil when it uploaded none). sigs caches the
// signatures per user.
func deviceKeysForEDU(ctx context.Context, q Queryer, userID, deviceID string, sigs map[string]map[string][]core.KeySignature) (json.RawMessage, error) {
	var keyJSON string
	err := q.QueryRowContext(ctx, "SELECT key_json FROM e2e_device_keys WHERE user_id = ? AND device_id = ?", userID, deviceID).Scan(&keyJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: device keys of %s %s: %w", userID, deviceID, err)
	}
	userSigs, ok := sigs[userID]
	if !ok {
		if userSigs, err = visibleSignatures(ctx, q, userID, userID); err != nil {
			return nil, err
		}
		sigs[userID] = userSigs
	}
	return mergeSignatures([]byte(keyJSON), userSigs[deviceID])
}

// userServers returns the servers other than server with a member joined
// to a room userID is joined to.
func userServers(ctx context.Context, q Queryer, userID, server string) ([]string, error) {
	rows, err := q.QueryContext(ctx, sqlUserServers, userID)
	if err != nil {
		return nil, fmt.Errorf("storage: servers sharing a room with %s: %w", userID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("storage: servers sharing a room with %s: %w", userID, err)
		}
		if d != "" && d != server {
			out = append(out, d)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: servers sharing a room with %s: %w", userID, err)
	}
	return out, nil
}
