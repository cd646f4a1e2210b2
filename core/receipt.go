package core

import (
	"context"
	"errors"
)

// Receipt types. m.fully_read is not a receipt but is accepted by the
// receipt endpoint, which then sets the read marker.
const (
	ReceiptRead        = "m.read"
	ReceiptReadPrivate = "m.read.private"
	ReceiptFullyRead   = "m.fully_read"
)

// ThreadMain is the thread ID of a room's main timeline.
const ThreadMain = "main"

// Receipt is a user's "read up to" marker in a room.
type Receipt struct {
	RoomID  string
	UserID  string
	Type    string
	EventID string
	// ThreadID is "" for an unthreaded receipt, ThreadMain for the main
	// timeline, or a thread root's event ID.
	ThreadID string
	// TS is when the receipt was sent, in milliseconds.
	TS int64
}

// ReceiptStore keeps read receipts, each change taking a new position in
// the receipt stream /sync reads. Receipts reset unread notification
// counts.
type ReceiptStore interface {
	// SetReceipt records r, replacing the user's receipt of the same type
	// and thread in the room. A receipt for an event earlier in the stream
	// than the one it would replace changes nothing (and returns false).
	// It returns an error wrapping ErrNotFound if r.EventID is not a stored
	// event of r.RoomID, and ErrInvalidParam if r.ThreadID is a thread root
	// the event is not in.
	SetReceipt(ctx context.Context, r Receipt) (bool, error)
	// SetFullyRead moves userID's fully read marker in roomID (the room
	// account data m.fully_read) to eventID and returns its position in the
	// account data stream. It returns an error wrapping ErrNotFound if
	// eventID is not a stored event of roomID.
	SetFullyRead(ctx context.Context, userID, roomID, eventID string) (int64, error)
}

// JoinedFunc reports whether userID is joined to roomID.
type JoinedFunc func(ctx context.Context, userID, roomID string) (bool, error)

// IsJoinedIn returns a JoinedFunc reading memberships from st.
func IsJoinedIn(st RoomStateStore) JoinedFunc {
	return func(ctx context.Context, userID, roomID string) (bool, error) {
		m, err := st.Membership(ctx, roomID, userID)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return m.Membership == MembershipJoin, nil
	}
}
