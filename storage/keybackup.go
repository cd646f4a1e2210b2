package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"hearth.dev/hearth/core"
)

// KeyBackupStore keeps users' server-side key backups. It implements
// core.KeyBackupStore.
type KeyBackupStore struct {
	db *DB
}

var _ core.KeyBackupStore = (*KeyBackupStore)(nil)

// NewKeyBackupStore returns the key backup store of db.
func NewKeyBackupStore(db *DB) *KeyBackupStore { return &KeyBackupStore{db: db} }

// errUnknownBackup is the spec's 404 for a backup version that does not
// exist.
var errUnknownBackup = core.ErrNotFound.WithMessage("Unknown backup version")

// parseBackupVersion reads a version string; anything but a positive
// decimal number names no backup.
func parseBackupVersion(version string) (int64, error) {
	v, err := strconv.ParseInt(version, 10, 64)
	if err != nil || v <= 0 || strconv.FormatInt(v, 10) != version {
		return 0, fmt.Errorf("storage: backup version %q: %w", version, errUnknownBackup)
	}
	return v, nil
}

// currentBackupVersion returns the user's newest backup that is not
// deleted, or 0 when there is none.
func currentBackupVersion(ctx context.Context, q Queryer, userID string) (int64, error) {
	var v sql.NullInt64
	err := q.QueryRowContext(ctx, "SELECT MAX(version) FROM e2e_room_keys_versions WHERE user_id = ? AND deleted = 0", userID).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("storage: current backup of %s: %w", userID, err)
	}
	return v.Int64, nil
}

