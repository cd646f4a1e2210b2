package clientsync

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

// Event is a non-room event of a /sync response: account data, an
// ephemeral event, a presence event. Content is sent as it is.
type Event struct {
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
	// Sender is set for presence events.
	Sender string `json:"sender,omitempty"`
}

// AccountDataSource is the account data stream: global and per-room
// account data of local users (tags included).
type AccountDataSource interface {
	// AccountDataPosition returns the stream's current position.
	AccountDataPosition(ctx context.Context) (int64, error)
	// AccountDataChanges returns userID's account data changed at a
	// position in (since, to]: the global events and, per room ID, the
	// room events. since 0 returns all of it.
	AccountDataChanges(ctx context.Context, userID string, since, to int64) (global []core.AccountDataEvent, rooms map[string][]core.AccountDataEvent, err error)
	// IgnoredUsers returns the users of userID's m.ignored_user_list.
	IgnoredUsers(ctx context.Context, userID string) (map[string]bool, error)
}

// ReceiptSource is the read receipt stream.
type ReceiptSource interface {
	// ReceiptPosition returns the stream's current position.
	ReceiptPosition(ctx context.Context) (int64, error)
	// ReceiptContents returns, per room of roomIDs with receipts changed at
	// a position in (since, to], the content of an m.receipt event holding
	// them as userID may see them.
	ReceiptContents(ctx context.Context, userID string, roomIDs []string, since, to int64) (map[string]json.RawMessage, error)
	// ReceiptChanges is ReceiptContents for the rooms where in is true,
	// reading what changed in (since, to] in any room: what it costs grows
	// with the receipts in the range, not with the number of rooms in.
	ReceiptChanges(ctx context.Context, userID string, in func(roomID string) bool, since, to int64) (map[string]json.RawMessage, error)
}

// TypingSource is the typing notification stream (kept in memory).
type TypingSource interface {
	// Position returns the stream's current position.
	Position() int64
	// Changes returns, per room where in is true whose typing users
	// changed at a position in (since, to], the users typing now. in is
	// asked only about rooms with changes.
	Changes(in func(roomID string) bool, since, to int64) map[string][]string
}

// PresenceSource is the presence stream.
type PresenceSource interface {
	// PresencePosition returns the stream's current position.
	PresencePosition(ctx context.Context) (int64, error)
	// PresenceChanges returns the presence of userID and of the users
	// sharing a room with them, for those changed at a position in
	// (since, to].
	PresenceChanges(ctx context.Context, userID string, since, to int64) ([]core.Presence, error)
	// Presence returns userID's presence. It returns an error wrapping
	// core.ErrNotFound if none was ever recorded.
	Presence(ctx context.Context, userID string) (core.Presence, error)
	// MarkIdle records as unavailable, each at a new position, the
	// online users inactive for longer than core.IdleAfter.
	MarkIdle(ctx context.Context) error
	// SyncPresence records that userID is syncing with the set_presence
	// value state ("online", "unavailable" or "offline").
	SyncPresence(ctx context.Context, userID, state string) error
}

// NotificationCounts are a room's (or a thread's) unread notification
// counts, as /sync sends them.
type NotificationCounts struct {
	HighlightCount    int64 `json:"highlight_count"`
	NotificationCount int64 `json:"notification_count"`
}

// NotificationSource counts unread notifications.
type NotificationSource interface {
	// RoomsUnread returns userID's unread notification counts in each of
	// roomIDs that has some, per thread (core.ThreadMain for the main
	// timeline, else the thread root's event ID; a room's counts are
	// their sum). Rooms without unread notifications, and unknown rooms,
	// are absent. What it costs must not grow with one statement per room:
	// a /sync asks about all the rooms of its response at once.
	RoomsUnread(ctx context.Context, userID string, roomIDs []string) (map[string]map[string]core.UnreadCounts, error)
}

// Stores are what a Service reads. Rooms (the room pipeline, which
// formats events for clients and applies the history visibility rules),
// Events, Timeline, State and Groups are required (storage.EventStore
// provides the last four); any other may be nil, which leaves its part of
// the responses out.
type Stores struct {
	Rooms    *room.Pipeline
	Events   core.EventStore
	Timeline core.TimelineStore
	State    core.RoomStateStore
	Groups   core.StateGroupStore

	Filters    FilterStore
	Relations  RelationStore
	Search     SearchStore
	Timestamps TimestampStore
	// Backfill, when set, fetches history from other servers when a
	// backward /messages reaches the oldest event the server has.
	Backfill Backfiller

	ToDevice    core.ToDeviceStore
	DeviceLists core.DeviceListStore
	DeviceKeys  core.DeviceKeyStore

	AccountData   AccountDataSource
	Receipts      ReceiptSource
	Typing        TypingSource
	Presence      PresenceSource
	Notifications NotificationSource
}

// Backfiller fetches a room's history from other servers (core/room's
// Federation implements it).
type Backfiller interface {
	// Backfill adds at most about limit events from before the room's
	// backward extremities, and returns how many it added.
	Backfill(ctx context.Context, roomID string, limit int) (int, error)
}

// Service answers /sync and the timeline reads.
type Service struct {
	stores Stores
	now    func() time.Time
}

// New returns a Service over stores; now is the clock (nil: time.Now).
func New(stores Stores, now func() time.Time) (*Service, error) {
	if stores.Rooms == nil || stores.Events == nil || stores.Timeline == nil || stores.State == nil || stores.Groups == nil {
		return nil, errors.New("sync: the room pipeline and the event, timeline, room state and state group stores are required")
	}
	if now == nil {
		now = time.Now
	}
	return &Service{stores: stores, now: now}, nil
}

// Filters returns the stored filter store (nil when there is none).
func (s *Service) Filters() FilterStore { return s.stores.Filters }

func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

// ignoredUsers returns the users userID ignores (m.ignored_user_list).
func (s *Service) ignoredUsers(ctx context.Context, userID string) (map[string]bool, error) {
	if s.stores.AccountData == nil {
		return nil, nil
	}
	return s.stores.AccountData.IgnoredUsers(ctx, userID)
}
