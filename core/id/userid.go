package id

import "fmt"

// UserID is a Matrix user ID, "@localpart:server_name".
type UserID string

// ParseUserID validates a user ID as it may arrive from anywhere, remote
// servers included. It accepts the historical grammar: a localpart of any
// non-surrogate code points except ':' and NUL, control characters and the
// empty string included. The server name must be valid and the whole ID at
// most 255 bytes. Use IsCompliant to tell historical IDs apart, and
// NewUserID to make new ones.
func ParseUserID(s string) (UserID, error) {
	local, server, ok := splitSigil(s, '@')
	if !ok || len(s) > MaxLength || !opaqueLocalpart(local) || !validServerName(server) {
		return "", fmt.Errorf("%q: %w", s, ErrInvalidUserID)
	}
	return UserID(s), nil
}

// NewUserID builds the ID of a new local user, enforcing the current
// grammar: a non-empty localpart of a-z, 0-9, '.', '_', '=', '-', '/' and
// '+' only (callers downcase user names first), a valid server name, and
// at most 255 bytes in all.
func NewUserID(localpart string, server ServerName) (UserID, error) {
	s := "@" + localpart + ":" + string(server)
	if err := ValidateLocalpart(localpart); err != nil {
		return "", err
	}
	if len(s) > MaxLength || !validServerName(string(server)) {
		return "", fmt.Errorf("%q: %w", s, ErrInvalidUserID)
	}
	return UserID(s), nil
}

// ValidateLocalpart checks localpart against the current user ID grammar
// (1*user_id_char, user_id_char = DIGIT / a-z / "-" / "." / "=" / "_" /
// "/" / "+"). It does not check the length, which depends on the server
// name.
func ValidateLocalpart(localpart string) error {
	if localpart == "" {
		return fmt.Errorf("%q: empty localpart: %w", localpart, ErrInvalidUserID)
	}
	for i := 0; i < len(localpart); i++ {
		if !strictUserChar(localpart[i]) {
			return fmt.Errorf("%q: character %q not allowed in a new user ID: %w", localpart, localpart[i], ErrInvalidUserID)
		}
	}
	return nil
}

func strictUserChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '=' || c == '_' || c == '/' || c == '+'
}

// IsCompliant reports whether the localpart is non-empty and made only of
// characters U+0021 to U+007E. IDs that are not compliant are historical:
// events from them must still be accepted over federation, but servers
// should not pass them to clients outside the context of an event.
func (u UserID) IsCompliant() bool {
	local := u.Localpart()
	if local == "" {
		return false
	}
	for i := 0; i < len(local); i++ {
		if local[i] < 0x21 || local[i] > 0x7e {
			return false
		}
	}
	return true
}

// Localpart returns the part between '@' and the first ':'.
func (u UserID) Localpart() string {
	local, _, _ := splitSigil(string(u), '@')
	return local
}

// ServerName returns the part after the first ':'.
func (u UserID) ServerName() ServerName {
	_, server, _ := splitSigil(string(u), '@')
	return ServerName(server)
}

func (u UserID) String() string { return string(u) }
