package storage

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"hearth.dev/hearth/core"
)

// RemoteServerKeyStore keeps other servers' keys (core.ServerKeyStore).
type RemoteServerKeyStore struct{ db *DB }

var _ core.ServerKeyStore = (*RemoteServerKeyStore)(nil)

// NewRemoteServerKeyStore returns the store of remote server keys.
func NewRemoteServerKeyStore(db *DB) *RemoteServerKeyStore { return &RemoteServerKeyStore{db: db} }

const selectRemoteServerKey = `SELECT verify_key, valid_until_ts, expired_ts FROM remote_server_keys
WHERE server_name = ? AND key_id = ?`

// RemoteServerKey returns a cached key or an error wrapping
// core.ErrKeyNotFound.
func (s *RemoteServerKeyStore) RemoteServerKey(ctx context.Context, server, keyID string) (core.RemoteServerKey, error) {
	k := core.RemoteServerKey{ServerName: server, KeyID: keyID}
	var key []byte
	err := s.db.reader.QueryRowContext(ctx, selectRemoteServerKey, server, keyID).Scan(&key, &k.ValidUntilTS, &k.ExpiredTS)
	if errors.Is(err, sql.ErrNoRows) {
		return k, fmt.Errorf("storage: %s %s: %w", server, keyID, core.ErrKeyNotFound)
	}
	if err != nil {
		return k, fmt.Errorf("storage: read server key: %w", err)
	}
	if len(key) != ed25519.PublicKeySize {
		return k, fmt.Errorf("storage: server key %s %s is %d bytes", server, keyID, len(key))
	}
	k.Key = ed25519.PublicKey(key)
	return k, nil
}

// A key keeps the latest validity seen, and once old stays old.
const upsertRemoteServerKey = `INSERT INTO remote_server_keys (server_name, key_id, verify_key, valid_until_ts, expired_ts)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (server_name, key_id) DO UPDATE SET
    verify_key = excluded.verify_key,
    valid_until_ts = MAX(valid_until_ts, excluded.valid_until_ts),
    expired_ts = CASE WHEN excluded.expired_ts > 0 THEN excluded.expired_ts ELSE expired_ts END`

const upsertRemoteServerKeysJSON = `INSERT INTO remote_server_keys_json (server_name, key_json, valid_until_ts, fetched_ts)
VALUES (?, ?, ?, ?)
ON CONFLICT (server_name) DO UPDATE SET
    key_json = excluded.key_json, valid_until_ts = excluded.valid_until_ts, fetched_ts = excluded.fetched_ts
WHERE excluded.valid_until_ts >= remote_server_keys_json.valid_until_ts`

// StoreRemoteServerKeys records one verified key response in one write.
func (s *RemoteServerKeyStore) StoreRemoteServerKeys(ctx context.Context, server string, keyJSON []byte, validUntilTS int64, keys []core.RemoteServerKey) error {
	return s.db.Write(ctx, func(q Queryer) error {
		for _, k := range keys {
			if _, err := q.ExecContext(ctx, upsertRemoteServerKey, server, k.KeyID, []byte(k.Key), k.ValidUntilTS, k.ExpiredTS); err != nil {
				return fmt.Errorf("storage: store server key: %w", err)
			}
		}
		if _, err := q.ExecContext(ctx, upsertRemoteServerKeysJSON, server, keyJSON, validUntilTS, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("storage: store server key response: %w", err)
		}
		return nil
	})
}

// RemoteServerKeysJSON returns the stored response of server's keys and its
// valid_until_ts, or an error wrapping core.ErrKeyNotFound.
func (s *RemoteServerKeyStore) RemoteServerKeysJSON(ctx context.Context, server string) ([]byte, int64, error) {
	var b []byte
	var until int64
	err := s.db.reader.QueryRowContext(ctx, "SELECT key_json, valid_until_ts FROM remote_server_keys_json WHERE server_name = ?", server).Scan(&b, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("storage: keys of %s: %w", server, core.ErrKeyNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("storage: read server key response: %w", err)
	}
	return b, until, nil
}