// CreateKeyBackup implements core.KeyBackupStore.
func (s *KeyBackupStore) CreateKeyBackup(ctx context.Context, userID, algorithm string, authData json.RawMessage) (string, error) {
	auth, err := compactJSON(authData)
	if err != nil {
		return "", err
	}
	var version int64
	err = s.db.Write(ctx, func(q Queryer) error {
		err := q.QueryRowContext(ctx, `INSERT INTO e2e_room_keys_versions (user_id, version, algorithm, auth_data)
			SELECT ?, COALESCE(MAX(version), 0) + 1, ?, ? FROM e2e_room_keys_versions WHERE user_id = ?
			RETURNING version`, userID, algorithm, auth, userID).Scan(&version)
		if err != nil {
			return fmt.Errorf("storage: creating a key backup for %s: %w", userID, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(version, 10), nil
}

// KeyBackup implements core.KeyBackupStore.
func (s *KeyBackupStore) KeyBackup(ctx context.Context, userID, version string) (*core.KeyBackupVersion, error) {
	var out *core.KeyBackupVersion
	err := s.db.Read(ctx, func(q Queryer) error {
		var v int64
		var err error
		if version == "" {
			if v, err = currentBackupVersion(ctx, q, userID); err != nil {
				return err
			}
			if v == 0 {
				return fmt.Errorf("storage: %w", core.ErrNotFound.WithMessage("No current backup version"))
			}
		} else if v, err = parseBackupVersion(version); err != nil {
			return err
		}
		out, err = backupInfo(ctx, q, userID, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// backupInfo describes backup v of userID, or returns an error wrapping
// core.ErrNotFound if it does not exist or was deleted.
func backupInfo(ctx context.Context, q Queryer, userID string, v int64) (*core.KeyBackupVersion, error) {
	var alg, auth string
	var etag int64
	err := q.QueryRowContext(ctx, `SELECT algorithm, auth_data, etag FROM e2e_room_keys_versions
		WHERE user_id = ? AND version = ? AND deleted = 0`, userID, v).Scan(&alg, &auth, &etag)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("storage: backup %d of %s: %w", v, userID, errUnknownBackup)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: backup %d of %s: %w", v, userID, err)
	}
	count, err := backupKeyCount(ctx, q, userID, v)
	if err != nil {
		return nil, err
	}
	return &core.KeyBackupVersion{
		Version:   strconv.FormatInt(v, 10),
		Algorithm: alg,
		AuthData:  json.RawMessage(auth),
		Count:     count,
		ETag:      strconv.FormatInt(etag, 10),
	}, nil
}

func backupKeyCount(ctx context.Context, q Queryer, userID string, v int64) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM e2e_room_keys WHERE user_id = ? AND version = ?", userID, v).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("storage: key count of backup %d: %w", v, err)
	}
	return n, nil
}

// UpdateKeyBackup implements core.KeyBackupStore.
func (s *KeyBackupStore) UpdateKeyBackup(ctx context.Context, userID, version, algorithm string, authData json.RawMessage) error {
	v, err := parseBackupVersion(version)
	if err != nil {
		return err
	}
	auth, err := compactJSON(authData)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(q Queryer) error {
		info, err := backupInfo(ctx, q, userID, v)
		if err != nil {
			return err
		}
		if info.Algorithm != algorithm {
			return fmt.Errorf("storage: %w", core.ErrInvalidParam.WithMessage("Algorithm does not match"))
		}
		_, err = q.ExecContext(ctx, "UPDATE e2e_room_keys_versions SET auth_data = ? WHERE user_id = ? AND version = ?", auth, userID, v)
		if err != nil {
			return fmt.Errorf("storage: updating backup %d of %s: %w", v, userID, err)
		}
		return nil
	})
}

// DeleteKeyBackup implements core.KeyBackupStore.
func (s *KeyBackupStore) DeleteKeyBackup(ctx context.Context, userID, version string) error {
	v, err := parseBackupVersion(version)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(q Queryer) error {
		res, err := q.ExecContext(ctx, "UPDATE e2e_room_keys_versions SET deleted = 1 WHERE user_id = ? AND version = ?", userID, v)
		if err != nil {
			return fmt.Errorf("storage: deleting backup %d of %s: %w", v, userID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("storage: backup %d of %s: %w", v, userID, errUnknownBackup)
		}
		if _, err := q.ExecContext(ctx, "DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ?", userID, v); err != nil {
			return fmt.Errorf("storage: deleting keys of backup %d of %s: %w", v, userID, err)
		}
		return nil
	})
}

// PutRoomKeys implements core.KeyBackupStore.
func (s *KeyBackupStore) PutRoomKeys(ctx context.Context, userID, version string, keys map[string]map[string]core.RoomKeyBackup) (int64, string, error) {
	var count, etag int64
	err := s.db.Write(ctx, func(q Queryer) error {
		cur, err := currentBackupVersion(ctx, q, userID)
		if err != nil {
			return err
		}
		if cur == 0 {
			return fmt.Errorf("storage: %w", errUnknownBackup)
		}
		if v, err := parseBackupVersion(version); err != nil || v != cur {
			return fmt.Errorf("storage: backup %q of %s: %w", version, userID,
				core.ErrWrongRoomKeysVersion.WithExtra("current_version", strconv.FormatInt(cur, 10)))
		}
		changed := false
		for _, roomID := range sortedKeys(keys) {
			for _, sessionID := range sortedKeys(keys[roomID]) {
				ch, err := putRoomKey(ctx, q, userID, cur, roomID, sessionID, keys[roomID][sessionID])
				if err != nil {
					return err
				}
				changed = changed || ch
			}
		}
		if changed {
			_, err := q.ExecContext(ctx, "UPDATE e2e_room_keys_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?", userID, cur)
			if err != nil {
				return fmt.Errorf("storage: backup etag: %w", err)
			}
		}
		if err := q.QueryRowContext(ctx, "SELECT etag FROM e2e_room_keys_versions WHERE user_id = ? AND version = ?", userID, cur).Scan(&etag); err != nil {
			return fmt.Errorf("storage: backup etag: %w", err)
		}
		count, err = backupKeyCount(ctx, q, userID, cur)
		return err
	})
	if err != nil {
		return 0, "", err
	}
	return count, strconv.FormatInt(etag, 10), nil
}

// putRoomKey stores k for a session unless the backup holds a better key,
// and reports whether it stored it.
func putRoomKey(ctx context.Context, q Queryer, userID string, v int64, roomID, sessionID string, k core.RoomKeyBackup) (bool, error) {
	data, err := compactJSON(k.SessionData)
	if err != nil {
		return false, err
	}
	var old core.RoomKeyBackup
	err = q.QueryRowContext(ctx, `SELECT first_message_index, forwarded_count, is_verified FROM e2e_room_keys
		WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?`, userID, v, roomID, sessionID).
		Scan(&old.FirstMessageIndex, &old.ForwardedCount, &old.IsVerified)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, fmt.Errorf("storage: backed-up key %s %s: %w", roomID, sessionID, err)
	case !k.Better(old):
		return false, nil
	}
	_, err = q.ExecContext(ctx, `INSERT INTO e2e_room_keys (user_id, version, room_id, session_id,
			first_message_index, forwarded_count, is_verified, session_data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
			first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count,
			is_verified = excluded.is_verified, session_data = excluded.session_data`,
		userID, v, roomID, sessionID, k.FirstMessageIndex, k.ForwardedCount, k.IsVerified, data)
	if err != nil {
		return false, fmt.Errorf("storage: storing backed-up key %s %s: %w", roomID, sessionID, err)
	}
	return true, nil
}

// roomKeysFilter is the WHERE clause selecting keys of one backup, room or
// session.
func roomKeysFilter(userID string, v int64, roomID, sessionID string) (string, []any) {
	where, args := "user_id = ? AND version = ?", []any{userID, v}
	if roomID != "" {
		where += " AND room_id = ?"
		args = append(args, roomID)
		if sessionID != "" {
			where += " AND session_id = ?"
			args = append(args, sessionID)
		}
	}
	return where, args
}

// RoomKeys implements core.KeyBackupStore.
func (s *KeyBackupStore) RoomKeys(ctx context.Context, userID, version, roomID, sessionID string) (map[string]map[string]core.RoomKeyBackup, error) {
	v, err := parseBackupVersion(version)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]core.RoomKeyBackup{}
	err = s.db.Read(ctx, func(q Queryer) error {
		if _, err := backupInfo(ctx, q, userID, v); err != nil {
			return err
		}
		where, args := roomKeysFilter(userID, v, roomID, sessionID)
		rows, err := q.QueryContext(ctx, `SELECT room_id, session_id, first_message_index, forwarded_count,
			is_verified, session_data FROM e2e_room_keys WHERE `+where, args...)
		if err != nil {
			return fmt.Errorf("storage: keys of backup %d: %w", v, err)
		}
		defer rows.Close()
		for rows.Next() {
			var room, session, data string
			var k core.RoomKeyBackup
			if err := rows.Scan(&room, &session, &k.FirstMessageIndex, &k.ForwardedCount, &k.IsVerified, &data); err != nil {
				return fmt.Errorf("storage: keys of backup %d: %w", v, err)
			}
			k.SessionData = json.RawMessage(data)
			if out[room] == nil {
				out[room] = map[string]core.RoomKeyBackup{}
			}
			out[room][session] = k
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("storage: keys of backup %d: %w", v, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteRoomKeys implements core.KeyBackupStore.
func (s *KeyBackupStore) DeleteRoomKeys(ctx context.Context, userID, version, roomID, sessionID string) (int64, string, error) {
	v, err := parseBackupVersion(version)
	if err != nil {
		return 0, "", err
	}
	var count int64
	var etag string
	err = s.db.Write(ctx, func(q Queryer) error {
		if _, err := backupInfo(ctx, q, userID, v); err != nil {
			return err
		}
		where, args := roomKeysFilter(userID, v, roomID, sessionID)
		res, err := q.ExecContext(ctx, "DELETE FROM e2e_room_keys WHERE "+where, args...)
		if err != nil {
			return fmt.Errorf("storage: deleting keys of backup %d: %w", v, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			_, err := q.ExecContext(ctx, "UPDATE e2e_room_keys_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?", userID, v)
			if err != nil {
				return fmt.Errorf("storage: backup etag: %w", err)
			}
		}
		info, err := backupInfo(ctx, q, userID, v)
		if err != nil {
			return err
		}
		count, etag = info.Count, info.ETag
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	return count, etag, nil
}
