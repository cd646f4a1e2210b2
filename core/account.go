package core

import (
	"context"
	"time"
)

// Account is a local user account.
type Account struct {
	UserID string
	// Admin accounts may use the admin API.
	Admin bool
	// Deactivated accounts can no longer log in; their user ID stays taken.
	Deactivated bool
	// UserType is "" for a normal user, or "bot", "support", ...
	UserType string
	// HasPassword is false for accounts without a usable password
	// (deactivated accounts cannot log in with theirs).
	HasPassword bool
	// CreatedAt is when the account was registered.
	CreatedAt time.Time
}

// NewAccount describes an account to create.
type NewAccount struct {
	// UserID is the full ID of the new local user, already checked against
	// the user ID grammar.
	UserID string
	// Password is the account's password; empty creates an account that
	// cannot log in with a password.
	Password string
	// PasswordHash, instead of Password, is the password already hashed
	// as the account store hashes it, with exactly its parameters (the
	// browser host hashes the owner's on another thread while the
	// database opens); a hash made otherwise is refused.
	PasswordHash string
	Admin        bool
	UserType     string
	// RegistrationToken, when set, is the m.login.registration_token the
	// registration was authorised with (reserved by
	// RegistrationTokenStore.ReserveRegistrationToken). Creating the account
	// completes one use of it; a setup token also makes the account an
	// admin.
	RegistrationToken string
}

// AccountQuery selects accounts to list.
type AccountQuery struct {
	// From is the offset of the first account, in user ID order.
	From int
	// Limit bounds the number of accounts returned (at most 1000).
	Limit int
	// Deactivated includes deactivated accounts.
	Deactivated bool
	// Contains keeps only user IDs containing this string.
	Contains string
}

// PasswordChange sets a new password.
type PasswordChange struct {
	UserID      string
	NewPassword string
	// LogoutDevices deletes the user's devices and their tokens, all but
	// KeepDeviceID (which may be empty).
	LogoutDevices bool
	KeepDeviceID  string
}

// AccountStore keeps the local accounts and checks their passwords.
type AccountStore interface {
	// CreateAccount creates an account. It returns an error wrapping
	// ErrUserInUse if the user ID is taken (deactivated accounts keep
	// theirs), and ErrForbidden if a.RegistrationToken is not reserved or
	// no longer valid.
	CreateAccount(ctx context.Context, a NewAccount) (Account, error)
	// Account returns the account of userID, or an error wrapping
	// ErrNotFound.
	Account(ctx context.Context, userID string) (Account, error)
	// Accounts lists accounts in user ID order, and how many match q in
	// all (ignoring From and Limit).
	Accounts(ctx context.Context, q AccountQuery) ([]Account, int, error)
	// HasAccounts reports whether any account exists.
	HasAccounts(ctx context.Context) (bool, error)
	// CheckPassword verifies password in constant time. It returns an
	// error wrapping ErrForbidden for an unknown user, an account without a
	// password or a wrong password, and ErrUserDeactivated for a
	// deactivated account once the password is right (no one else learns
	// that the account exists and is deactivated).
	CheckPassword(ctx context.Context, userID, password string) error
	// SetPassword changes a password (logging out devices if asked). It
	// returns an error wrapping ErrNotFound for an unknown user.
	SetPassword(ctx context.Context, c PasswordChange) error
	// SetAdmin grants or revokes admin rights. It returns an error wrapping
	// ErrNotFound for an unknown user.
	SetAdmin(ctx context.Context, userID string, admin bool) error
	// Deactivate marks the account deactivated, which makes its password
	// unusable (its hash is kept only so that a login with the right
	// password can be told the account is deactivated), and deletes its
	// devices and tokens. Deactivating a deactivated account
	// changes nothing. It returns an error wrapping ErrNotFound for an
	// unknown user.
	Deactivate(ctx context.Context, userID string) error
	// Reactivate gives a deactivated account a new password and lets it
	// log in again. It returns an error wrapping ErrNotFound for an unknown
	// user and ErrMissingParam for an empty password.
	Reactivate(ctx context.Context, userID, password string) error
}

// Device is a logged-in client of a local user.
type Device struct {
	UserID      string
	DeviceID    string
	DisplayName string
	// LastSeen is when the device last made a request (zero if never
	// recorded), and LastSeenIP from where.
	LastSeen   time.Time
	LastSeenIP string
}

