// Package id holds the Matrix identifiers as typed strings — UserID, RoomID,
// EventID, RoomAlias and ServerName — with parsers that follow the grammar
// of the specification's "Identifier Grammar" appendix.
//
// Parsers accept what remote servers may legitimately send (historical user
// IDs, room IDs with or without a server name, event IDs of every room
// version); constructors for new local identifiers (NewUserID) apply the
// strict current grammar. Errors wrap one sentinel per identifier kind, with
// the offending input quoted: fmt.Errorf("%q: %w", s, ErrInvalidUserID).
//
// Importing the package has no side effects.
package id

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Sentinel errors, wrapped by every parse failure of the matching kind.
var (
	ErrInvalidServerName = errors.New("invalid server name")
	ErrInvalidUserID     = errors.New("invalid user ID")
	ErrInvalidRoomID     = errors.New("invalid room ID")
	ErrInvalidEventID    = errors.New("invalid event ID")
	ErrInvalidRoomAlias  = errors.New("invalid room alias")
)

// MaxLength is the longest a user ID, room ID, room alias or event ID may
// be, in bytes, sigil and server name included.
const MaxLength = 255

// splitSigil checks the sigil and length of s and splits the rest at the
// first ':' (localparts never contain one). ok is false if there is no ':'.
func splitSigil(s string, sigil byte) (local, server string, ok bool) {
	if len(s) < 1 || s[0] != sigil {
		return "", "", false
	}
	local, server, ok = strings.Cut(s[1:], ":")
	return local, server, ok
}

// opaqueLocalpart reports whether s is a localpart of the historical
// grammar: valid UTF-8 with no surrogates, no ':' and no NUL. Control
// characters are allowed.
func opaqueLocalpart(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, ':') < 0 && strings.IndexByte(s, 0) < 0
}
