package id

import (
	"encoding/base64"
	"fmt"
)

// EventID is a Matrix event ID. Room versions 1 and 2 use
// "$opaque_id:server_name"; room version 3 uses "$" followed by the
// standard unpadded base64 reference hash of the event, and versions 4 and
// later the URL-safe unpadded base64 of it.
type EventID string

// ParseEventID validates an event ID of any room version's form: with a
// server name, a non-empty localpart free of ':' and NUL and a valid server
// name; without one, a 43-character unpadded base64 SHA-256 hash in either
// alphabet. The whole ID is at most 255 bytes.
func ParseEventID(s string) (EventID, error) {
	local, server, hasServer := splitSigil(s, '$')
	ok := len(s) > 0 && s[0] == '$' && len(s) <= MaxLength
	if hasServer {
		ok = ok && local != "" && opaqueLocalpart(local) && validServerName(server)
	} else if ok {
		h := s[1:]
		ok = isHash(h, base64.RawURLEncoding) || isHash(h, base64.RawStdEncoding)
	}
	if !ok {
		return "", fmt.Errorf("%q: %w", s, ErrInvalidEventID)
	}
	return EventID(s), nil
}

// ServerName returns the server name part of a room version 1 or 2 event
// ID. ok is false for hash event IDs.
func (e EventID) ServerName() (ServerName, bool) {
	_, server, ok := splitSigil(string(e), '$')
	return ServerName(server), ok
}

func (e EventID) String() string { return string(e) }
