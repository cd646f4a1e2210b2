package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"hearth.dev/hearth/core/signing"
)

// ServerSigningKey returns the server's ed25519 signing key: the key in
// use in server_keys, made and stored the first time it is asked for. The
// key never changes after that (it is in every event the server signed and
// in other servers' key caches), so a database moved to another host keeps
// its identity.
func (db *DB) ServerSigningKey(ctx context.Context) (signing.Key, error) {
	if k, err := currentServerKey(ctx, db.reader); err == nil || !errors.Is(err, sql.ErrNoRows) {
		return k, err
	}
	var key signing.Key
	err := db.Write(ctx, func(q Queryer) error {
		// Another caller may have made it since the read above.
		k, err := currentServerKey(ctx, q)
		if err == nil {
			key = k
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if key, err = signing.GenerateKey("a_" + rand.Text()[:6]); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx,
			"INSERT INTO server_keys (key_id, seed, created_ts) VALUES (?, ?, ?)",
			key.ID, key.Seed(), time.Now().UnixMilli())
		if err != nil {
			return fmt.Errorf("storage: store the server key: %w", err)
		}
		return nil
	})
	if err != nil {
		return signing.Key{}, err
	}
	return key, nil
}

// currentServerKey reads the key in use; sql.ErrNoRows when there is none.
func currentServerKey(ctx context.Context, q Queryer) (signing.Key, error) {
	var id string
	var seed []byte
	err := q.QueryRowContext(ctx,
		"SELECT key_id, seed FROM server_keys WHERE expired_ts IS NULL ORDER BY created_ts DESC LIMIT 1").
		Scan(&id, &seed)
	if errors.Is(err, sql.ErrNoRows) {
		return signing.Key{}, err
	}
	if err != nil {
		return signing.Key{}, fmt.Errorf("storage: read the server key: %w", err)
	}
	k, err := signing.KeyFromSeed(id, seed)
	if err != nil {
		return signing.Key{}, fmt.Errorf("storage: the stored server key %s is damaged: %w", id, err)
	}
	return k, nil
}
