package core

import "context"

// AdminRoom is what the admin room API shows of a room: its record and a
// summary of its current state. A string field is "" when the state event
// or field behind it is absent (or not a string).
type AdminRoom struct {
	RoomID  string
	Version string
	Creator string
	// Public says the room is in the published room directory.
	Public bool

	// From the current state: m.room.name, m.room.topic, m.room.avatar's
	// url, m.room.canonical_alias's alias, m.room.encryption's algorithm,
	// m.room.join_rules, m.room.guest_access, m.room.history_visibility,
	// and the create event's type and m.federate (true unless false).
	Name              string
	Topic             string
	Avatar            string
	CanonicalAlias    string
	Encryption        string
	JoinRules         string
	GuestAccess       string
	HistoryVisibility string
	RoomType          string
	Federatable       bool

	// JoinedMembers counts the joined members, JoinedLocalMembers those of
	// this server and JoinedLocalDevices their devices; StateEvents counts
	// the pieces of current state.
	JoinedMembers      int
	JoinedLocalMembers int
	JoinedLocalDevices int
	StateEvents        int
	// Forgotten says that no local user has a membership of the room they
	// have not forgotten (true when no local user has any).
	Forgotten bool
}

// LocalMember is a local user's latest membership of a room.
type LocalMember struct {
	UserID     string
	Membership string
}

// RoomBlock says whether a room is blocked, and by whom.
type RoomBlock struct {
	Blocked bool
	// By is the admin who blocked it ("" when not blocked).
	By string
}

// PurgedRoom counts what purging a room removed.
type PurgedRoom struct {
	Events      int64
	StateGroups int64
}

// AdminRoomStore is what the admin room API reads and changes beyond the
// room pipeline: room summaries, local members and aliases, blocks and
// purges.
type AdminRoomStore interface {
	// AdminRooms returns the summary of every room the server knows of, in
	// room ID order.
	AdminRooms(ctx context.Context) ([]AdminRoom, error)
	// AdminRoom returns roomID's summary. It returns an error wrapping
	// ErrNotFound for an unknown room.
	AdminRoom(ctx context.Context, roomID string) (AdminRoom, error)
	// LocalMembers returns the latest membership of each local user who has
	// one in roomID (out-of-band ones included), by user ID. An unknown room
	// has none (not an error).
	LocalMembers(ctx context.Context, roomID string) ([]LocalMember, error)
	// LocalAliases returns the local aliases that point at roomID, sorted.
	LocalAliases(ctx context.Context, roomID string) ([]string, error)
	// SetRoomBlock blocks roomID (by the admin by) or lifts its block; the
	// room need not be known. Blocking a blocked room keeps its first
	// blocker.
	SetRoomBlock(ctx context.Context, roomID string, blocked bool, by string) error
	// RoomBlock tells whether roomID is blocked.
	RoomBlock(ctx context.Context, roomID string) (RoomBlock, error)
	// PurgeRoom removes every trace of roomID from the database in one
	// write: its events and everything indexed from them, its current
	// state, memberships, state groups, extremities, receipts, aliases,
	// forgotten marks, per-room account data and the room record itself.
	// A block is kept, and so are users' key backups. (With the state
	// database in a file of its own, the state groups go in a second
	// write; a crash in between leaves them to be removed at the next
	// open.) It returns an error
	// wrapping ErrNotFound for an unknown room. Caches of the room's events
	// and state held elsewhere must be dropped by the caller.
	PurgeRoom(ctx context.Context, roomID string) (PurgedRoom, error)
}
