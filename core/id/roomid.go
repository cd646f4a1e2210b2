package id

import (
	"encoding/base64"
	"fmt"
)

// RoomID is a Matrix room ID. Room versions 1 to 11 use
// "!opaque_id:server_name"; room version 12 uses "!" followed by the
// URL-safe unpadded base64 reference hash of the room's m.room.create event
// (the create event's ID with '!' for '$'), with no server name.
type RoomID string

// ParseRoomID validates a room ID of either form. With a server name, the
// localpart may hold any non-surrogate code points except ':' and NUL, and
// the whole ID is at most 255 bytes. Without one, the rest must be a
// 43-character URL-safe unpadded base64 SHA-256 hash.
func ParseRoomID(s string) (RoomID, error) {
	local, server, hasServer := splitSigil(s, '!')
	ok := len(s) > 0 && s[0] == '!' && len(s) <= MaxLength
	if hasServer {
		ok = ok && local != "" && opaqueLocalpart(local) && validServerName(server)
	} else {
		ok = ok && isHash(s[min(1, len(s)):], base64.RawURLEncoding)
	}
	if !ok {
		return "", fmt.Errorf("%q: %w", s, ErrInvalidRoomID)
	}
	return RoomID(s), nil
}

// RoomIDFromHash returns the room ID of a room version 12 room whose
// m.room.create event has reference hash h.
func RoomIDFromHash(h [32]byte) RoomID {
	return RoomID("!" + base64.RawURLEncoding.EncodeToString(h[:]))
}

// ServerName returns the server name part, if the ID has one.
func (r RoomID) ServerName() (ServerName, bool) {
	_, server, ok := splitSigil(string(r), '!')
	return ServerName(server), ok
}

// CreateEventID returns the ID of the m.room.create event of a room whose
// ID has no server name (room version 12 and later). ok is false for room
// IDs with a server name.
func (r RoomID) CreateEventID() (EventID, bool) {
	if len(r) < 2 || r[0] != '!' {
		return "", false
	}
	if _, hasServer := r.ServerName(); hasServer {
		return "", false
	}
	return EventID("$" + r[1:]), true
}

func (r RoomID) String() string { return string(r) }

// hashLen is the length of a SHA-256 hash in unpadded base64.
const hashLen = 43

// isHash reports whether s is the unpadded base64 encoding, in enc's
// alphabet, of exactly 32 bytes.
func isHash(s string, enc *base64.Encoding) bool {
	if len(s) != hashLen {
		return false
	}
	var buf [33]byte
	n, err := enc.Strict().Decode(buf[:], []byte(s))
	return err == nil && n == 32
}
