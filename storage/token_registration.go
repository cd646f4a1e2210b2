package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"hearth.dev/hearth/core"
)

// validRegistrationToken checks the spec's grammar for registration tokens:
// 1 to 64 characters of [A-Za-z0-9._~-].
func validRegistrationToken(t string) bool {
	if len(t) == 0 || len(t) > 64 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

const registrationTokenColumns = "token, uses_allowed, pending, completed, expiry_time, setup"

func scanRegistrationToken(row interface{ Scan(...any) error }) (core.RegistrationToken, error) {
	var t core.RegistrationToken
	var uses, expiry sql.NullInt64
	err := row.Scan(&t.Token, &uses, &t.Pending, &t.Completed, &expiry, &t.Setup)
	if uses.Valid {
		n := int(uses.Int64)
		t.UsesAllowed = &n
	}
	if expiry.Valid {
		t.ExpiresAt = time.UnixMilli(expiry.Int64)
	}
	return t, err
}

// CreateRegistrationToken stores a registration token; see
// core.RegistrationTokenStore.
func (s *AccountStore) CreateRegistrationToken(ctx context.Context, t core.RegistrationToken) error {
	if !validRegistrationToken(t.Token) {
		return core.ErrInvalidParam.WithMessage("registration tokens are 1 to 64 characters of [A-Za-z0-9._~-]")
	}
	var uses, expiry sql.NullInt64
	if t.UsesAllowed != nil {
		if *t.UsesAllowed < 0 {
			return core.ErrInvalidParam.WithMessage("uses_allowed must not be negative")
		}
		uses = sql.NullInt64{Int64: int64(*t.UsesAllowed), Valid: true}
	}
	if !t.ExpiresAt.IsZero() {
		expiry = sql.NullInt64{Int64: t.ExpiresAt.UnixMilli(), Valid: true}
	}
	return s.db.Write(ctx, func(q Queryer) error {
		res, err := q.ExecContext(ctx, `INSERT INTO registration_tokens (token, uses_allowed, pending, completed, expiry_time, setup)
			VALUES (?, ?, 0, 0, ?, ?) ON CONFLICT (token) DO NOTHING`, t.Token, uses, expiry, t.Setup)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return core.ErrInvalidParam.WithMessage("registration token already exists")
		}
		return nil
	})
}

// registrationTokenUsable reports whether t can start another registration
// at now: not expired, not used up, and for the setup token only while no
// account exists.
func registrationTokenUsable(ctx context.Context, q Queryer, t core.RegistrationToken, now time.Time) (bool, error) {
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return false, nil
	}
	if t.UsesAllowed != nil && t.Pending+t.Completed >= *t.UsesAllowed {
		return false, nil
	}
	if t.Setup {
		var exists bool
		if err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM users)").Scan(&exists); err != nil {
			return false, err
		}
		return !exists, nil
	}
	return true, nil
}

// RegistrationTokenValid reports whether a token can be used now; see
// core.RegistrationTokenStore.
func (s *AccountStore) RegistrationTokenValid(ctx context.Context, token string) (bool, error) {
	if !validRegistrationToken(token) {
		return false, nil
	}
	var ok bool
	err := s.db.Read(ctx, func(q Queryer) error {
		t, err := scanRegistrationToken(q.QueryRowContext(ctx,
			"SELECT "+registrationTokenColumns+" FROM registration_tokens WHERE token = ?", token))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		ok, err = registrationTokenUsable(ctx, q, t, s.now())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("storage: registration token: %w", err)
	}
	return ok, nil
}

var errBadRegistrationToken = core.ErrForbidden.WithMessage("Invalid registration token")

// ReserveRegistrationToken counts a pending use; see
// core.RegistrationTokenStore.
func (s *AccountStore) ReserveRegistrationToken(ctx context.Context, token string) (core.RegistrationToken, error) {
	if !validRegistrationToken(token) {
		return core.RegistrationToken{}, errBadRegistrationToken
	}
	var t core.RegistrationToken
	err := s.db.Write(ctx, func(q Queryer) error {
		var err error
		t, err = scanRegistrationToken(q.QueryRowContext(ctx,
			"SELECT "+registrationTokenColumns+" FROM registration_tokens WHERE token = ?", token))
		if errors.Is(err, sql.ErrNoRows) {
			return errBadRegistrationToken
		}
		if err != nil {
			return err
		}
		ok, err := registrationTokenUsable(ctx, q, t, s.now())
		if err != nil {
			return err
		}
		if !ok {
			return errBadRegistrationToken
		}
		t.Pending++
		_, err = q.ExecContext(ctx, "UPDATE registration_tokens SET pending = pending + 1 WHERE token = ?", token)
		return err
	})
	if err != nil {
		return core.RegistrationToken{}, err
	}
	return t, nil
}

// ReleaseRegistrationToken gives back a pending use; see
// core.RegistrationTokenStore.
func (s *AccountStore) ReleaseRegistrationToken(ctx context.Context, token string) error {
	return s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "UPDATE registration_tokens SET pending = pending - 1 WHERE token = ? AND pending > 0", token)
		return err
	})
}

// completeRegistrationToken turns a pending use of token into a completed
// one inside the write creating the account. It reports whether token is
// the setup token (whose registrant becomes an admin), and returns an error
// wrapping core.ErrForbidden if no use of it is pending, or if it is the
// setup token and an account exists.
func completeRegistrationToken(ctx context.Context, q Queryer, token string, now time.Time) (bool, error) {
	t, err := scanRegistrationToken(q.QueryRowContext(ctx,
		"SELECT "+registrationTokenColumns+" FROM registration_tokens WHERE token = ?", token))
	if errors.Is(err, sql.ErrNoRows) {
		return false, errBadRegistrationToken
	}
	if err != nil {
		return false, err
	}
	if t.Pending < 1 {
		return false, errBadRegistrationToken
	}
	if t.Setup {
		var exists bool
		if err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM users)").Scan(&exists); err != nil {
			return false, err
		}
		if exists {
			return false, errBadRegistrationToken
		}
	}
	_, err = q.ExecContext(ctx,
		"UPDATE registration_tokens SET pending = pending - 1, completed = completed + 1 WHERE token = ?", token)
	return t.Setup, err
}

// Start prepares registration when the server starts: pending uses are
// cleared (they belonged to interactive-auth sessions, which live in
// memory and did not survive the restart), and while no account exists a
// new one-time setup token replaces any earlier one. It returns the setup
// token, or "" when an account exists.
func (s *AccountStore) Start(ctx context.Context) (string, error) {
	b := make([]byte, 24)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	var created bool
	err := s.db.Write(ctx, func(q Queryer) error {
		if _, err := q.ExecContext(ctx, "UPDATE registration_tokens SET pending = 0 WHERE pending != 0"); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, "DELETE FROM registration_tokens WHERE setup = 1"); err != nil {
			return err
		}
		var exists bool
		if err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM users)").Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		created = true
		_, err := q.ExecContext(ctx,
			"INSERT INTO registration_tokens (token, uses_allowed, pending, completed, setup) VALUES (?, 1, 0, 0, 1)", token)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("storage: setup token: %w", err)
	}
	if !created {
		return "", nil
	}
	return token, nil
}
