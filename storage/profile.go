package storage

import (
	"context"
	"encoding/json"
	"fmt"

	"hearth.dev/hearth/core"
)

// ProfileStore keeps local users' profile fields. It implements
// core.ProfileStore.
type ProfileStore struct {
	db *DB
}

var _ core.ProfileStore = (*ProfileStore)(nil)

// NewProfileStore returns the profile store of db.
func NewProfileStore(db *DB) *ProfileStore { return &ProfileStore{db: db} }

const (
	sqlProfileFields = "SELECT key, value FROM profile_fields WHERE user_id = ?"
	sqlProfileSize   = "SELECT COALESCE(SUM(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB)) + 6), 0) FROM profile_fields WHERE user_id = ? AND key <> ?"
	sqlProfileSet    = `INSERT INTO profile_fields (user_id, key, value) VALUES (?, ?, ?)
		ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value`
	sqlProfileDelete = "DELETE FROM profile_fields WHERE user_id = ? AND key = ?"
)

// Profile implements core.ProfileStore.
func (s *ProfileStore) Profile(ctx context.Context, userID string) (map[string]json.RawMessage, error) {
	rows, err := s.db.Cached().QueryContext(ctx, sqlProfileFields, userID)
	if err != nil {
		return nil, fmt.Errorf("storage: profile of %s: %w", userID, err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("storage: profile of %s: %w", userID, err)
		}
		out[k] = json.RawMessage(v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: profile of %s: %w", userID, err)
	}
	return out, nil
}

// SetProfileField implements core.ProfileStore. The size of a profile is
// counted as its JSON object would be: each key and value, quoted key,
// colon and comma.
func (s *ProfileStore) SetProfileField(ctx context.Context, userID, key string, value json.RawMessage) error {
	if len(key) > core.MaxProfileKeyLen {
		return fmt.Errorf("storage: profile of %s: %w", userID, core.ErrKeyTooLarge)
	}
	if !json.Valid(value) {
		return fmt.Errorf("storage: profile of %s: %w", userID, core.ErrBadJSON)
	}
	if err := core.CheckProfileField(key, value); err != nil {
		return fmt.Errorf("storage: profile of %s: %w", userID, err)
	}
	return s.db.Write(ctx, func(q Queryer) error {
		var others int64
		if err := q.QueryRowContext(ctx, sqlProfileSize, userID, key).Scan(&others); err != nil {
			return fmt.Errorf("storage: profile of %s: %w", userID, err)
		}
		if others+int64(len(key)+len(value)+6)+2 > core.MaxProfileSize {
			return fmt.Errorf("storage: profile of %s: %w", userID, core.ErrProfileTooLarge)
		}
		if _, err := q.ExecContext(ctx, sqlProfileSet, userID, key, string(value)); err != nil {
			return fmt.Errorf("storage: profile of %s: %w", userID, err)
		}
		return nil
	})
}

// DeleteProfileField implements core.ProfileStore.
func (s *ProfileStore) DeleteProfileField(ctx context.Context, userID, key string) error {
	return s.db.Write(ctx, func(q Queryer) error {
		if _, err := q.ExecContext(ctx, sqlProfileDelete, userID, key); err != nil {
			return fmt.Errorf("storage: profile of %s: %w", userID, err)
		}
		return nil
	})
}
