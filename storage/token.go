package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"hearth.dev/hearth/core"
)

// Token prefixes tell the kinds apart in logs and bug reports; the rest is
// 256 random bits in unpadded base64url.
const (
	accessTokenPrefix  = "hat_"
	refreshTokenPrefix = "hrt_"
	loginTokenPrefix   = "hlt_"
)

// newToken returns prefix followed by 256 random bits.
func newToken(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is what the tables store and are searched by.
func hashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// NewDeviceID returns a new random device ID: ten upper-case letters, as
// Synapse makes them.
func NewDeviceID() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	out := make([]byte, 0, 10)
	buf := make([]byte, 16)
	for len(out) < 10 {
		rand.Read(buf)
		for _, b := range buf {
			// 234 = 9*26: drop the top bytes so every letter is equally likely.
			if b < 234 && len(out) < 10 {
				out = append(out, letters[b%26])
			}
		}
	}
	return string(out)
}

// errUnknownToken is the answer for an access or refresh token that does
// not (or no longer) exist.
var errUnknownToken = core.ErrUnknownToken.WithMessage("Unknown access token")

// errSoftLogout answers an expired refreshable access token: the client
// may refresh it, or log in again keeping its device.
var errSoftLogout = core.ErrUnknownToken.WithMessage("Access token has expired").WithExtra("soft_logout", true)

// IssueTokens creates or reuses a device and issues its tokens; see
// core.TokenStore.
func (s *AccountStore) IssueTokens(ctx context.Context, l core.NewLogin) (core.Tokens, error) {
	t := core.Tokens{UserID: l.UserID, DeviceID: l.DeviceID, AccessToken: newToken(accessTokenPrefix)}
	if t.DeviceID == "" {
		t.DeviceID = NewDeviceID()
	}
	now := s.now()
	if l.Refreshable {
		t.RefreshToken = newToken(refreshTokenPrefix)
		t.ExpiresIn = s.lifetime
	}
	err := s.db.Write(ctx, func(q Queryer) error {
		var deactivated bool
		err := q.QueryRowContext(ctx, "SELECT deactivated FROM users WHERE user_id = ?", l.UserID).Scan(&deactivated)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user %s", l.UserID)
		}
		if err != nil {
			return err
		}
		if deactivated {
			return core.ErrUserDeactivated.WithMessage("This account has been deactivated")
		}
		// A device that logs in again loses the tokens it had.
		if _, err := q.ExecContext(ctx, "DELETE FROM access_tokens WHERE user_id = ? AND device_id = ?", l.UserID, t.DeviceID); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, "DELETE FROM refresh_tokens WHERE user_id = ? AND device_id = ?", l.UserID, t.DeviceID); err != nil {
			return err
		}
		res, err := q.ExecContext(ctx,
			"INSERT INTO devices (user_id, device_id, display_name) VALUES (?, ?, ?) ON CONFLICT (user_id, device_id) DO NOTHING",
			l.UserID, t.DeviceID, nullString(l.DeviceDisplayName))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			// A new device is a device list change.
			if err := markDevicesChanged(ctx, q, l.UserID, false, t.DeviceID); err != nil {
				return err
			}
		}
		return insertTokens(ctx, q, t, now, s.lifetime)
	})
	// The device's earlier tokens are gone.
	s.cache.invalidate(func(e *core.Session) bool { return e.UserID == l.UserID && e.DeviceID == t.DeviceID })
	if err != nil {
		return core.Tokens{}, err
	}
	return t, nil
}

// insertTokens stores t's access token, and its refresh token if it has
// one (then the access token expires after lifetime).
func insertTokens(ctx context.Context, q Queryer, t core.Tokens, now time.Time, lifetime time.Duration) error {
	var refreshID sql.NullInt64
	var validUntil sql.NullInt64
	if t.RefreshToken != "" {
		h := hashToken(t.RefreshToken)
		err := q.QueryRowContext(ctx,
			"INSERT INTO refresh_tokens (token_hash, user_id, device_id) VALUES (?, ?, ?) RETURNING id",
			h[:], t.UserID, t.DeviceID).Scan(&refreshID)
		if err != nil {
			return err
		}
		validUntil = sql.NullInt64{Int64: now.Add(lifetime).UnixMilli(), Valid: true}
	}
	h := hashToken(t.AccessToken)
	_, err := q.ExecContext(ctx,
		"INSERT INTO access_tokens (token_hash, user_id, device_id, valid_until_ms, refresh_token_id) VALUES (?, ?, ?, ?, ?)",
		h[:], t.UserID, t.DeviceID, validUntil, refreshID)
	return err
}