// DeviceStore keeps the devices of local users. Deleting a device also
// deletes its access and refresh tokens.
type DeviceStore interface {
	// Devices lists the devices of userID, by device ID.
	Devices(ctx context.Context, userID string) ([]Device, error)
	// Device returns one device, or an error wrapping ErrNotFound.
	Device(ctx context.Context, userID, deviceID string) (Device, error)
	// SetDeviceDisplayName renames a device. It returns an error wrapping
	// ErrNotFound for an unknown device.
	SetDeviceDisplayName(ctx context.Context, userID, deviceID, name string) error
	// DeleteDevices deletes devices and their tokens; unknown device IDs
	// are ignored.
	DeleteDevices(ctx context.Context, userID string, deviceIDs []string) error
	// DeviceSeen records that a device made a request from ip at t. It may
	// skip the write when the last one was recent and from the same ip.
	DeviceSeen(ctx context.Context, userID, deviceID, ip string, t time.Time) error
}

// NewLogin asks for a device's tokens after a successful login or
// registration.
type NewLogin struct {
	UserID string
	// DeviceID reuses (or creates) that device; empty generates a new one.
	// Tokens previously issued to the device are revoked.
	DeviceID string
	// DeviceDisplayName names a device created by this login.
	DeviceDisplayName string
	// Refreshable asks for a refresh token and an expiring access token.
	Refreshable bool
}

// Tokens are what a login, registration or refresh issues.
type Tokens struct {
	UserID       string
	DeviceID     string
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime; zero means it does not
	// expire.
	ExpiresIn time.Duration
}

// TokenStore issues and revokes access, refresh and login tokens. Tokens
// are stored as SHA-256 hashes, never as they are.
type TokenStore interface {
	// IssueTokens creates (or reuses) the device and issues its tokens. It
	// returns an error wrapping ErrNotFound for an unknown user and
	// ErrUserDeactivated for a deactivated one.
	IssueTokens(ctx context.Context, l NewLogin) (Tokens, error)
	// Refresh exchanges a refresh token for new tokens. The old access
	// token stops working at once; the old refresh token keeps working
	// until the new tokens are first used. It returns an error wrapping
	// ErrUnknownToken for an unknown or used refresh token.
	Refresh(ctx context.Context, refreshToken string) (Tokens, error)
	// Logout deletes the session's device and every token of it.
	Logout(ctx context.Context, sess *Session) error
	// LogoutAll deletes all devices and tokens of userID.
	LogoutAll(ctx context.Context, userID string) error
	// CreateLoginToken issues a single-use m.login.token for userID, valid
	// for ttl.
	CreateLoginToken(ctx context.Context, userID string, ttl time.Duration) (string, error)
	// ConsumeLoginToken returns the user of a login token and revokes it.
	// It returns an error wrapping ErrForbidden for an unknown, used or
	// expired token.
	ConsumeLoginToken(ctx context.Context, token string) (string, error)
}

// OpenIDTokenStore keeps the OpenID tokens a local user hands to third
// parties (POST /user/{userId}/openid/request_token), which check them
// with GET /_matrix/federation/v1/openid/userinfo.
type OpenIDTokenStore interface {
	// CreateOpenIDToken issues a token for userID, valid for ttl.
	CreateOpenIDToken(ctx context.Context, userID string, ttl time.Duration) (string, error)
	// OpenIDTokenUser returns the user of a token. It returns an error
	// wrapping ErrUnknownToken for an unknown or expired token.
	OpenIDTokenUser(ctx context.Context, token string) (string, error)
}

// RegistrationToken is a pre-shared token that authorises registration
// (the spec's m.login.registration_token).
type RegistrationToken struct {
	Token string
	// UsesAllowed bounds Pending+Completed; nil is unlimited.
	UsesAllowed *int
	// Pending counts registrations that passed the token stage but have not
	// finished; Completed those that finished.
	Pending   int
	Completed int
	// ExpiresAt is when the token stops being valid; zero never.
	ExpiresAt time.Time
	// Setup marks the one-time setup token of a server without accounts:
	// accepted even when registration is closed, it makes its registrant
	// an admin, and only while no account exists.
	Setup bool
}

// RegistrationTokenStore keeps registration tokens.
type RegistrationTokenStore interface {
	// CreateRegistrationToken stores t. It returns an error wrapping
	// ErrInvalidParam if the token exists or is not made of 1 to 64
	// characters of [A-Za-z0-9._~-].
	CreateRegistrationToken(ctx context.Context, t RegistrationToken) error
	// RegistrationTokenValid reports whether token can authorise a
	// registration now.
	RegistrationTokenValid(ctx context.Context, token string) (bool, error)
	// ReserveRegistrationToken counts one pending use of a valid token and
	// returns it. It returns an error wrapping ErrForbidden for an unknown,
	// expired or used-up token.
	ReserveRegistrationToken(ctx context.Context, token string) (RegistrationToken, error)
	// ReleaseRegistrationToken gives back a pending use that did not lead
	// to a registration.
	ReleaseRegistrationToken(ctx context.Context, token string) error
}
