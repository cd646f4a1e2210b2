package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"hearth.dev/hearth/core"
)

// openIDTokenPrefix marks OpenID tokens among the other kinds.
const openIDTokenPrefix = "hot_"

const (
	sqlDeleteExpiredOpenID = "DELETE FROM open_id_tokens WHERE ts_valid_until_ms <= ?"
	sqlInsertOpenID        = "INSERT INTO open_id_tokens (token_hash, user_id, ts_valid_until_ms) VALUES (?, ?, ?)"
	sqlSelectOpenID        = "SELECT user_id, ts_valid_until_ms FROM open_id_tokens WHERE token_hash = ?"
)

// errUnknownOpenID answers a token that does not exist or has expired.
var errUnknownOpenID = core.ErrUnknownToken.WithMessage("Token is not recognised")

// CreateOpenIDToken issues an OpenID token for userID valid for ttl; see
// core.OpenIDTokenStore. Expired tokens are deleted on the way.
func (s *AccountStore) CreateOpenIDToken(ctx context.Context, userID string, ttl time.Duration) (string, error) {
	token := newToken(openIDTokenPrefix)
	h := hashToken(token)
	now := s.now()
	err := s.db.Write(ctx, func(q Queryer) error {
		if _, err := q.ExecContext(ctx, sqlDeleteExpiredOpenID, now.UnixMilli()); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, sqlInsertOpenID, h[:], userID, now.Add(ttl).UnixMilli())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("storage: openid token for %s: %w", userID, err)
	}
	return token, nil
}

// OpenIDTokenUser returns the user an unexpired OpenID token was issued
// to; see core.OpenIDTokenStore.
func (s *AccountStore) OpenIDTokenUser(ctx context.Context, token string) (string, error) {
	h := hashToken(token)
	var userID string
	var until int64
	err := s.db.Read(ctx, func(q Queryer) error {
		return q.QueryRowContext(ctx, sqlSelectOpenID, h[:]).Scan(&userID, &until)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", errUnknownOpenID
	}
	if err != nil {
		return "", fmt.Errorf("storage: openid token: %w", err)
	}
	if s.now().UnixMilli() >= until {
		return "", errUnknownOpenID
	}
	return userID, nil
}