// Refresh exchanges a refresh token; see core.TokenStore.
func (s *AccountStore) Refresh(ctx context.Context, refreshToken string) (core.Tokens, error) {
	old := hashToken(refreshToken)
	now := s.now()
	t := core.Tokens{AccessToken: newToken(accessTokenPrefix), RefreshToken: newToken(refreshTokenPrefix), ExpiresIn: s.lifetime}
	err := s.db.Write(ctx, func(q Queryer) error {
		var id int64
		var next sql.NullInt64
		var deactivated bool
		err := q.QueryRowContext(ctx, `SELECT r.id, r.user_id, r.device_id, r.next_token_id, u.deactivated
			FROM refresh_tokens r JOIN users u ON u.user_id = r.user_id WHERE r.token_hash = ?`, old[:]).
			Scan(&id, &t.UserID, &t.DeviceID, &next, &deactivated)
		if errors.Is(err, sql.ErrNoRows) || err == nil && deactivated {
			return errUnknownToken.WithMessage("Unknown refresh token")
		}
		if err != nil {
			return err
		}
		// Using this token retires its predecessor, if any is left.
		if _, err := q.ExecContext(ctx, "DELETE FROM refresh_tokens WHERE next_token_id = ?", id); err != nil {
			return err
		}
		// A successor issued earlier was never used (or this row would be
		// gone): replace it.
		if next.Valid {
			if _, err := q.ExecContext(ctx, "DELETE FROM refresh_tokens WHERE id = ?", next.Int64); err != nil {
				return err
			}
		}
		// The old access token stops working now.
		if _, err := q.ExecContext(ctx, "DELETE FROM access_tokens WHERE refresh_token_id = ?", id); err != nil {
			return err
		}
		if err := insertTokens(ctx, q, t, now, s.lifetime); err != nil {
			return err
		}
		newHash := hashToken(t.RefreshToken)
		_, err = q.ExecContext(ctx,
			"UPDATE refresh_tokens SET next_token_id = (SELECT id FROM refresh_tokens WHERE token_hash = ?) WHERE id = ?",
			newHash[:], id)
		return err
	})
	if t.UserID != "" {
		s.cache.invalidate(func(e *core.Session) bool { return e.UserID == t.UserID && e.DeviceID == t.DeviceID })
	}
	if err != nil {
		return core.Tokens{}, err
	}
	return t, nil
}

// SessionByAccessToken resolves an access token; see core.SessionStore.
// Resolved tokens are cached in memory.
func (s *AccountStore) SessionByAccessToken(ctx context.Context, token string) (*core.Session, error) {
	h := hashToken(token)
	if e, ok := s.cache.get(h); ok {
		if !e.validUntil.IsZero() && !s.now().Before(e.validUntil) {
			s.cache.remove(h)
			return nil, errSoftLogout
		}
		sess := e.sess
		return &sess, nil
	}
	gen := s.cache.generation()
	var e cachedSession
	var validUntil, refreshID sql.NullInt64
	var used, deactivated bool
	err := s.db.Cached().QueryRowContext(ctx, `SELECT a.id, a.user_id, a.device_id, a.valid_until_ms, a.refresh_token_id,
		a.used, u.admin, u.deactivated
		FROM access_tokens a JOIN users u ON u.user_id = a.user_id WHERE a.token_hash = ?`, h[:]).
		Scan(&e.sess.TokenID, &e.sess.UserID, &e.sess.DeviceID, &validUntil, &refreshID, &used, &e.sess.IsAdmin, &deactivated)
	if errors.Is(err, sql.ErrNoRows) || err == nil && deactivated {
		return nil, errUnknownToken
	}
	if err != nil {
		return nil, fmt.Errorf("storage: access token: %w", err)
	}
	if validUntil.Valid {
		e.validUntil = time.UnixMilli(validUntil.Int64)
		e.refreshable = refreshID.Valid
		if !s.now().Before(e.validUntil) {
			return nil, errSoftLogout
		}
	}
	if refreshID.Valid && !used {
		// First use of a token issued by a refresh: the refresh token it
		// was exchanged for is retired now.
		err := s.db.Write(ctx, func(q Queryer) error {
			if _, err := q.ExecContext(ctx, "UPDATE access_tokens SET used = 1 WHERE id = ?", e.sess.TokenID); err != nil {
				return err
			}
			_, err := q.ExecContext(ctx, "DELETE FROM refresh_tokens WHERE next_token_id = ?", refreshID.Int64)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("storage: access token first use: %w", err)
		}
	}
	s.cache.put(h, e, gen)
	sess := e.sess
	return &sess, nil
}

// Logout deletes the session's device and tokens; see core.TokenStore.
func (s *AccountStore) Logout(ctx context.Context, sess *core.Session) error {
	return s.DeleteDevices(ctx, sess.UserID, []string{sess.DeviceID})
}

// LogoutAll deletes all of a user's devices and tokens; see
// core.TokenStore.
func (s *AccountStore) LogoutAll(ctx context.Context, userID string) error {
	err := s.db.Write(ctx, func(q Queryer) error {
		return deleteDevicesWhere(ctx, q, userID, "")
	})
	s.cache.invalidate(func(e *core.Session) bool { return e.UserID == userID })
	s.seen.forget(userID, "")
	return err
}

// CreateLoginToken issues an m.login.token; see core.TokenStore.
func (s *AccountStore) CreateLoginToken(ctx context.Context, userID string, ttl time.Duration) (string, error) {
	token := newToken(loginTokenPrefix)
	h := hashToken(token)
	now := s.now()
	err := s.db.Write(ctx, func(q Queryer) error {
		if _, err := q.ExecContext(ctx, "DELETE FROM login_tokens WHERE expiry_ts <= ?", now.UnixMilli()); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, "INSERT INTO login_tokens (token_hash, user_id, expiry_ts) VALUES (?, ?, ?)",
			h[:], userID, now.Add(ttl).UnixMilli())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("storage: login token for %s: %w", userID, err)
	}
	return token, nil
}

// ConsumeLoginToken redeems an m.login.token; see core.TokenStore.
func (s *AccountStore) ConsumeLoginToken(ctx context.Context, token string) (string, error) {
	h := hashToken(token)
	now := s.now()
	var userID string
	err := s.db.Write(ctx, func(q Queryer) error {
		var expiry int64
		err := q.QueryRowContext(ctx, "DELETE FROM login_tokens WHERE token_hash = ? RETURNING user_id, expiry_ts", h[:]).
			Scan(&userID, &expiry)
		if errors.Is(err, sql.ErrNoRows) || err == nil && now.UnixMilli() >= expiry {
			userID = ""
			return core.ErrForbidden.WithMessage("Invalid login token")
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return userID, nil
}
