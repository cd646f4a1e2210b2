package storage

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/canonicaljson"
)

// KeyStore keeps local devices' end-to-end encryption keys, cross-signing
// keys and signatures, and the device list stream. It implements
// core.DeviceKeyStore, core.CrossSigningStore and core.DeviceListStore.
type KeyStore struct {
	db *DB
	// SharedRoomUsers says who shares a room with a user, for
	// DeviceListChanges. Nil reads joined memberships from
	// local_current_membership. Set it before first use.
	SharedRoomUsers core.SharedRoomUsersFunc
}

var (
	_ core.DeviceKeyStore    = (*KeyStore)(nil)
	_ core.CrossSigningStore = (*KeyStore)(nil)
	_ core.DeviceListStore   = (*KeyStore)(nil)
)

// NewKeyStore returns the key store of db.
func NewKeyStore(db *DB) *KeyStore { return &KeyStore{db: db} }

// deviceListStream numbers changes of local users' devices and keys.
var deviceListStream = StreamIDs{Name: "device_lists", Step: 1}

// splitKeyName splits "<algorithm>:<key_id>".
func splitKeyName(name string) (alg, keyID string, err error) {
	alg, keyID, ok := strings.Cut(name, ":")
	if !ok || alg == "" || keyID == "" {
		return "", "", invalid("key name %q is not <algorithm>:<key_id>", name)
	}
	return alg, keyID, nil
}

// sameJSON reports whether a and b are the same JSON value, whatever
// their spacing and member order.
func sameJSON(a, b []byte) bool {
	ca, errA := canonicaljson.Canonicalize(a, canonicaljson.Lenient)
	cb, errB := canonicaljson.Canonicalize(b, canonicaljson.Lenient)
	if errA != nil || errB != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca, cb)
}

// compactJSON returns raw without insignificant space, or an error wrapping
// core.ErrBadJSON.
func compactJSON(raw []byte) (string, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", fmt.Errorf("storage: %w", core.ErrBadJSON.WithMessage("invalid key JSON"))
	}
	return b.String(), nil
}

