package core

import "context"

// Session is who a request acts as: the user and device an access token
// was issued to.
type Session struct {
	UserID   string
	DeviceID string
	IsAdmin  bool
	// TokenID identifies the access token (for logout of this session).
	TokenID int64
}

// SessionStore resolves access tokens.
type SessionStore interface {
	// SessionByAccessToken returns the session of token. It returns an
	// error wrapping ErrUnknownToken for a token that does not exist, was
	// logged out or has expired (with soft_logout in Extra when a refresh
	// token can renew it), and ErrUserDeactivated-free sessions only.
	SessionByAccessToken(ctx context.Context, token string) (*Session, error)
}
