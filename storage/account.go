package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"hearth.dev/hearth/core"
)

// DefaultAccessTokenLifetime is how long a refreshable access token lives.
// Tokens issued without a refresh token do not expire.
const DefaultAccessTokenLifetime = time.Hour

// AccountOptions tune an AccountStore.
type AccountOptions struct {
	// Password sets the argon2id cost of new hashes; the zero value uses
	// DefaultPasswordParams (tests lower it).
	Password PasswordParams
	// AccessTokenLifetime is the lifetime of refreshable access tokens;
	// zero uses DefaultAccessTokenLifetime.
	AccessTokenLifetime time.Duration
	// CacheSize bounds the access-token cache; zero uses 4096.
	CacheSize int
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
}

// AccountStore keeps local accounts, devices, tokens and registration
// tokens. It implements core.AccountStore, core.DeviceStore,
// core.TokenStore, core.SessionStore and core.RegistrationTokenStore.
//
// Access tokens are resolved through an in-memory cache in front of the
// access_tokens table; every write that revokes a token or changes what a
// session carries (admin) invalidates the entries it concerns.
type AccountStore struct {
	db       *DB
	params   PasswordParams
	lifetime time.Duration
	now      func() time.Time
	cache    *sessionCache
	seen     seenThrottle
	dummy    dummyHash
}

var (
	_ core.AccountStore           = (*AccountStore)(nil)
	_ core.DeviceStore            = (*AccountStore)(nil)
	_ core.TokenStore             = (*AccountStore)(nil)
	_ core.SessionStore           = (*AccountStore)(nil)
	_ core.RegistrationTokenStore = (*AccountStore)(nil)
)

// NewAccountStore returns the account store of db.
func NewAccountStore(db *DB, o AccountOptions) *AccountStore {
	s := &AccountStore{db: db, params: o.Password, lifetime: o.AccessTokenLifetime, now: o.Now}
	if s.params == (PasswordParams{}) {
		s.params = DefaultPasswordParams
	}
	if s.lifetime <= 0 {
		s.lifetime = DefaultAccessTokenLifetime
	}
	if s.now == nil {
		s.now = time.Now
	}
	size := o.CacheSize
	if size <= 0 {
		size = 4096
	}
	s.cache = newSessionCache(size)
	return s
}

const accountColumns = "user_id, password_hash IS NOT NULL AND deactivated = 0, admin, deactivated, user_type, creation_ts"

func scanAccount(row interface{ Scan(...any) error }) (core.Account, error) {
	var a core.Account
	var userType sql.NullString
	var created int64
	err := row.Scan(&a.UserID, &a.HasPassword, &a.Admin, &a.Deactivated, &userType, &created)
	a.UserType = userType.String
	a.CreatedAt = time.UnixMilli(created)
	return a, err
}

// CreateAccount creates an account; see core.AccountStore.
func (s *AccountStore) CreateAccount(ctx context.Context, a core.NewAccount) (core.Account, error) {
	if a.UserID == "" {
		return core.Account{}, invalid("account needs a user ID")
	}
	var hash sql.NullString
	switch {
	case a.PasswordHash != "":
		if a.Password != "" {
			return core.Account{}, invalid("account given both a password and its hash")
		}
		if !s.madeHere(a.PasswordHash) {
			return core.Account{}, core.ErrInvalidParam.WithMessage("the password hash was not made with this server's parameters")
		}
		hash = sql.NullString{String: a.PasswordHash, Valid: true}
	case a.Password != "":
		h, err := hashPassword(s.params, a.Password)
		if err != nil {
			return core.Account{}, core.ErrInvalidParam.WithMessage("password too long")
		}
		hash = sql.NullString{String: h, Valid: true}
	}
	now := s.now()
	acct := core.Account{UserID: a.UserID, Admin: a.Admin, UserType: a.UserType, HasPassword: hash.Valid,
		CreatedAt: time.UnixMilli(now.UnixMilli())}
	err := s.db.Write(ctx, func(q Queryer) error {
		var exists bool
		if err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = ?)", a.UserID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("storage: %s: %w", a.UserID, core.ErrUserInUse)
		}
		if a.RegistrationToken != "" {
			setup, err := completeRegistrationToken(ctx, q, a.RegistrationToken, now)
			if err != nil {
				return err
			}
			acct.Admin = acct.Admin || setup
		}
		_, err := q.ExecContext(ctx,
			"INSERT INTO users (user_id, password_hash, admin, deactivated, user_type, creation_ts) VALUES (?, ?, ?, 0, ?, ?)",
			a.UserID, hash, acct.Admin, nullString(a.UserType), now.UnixMilli())
		return err
	})
	if err != nil {
		return core.Account{}, err
	}
	return acct, nil
}

// Account returns one account; see core.AccountStore.
func (s *AccountStore) Account(ctx context.Context, userID string) (core.Account, error) {
	a, err := scanAccount(s.db.Cached().QueryRowContext(ctx, "SELECT "+accountColumns+" FROM users WHERE user_id = ?", userID))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Account{}, notFound("user %s", userID)
	}
	if err != nil {
		return core.Account{}, fmt.Errorf("storage: account %s: %w", userID, err)
	}
	return a, nil
}

