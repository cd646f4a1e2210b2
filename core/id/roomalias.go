package id

import "fmt"

// RoomAlias is a room alias, "#room_alias:server_name".
type RoomAlias string

// ParseRoomAlias validates a room alias: a non-empty localpart of any
// non-surrogate code points except ':' and NUL, a valid server name, and at
// most 255 bytes in all.
func ParseRoomAlias(s string) (RoomAlias, error) {
	local, server, ok := splitSigil(s, '#')
	if !ok || len(s) > MaxLength || local == "" || !opaqueLocalpart(local) || !validServerName(server) {
		return "", fmt.Errorf("%q: %w", s, ErrInvalidRoomAlias)
	}
	return RoomAlias(s), nil
}

// Localpart returns the part between '#' and the first ':'.
func (a RoomAlias) Localpart() string {
	local, _, _ := splitSigil(string(a), '#')
	return local
}

// ServerName returns the part after the first ':'.
func (a RoomAlias) ServerName() ServerName {
	_, server, _ := splitSigil(string(a), '#')
	return ServerName(server)
}

func (a RoomAlias) String() string { return string(a) }
