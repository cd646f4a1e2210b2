package core

import "context"

// RoomInfo is what the server records about a room it knows of.
type RoomInfo struct {
	RoomID      string
	RoomVersion string
	Creator     string
	IsPublic    bool
}

// RoomStore records the rooms the server knows of.
type RoomStore interface {
	// StoreRoom records a room. Storing a room already stored with the same
	// version changes nothing; it returns an error wrapping
	// ErrInvalidParam if the room is stored with another version.
	StoreRoom(ctx context.Context, room RoomInfo) error
	// Room returns what is recorded about roomID. It returns an error
	// wrapping ErrNotFound if the room is unknown.
	Room(ctx context.Context, roomID string) (RoomInfo, error)
}