const accountsWhere = " FROM users WHERE (deactivated = 0 OR ?) AND (? = '' OR instr(user_id, ?) > 0)"

// Accounts lists accounts; see core.AccountStore.
func (s *AccountStore) Accounts(ctx context.Context, aq core.AccountQuery) ([]core.Account, int, error) {
	limit := aq.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	from := max(aq.From, 0)
	var out []core.Account
	var total int
	err := s.db.Read(ctx, func(q Queryer) error {
		args := []any{aq.Deactivated, aq.Contains, aq.Contains}
		if err := q.QueryRowContext(ctx, "SELECT count(*)"+accountsWhere, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx, "SELECT "+accountColumns+accountsWhere+" ORDER BY user_id LIMIT ? OFFSET ?",
			append(args, limit, from)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAccount(rows)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("storage: list accounts: %w", err)
	}
	return out, total, nil
}

// HasAccounts reports whether any account exists.
func (s *AccountStore) HasAccounts(ctx context.Context) (bool, error) {
	var exists bool
	err := s.db.Cached().QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM users)").Scan(&exists)
	return exists, err
}

// CheckPassword verifies a password; see core.AccountStore.
func (s *AccountStore) CheckPassword(ctx context.Context, userID, password string) error {
	var hash sql.NullString
	var deactivated bool
	err := s.db.Cached().QueryRowContext(ctx, "SELECT password_hash, deactivated FROM users WHERE user_id = ?", userID).
		Scan(&hash, &deactivated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		s.dummy.verify(s.params, password)
		return core.ErrForbidden.WithMessage("Invalid username or password")
	case err != nil:
		return fmt.Errorf("storage: password of %s: %w", userID, err)
	case !hash.Valid:
		// No password (or one wiped by a deactivation before hashes were
		// kept): nothing can match, and nothing more is said.
		s.dummy.verify(s.params, password)
		return core.ErrForbidden.WithMessage("Invalid username or password")
	}
	ok, err := verifyPassword(hash.String, password)
	if err != nil {
		return fmt.Errorf("storage: password of %s: %w", userID, err)
	}
	if !ok {
		return core.ErrForbidden.WithMessage("Invalid username or password")
	}
	// Only someone who knows the password learns that the account is
	// deactivated.
	if deactivated {
		return core.ErrUserDeactivated.WithMessage("This account has been deactivated")
	}
	return nil
}

// SetPassword changes a password; see core.AccountStore.
func (s *AccountStore) SetPassword(ctx context.Context, c core.PasswordChange) error {
	if c.NewPassword == "" {
		return core.ErrMissingParam.WithMessage("new password is empty")
	}
	hash, err := hashPassword(s.params, c.NewPassword)
	if err != nil {
		return core.ErrInvalidParam.WithMessage("password too long")
	}
	err = s.db.Write(ctx, func(q Queryer) error {
		res, err := q.ExecContext(ctx, "UPDATE users SET password_hash = ? WHERE user_id = ?", hash, c.UserID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("user %s", c.UserID)
		}
		if c.LogoutDevices {
			return deleteDevicesWhere(ctx, q, c.UserID, " AND device_id != ?", c.KeepDeviceID)
		}
		return nil
	})
	if c.LogoutDevices {
		// Invalidate even on error: the write may have been committed.
		s.cache.invalidate(func(e *core.Session) bool { return e.UserID == c.UserID && e.DeviceID != c.KeepDeviceID })
	}
	return err
}

// SetAdmin grants or revokes admin rights; see core.AccountStore.
func (s *AccountStore) SetAdmin(ctx context.Context, userID string, admin bool) error {
	err := s.db.Write(ctx, func(q Queryer) error {
		res, err := q.ExecContext(ctx, "UPDATE users SET admin = ? WHERE user_id = ?", admin, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("user %s", userID)
		}
		return nil
	})
	s.cache.invalidate(func(e *core.Session) bool { return e.UserID == userID })
	return err
}

// Deactivate deactivates an account; see core.AccountStore.
func (s *AccountStore) Deactivate(ctx context.Context, userID string) error {
	err := s.db.Write(ctx, func(q Queryer) error {
		res, err := q.ExecContext(ctx, "UPDATE users SET deactivated = 1 WHERE user_id = ?", userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("user %s", userID)
		}
		if err := deleteDevicesWhere(ctx, q, userID, ""); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, "DELETE FROM login_tokens WHERE user_id = ?", userID)
		return err
	})
	s.cache.invalidate(func(e *core.Session) bool { return e.UserID == userID })
	s.seen.forget(userID, "")
	return err
}

// Reactivate reactivates an account; see core.AccountStore.
func (s *AccountStore) Reactivate(ctx context.Context, userID, password string) error {
	if password == "" {
		return core.ErrMissingParam.WithMessage("a password is needed to reactivate an account")
	}
	hash, err := hashPassword(s.params, password)
	if err != nil {
		return core.ErrInvalidParam.WithMessage("password too long")
	}
	return s.db.Write(ctx, func(q Queryer) error {
		res, err := q.ExecContext(ctx, "UPDATE users SET deactivated = 0, password_hash = ? WHERE user_id = ?", hash, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("user %s", userID)
		}
		return nil
	})
}