// UploadKeys implements core.DeviceKeyStore.
func (s *KeyStore) UploadKeys(ctx context.Context, userID, deviceID string, up core.KeyUpload) (map[string]int, error) {
	var counts map[string]int
	err := s.db.Write(ctx, func(q Queryer) error {
		if up.DeviceKeys != nil {
			if err := putDeviceKeys(ctx, q, userID, deviceID, up.DeviceKeys); err != nil {
				return err
			}
		}
		if err := putOneTimeKeys(ctx, q, userID, deviceID, up.OneTimeKeys); err != nil {
			return err
		}
		if err := putFallbackKeys(ctx, q, userID, deviceID, up.FallbackKeys); err != nil {
			return err
		}
		var err error
		counts, err = oneTimeKeyCounts(ctx, q, userID, deviceID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// putDeviceKeys stores a device's identity keys, recording a device list
// change when they are new or differ.
func putDeviceKeys(ctx context.Context, q Queryer, userID, deviceID string, raw []byte) error {
	keyJSON, err := compactJSON(raw)
	if err != nil {
		return err
	}
	var old string
	err = q.QueryRowContext(ctx, "SELECT key_json FROM e2e_device_keys WHERE user_id = ? AND device_id = ?", userID, deviceID).Scan(&old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("storage: device keys of %s %s: %w", userID, deviceID, err)
	case sameJSON([]byte(old), []byte(keyJSON)):
		return nil
	}
	_, err = q.ExecContext(ctx, `INSERT INTO e2e_device_keys (user_id, device_id, key_json) VALUES (?, ?, ?)
		ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json`, userID, deviceID, keyJSON)
	if err != nil {
		return fmt.Errorf("storage: storing device keys of %s %s: %w", userID, deviceID, err)
	}
	return markDevicesChanged(ctx, q, userID, false, deviceID)
}

// putOneTimeKeys adds one-time keys. Keys of one upload are equivalent in
// the claim order; they are inserted in name order. Uploading a key ID that
// is held again with the same content is a no-op.
func putOneTimeKeys(ctx context.Context, q Queryer, userID, deviceID string, keys map[string]json.RawMessage) error {
	for _, name := range sortedKeys(keys) {
		alg, keyID, err := splitKeyName(name)
		if err != nil {
			return err
		}
		keyJSON, err := compactJSON(keys[name])
		if err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, `INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, userID, deviceID, alg, keyID, keyJSON)
		if err != nil {
			return fmt.Errorf("storage: storing one-time key %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			continue
		}
		var old string
		err = q.QueryRowContext(ctx, `SELECT key_json FROM e2e_one_time_keys
			WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?`, userID, deviceID, alg, keyID).Scan(&old)
		if err != nil {
			return fmt.Errorf("storage: one-time key %s: %w", name, err)
		}
		if !sameJSON([]byte(old), []byte(keyJSON)) {
			return invalid("one-time key %s already exists with other content", name)
		}
	}
	return nil
}

// putFallbackKeys stores one fallback key per algorithm (the last by name
// when an upload has several). The same key uploaded again keeps its used
// flag; another key replaces it as unused.
func putFallbackKeys(ctx context.Context, q Queryer, userID, deviceID string, keys map[string]json.RawMessage) error {
	for _, name := range sortedKeys(keys) {
		alg, keyID, err := splitKeyName(name)
		if err != nil {
			return err
		}
		keyJSON, err := compactJSON(keys[name])
		if err != nil {
			return err
		}
		var oldID, oldJSON string
		err = q.QueryRowContext(ctx, `SELECT key_id, key_json FROM e2e_fallback_keys
			WHERE user_id = ? AND device_id = ? AND algorithm = ?`, userID, deviceID, alg).Scan(&oldID, &oldJSON)
		if err == nil && oldID == keyID && sameJSON([]byte(oldJSON), []byte(keyJSON)) {
			continue
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("storage: fallback key %s: %w", name, err)
		}
		_, err = q.ExecContext(ctx, `INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)
			VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (user_id, device_id, algorithm)
			DO UPDATE SET key_id = excluded.key_id, key_json = excluded.key_json, used = 0`,
			userID, deviceID, alg, keyID, keyJSON)
		if err != nil {
			return fmt.Errorf("storage: storing fallback key %s: %w", name, err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// OneTimeKeyCounts implements core.DeviceKeyStore.
func (s *KeyStore) OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error) {
	return oneTimeKeyCounts(ctx, s.db.Cached(), userID, deviceID)
}

// oneTimeKeyCounts reads the device's kept counts (delta 2/33: triggers on
// e2e_one_time_keys keep them in the writing transaction), one row per
// algorithm it ever held, rather than counting every unclaimed key.
// Algorithms whose keys are all claimed are left out, as a count of the
// keys would leave them out.
func oneTimeKeyCounts(ctx context.Context, q Queryer, userID, deviceID string) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT algorithm, key_count FROM e2e_one_time_key_counts
		WHERE user_id = ? AND device_id = ? AND key_count > 0`, userID, deviceID)
	if err != nil {
		return nil, fmt.Errorf("storage: one-time key counts: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var alg string
		var n int
		if err := rows.Scan(&alg, &n); err != nil {
			return nil, fmt.Errorf("storage: one-time key counts: %w", err)
		}
		counts[alg] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: one-time key counts: %w", err)
	}
	return counts, nil
}

// UnusedFallbackKeyTypes implements core.DeviceKeyStore.
func (s *KeyStore) UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error) {
	rows, err := s.db.Cached().QueryContext(ctx, `SELECT algorithm FROM e2e_fallback_keys
		WHERE user_id = ? AND device_id = ? AND used = 0 ORDER BY algorithm`, userID, deviceID)
	if err != nil {
		return nil, fmt.Errorf("storage: fallback keys: %w", err)
	}
	defer rows.Close()
	algs := []string{}
	for rows.Next() {
		var alg string
		if err := rows.Scan(&alg); err != nil {
			return nil, fmt.Errorf("storage: fallback keys: %w", err)
		}
		algs = append(algs, alg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: fallback keys: %w", err)
	}
	return algs, nil
}

// QueryDeviceKeys implements core.DeviceKeyStore.
func (s *KeyStore) QueryDeviceKeys(ctx context.Context, requester string, query map[string][]string) (map[string]map[string]json.RawMessage, error) {
	out := map[string]map[string]json.RawMessage{}
	err := s.db.Read(ctx, func(q Queryer) error {
		for _, userID := range sortedKeys(query) {
			keys, err := userDeviceKeys(ctx, q, userID, query[userID])
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				continue
			}
			sigs, err := visibleSignatures(ctx, q, requester, userID)
			if err != nil {
				return err
			}
			devs := make(map[string]json.RawMessage, len(keys))
			for dev, k := range keys {
				merged, err := decorateKey([]byte(k.keyJSON), sigs[dev], k.displayName)
				if err != nil {
					return err
				}
				devs[dev] = merged
			}
			out[userID] = devs
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// storedDeviceKey is a device's key JSON and display name.
type storedDeviceKey struct {
	keyJSON     string
	displayName string
}

// userDeviceKeys returns the stored keys of a user's existing devices (all
// of them when deviceIDs is empty).
func userDeviceKeys(ctx context.Context, q Queryer, userID string, deviceIDs []string) (map[string]storedDeviceKey, error) {
	const query = `SELECT k.device_id, k.key_json, COALESCE(d.display_name, '')
		FROM e2e_device_keys k JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
		WHERE k.user_id = ?`
	keys := map[string]storedDeviceKey{}
	scan := func(rows *sql.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var dev string
			var k storedDeviceKey
			if err := rows.Scan(&dev, &k.keyJSON, &k.displayName); err != nil {
				return err
			}
			keys[dev] = k
		}
		return rows.Err()
	}
	if len(deviceIDs) == 0 {
		rows, err := q.QueryContext(ctx, query, userID)
		if err == nil {
			err = scan(rows)
		}
		if err != nil {
			return nil, fmt.Errorf("storage: device keys of %s: %w", userID, err)
		}
		return keys, nil
	}
	for _, dev := range deviceIDs {
		rows, err := q.QueryContext(ctx, query+" AND k.device_id = ?", userID, dev)
		if err == nil {
			err = scan(rows)
		}
		if err != nil {
			return nil, fmt.Errorf("storage: device keys of %s %s: %w", userID, dev, err)
		}
	}
	return keys, nil
}

// ClaimKeys implements core.DeviceKeyStore.
func (s *KeyStore) ClaimKeys(ctx context.Context, claims map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error) {
	out := map[string]map[string]map[string]json.RawMessage{}
	err := s.db.Write(ctx, func(q Queryer) error {
		clear(out) // a retried transaction starts over
		for _, userID := range sortedKeys(claims) {
			for _, dev := range sortedKeys(claims[userID]) {
				alg := claims[userID][dev]
				name, key, err := claimKey(ctx, q, userID, dev, alg)
				if err != nil {
					return err
				}
				if name == "" {
					continue
				}
				if out[userID] == nil {
					out[userID] = map[string]map[string]json.RawMessage{}
				}
				out[userID][dev] = map[string]json.RawMessage{name: key}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// claimKey takes the device's oldest one-time key of alg, or else its
// fallback key of alg (marked used). It returns "" when there is neither.
func claimKey(ctx context.Context, q Queryer, userID, deviceID, alg string) (string, json.RawMessage, error) {
	var id int64
	var keyID, keyJSON string
	err := q.QueryRowContext(ctx, `DELETE FROM e2e_one_time_keys WHERE id = (
			SELECT id FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? ORDER BY id LIMIT 1)
		RETURNING id, key_id, key_json`, userID, deviceID, alg).Scan(&id, &keyID, &keyJSON)
	if err == nil {
		return alg + ":" + keyID, json.RawMessage(keyJSON), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", nil, fmt.Errorf("storage: claiming a one-time key of %s %s: %w", userID, deviceID, err)
	}
	err = q.QueryRowContext(ctx, `UPDATE e2e_fallback_keys SET used = 1
		WHERE user_id = ? AND device_id = ? AND algorithm = ? RETURNING key_id, key_json`,
		userID, deviceID, alg).Scan(&keyID, &keyJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("storage: claiming the fallback key of %s %s: %w", userID, deviceID, err)
	}
	return alg + ":" + keyID, json.RawMessage(keyJSON), nil
}

// deleteDeviceE2EE is for device deletion, inside its write transaction:
// the keys of the devices and their to-device messages go with the devices
// rows (ON DELETE CASCADE); this removes the signatures uploaded on them and
// records a device list change for userID, so other users' clients refetch
// the list.
func deleteDeviceE2EE(ctx context.Context, q Queryer, userID string, deviceIDs ...string) error {
	for _, dev := range deviceIDs {
		_, err := q.ExecContext(ctx, "DELETE FROM e2e_cross_signing_signatures WHERE target_user_id = ? AND target_key_id = ?", userID, dev)
		if err != nil {
			return fmt.Errorf("storage: deleting signatures on %s %s: %w", userID, dev, err)
		}
	}
	return markDeviceListChange(ctx, q, userID)
}

// mergeSignatures adds sigs to the "signatures" member of the JSON object
// obj.
func mergeSignatures(obj []byte, sigs []core.KeySignature) (json.RawMessage, error) {
	return decorateKey(obj, sigs, "")
}

// decorateKey adds sigs to the "signatures" member of the JSON object obj
// and, when displayName is set, sets unsigned.device_display_name. obj is
// returned as it is when there is nothing to add.
func decorateKey(obj []byte, sigs []core.KeySignature, displayName string) (json.RawMessage, error) {
	if len(sigs) == 0 && displayName == "" {
		return json.RawMessage(obj), nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil || m == nil {
		return nil, fmt.Errorf("storage: stored key %.40q is not a JSON object", obj)
	}
	if len(sigs) > 0 {
		all := map[string]map[string]json.RawMessage{}
		if raw, ok := m["signatures"]; ok {
			// A malformed signatures member is replaced by the merged one.
			_ = json.Unmarshal(raw, &all)
		}
		for _, sg := range sigs {
			if all[sg.SignerUserID] == nil {
				all[sg.SignerUserID] = map[string]json.RawMessage{}
			}
			b, _ := json.Marshal(sg.Signature)
			all[sg.SignerUserID][sg.SignerKeyID] = b
		}
		b, err := json.Marshal(all)
		if err != nil {
			return nil, fmt.Errorf("storage: merging signatures: %w", err)
		}
		m["signatures"] = b
	}
	if displayName != "" {
		unsigned := map[string]json.RawMessage{}
		if raw, ok := m["unsigned"]; ok {
			// Clients should not send unsigned; a malformed one is replaced.
			_ = json.Unmarshal(raw, &unsigned)
		}
		b, _ := json.Marshal(displayName)
		unsigned["device_display_name"] = b
		b, err := json.Marshal(unsigned)
		if err != nil {
			return nil, fmt.Errorf("storage: unsigned: %w", err)
		}
		m["unsigned"] = b
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("storage: decorating a key: %w", err)
	}
	return out, nil
}
