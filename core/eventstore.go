package core

import (
	"context"
	"errors"
	"math"

	"hearth.dev/hearth/core/push"
)

// ErrTxnUsed is wrapped by the error PersistEvents returns when an event's
// client transaction is already recorded for another event (two sends with
// one transaction ID raced): look that event up with EventIDForTxn.
var ErrTxnUsed = errors.New("transaction ID already used")

// NewEvent is an event handed to storage to persist: its JSON and the
// facts storage indexes, which the caller reads from the parsed PDU and
// from its own checks. Storage does not parse the JSON, run the
// authorisation rules or resolve state.
type NewEvent struct {
	EventID        string
	RoomID         string
	Type           string
	StateKey       *string // nil for a message event
	Sender         string
	Depth          int64
	OriginServerTS int64
	PrevEvents     []string
	// AuthEvents are the event's auth_events, for the auth chain index
	// (AuthChainStore). When nil, storage reads them from JSON.
	AuthEvents []string
	// Redacts is the event an m.room.redaction removes ("" otherwise).
	Redacts string
	// Membership is content.membership of an m.room.member event; it must
	// be set for those and is ignored for others.
	Membership string
	// ContainsURL records that content.url is a string (for filters).
	ContainsURL bool

	// JSON is the event as received or created (federation format).
	JSON []byte
	// FormatVersion is the event format (roomversion.EventFormat) of JSON.
	FormatVersion int
	// InternalMetadata is opaque server bookkeeping stored beside the JSON.
	InternalMetadata []byte
	// ReceivedTS is when the server received or created the event, in
	// milliseconds since the epoch.
	ReceivedTS int64

	// Outlier marks an event whose state is unknown: it gets no edges, no
	// extremities and no state group.
	Outlier bool
	// OutOfBandMembership marks an outlier m.room.member event for a local
	// user (a remote invite, its rejection, a knock): it updates that
	// user's membership although it is not part of the room's state.
	OutOfBandMembership bool
	// SoftFailed events are stored and part of the DAG but never forward
	// extremities and never sent to clients.
	SoftFailed bool
	// Rejected is the reason the event was rejected ("" if it was not).
	// Rejected events are stored but are never extremities nor current
	// state.
	Rejected string
	// Built marks an event this server has just built and signed (a local
	// send): it cannot be stored yet, nor named by a stored event's
	// prev_events, so storage does not look for either. Storing a Built
	// event that is stored already fails.
	Built bool

	// StateGroup is the state group of the state after the event. A
	// non-outlier needs it, or NewStateGroup.
	StateGroup int64
	// NewStateGroup, when set, makes storage create the event's state
	// group in the same transaction (StateGroup is then ignored).
	NewStateGroup *StateGroupDelta

	// Txn, when set, records the client transaction that sent the event,
	// for idempotent sends.
	Txn *TxnID

	// Notifications are the local users the event notifies, as their push
	// rules found before it was stored (PushHook): storage records them in
	// the event's own write, so a stored event never lacks them.
	Notifications []push.Notification
}

// TxnID is a client's transaction: PUT /rooms/{roomId}/send/{type}/{txnId}
// is idempotent per device and room.
type TxnID struct {
	UserID   string
	DeviceID string
	TxnID    string
}

// CurrentStateDelta is the change to a room's current state that comes with
// a batch of events: the caller resolves state, storage records it. An
// empty event ID removes the key.
type CurrentStateDelta struct {
	RoomID  string
	Changes StateMap
}

// PersistOptions qualify a PersistEvents batch.
type PersistOptions struct {
	// Backfilled events are history fetched from other servers: they take
	// negative, decreasing stream orderings, so /sync never sees them.
	Backfilled bool
	// CurrentState lists the changes to current state, per room, made by
	// the batch.
	CurrentState []CurrentStateDelta
	// NewRoom, when set, records the room (as RoomStore.StoreRoom) in the
	// same transaction, before the events: a room created here is stored
	// whole or not at all.
	NewRoom *RoomInfo
	// NewAliases are local room aliases to map in the same transaction. A
	// taken one fails the whole batch with an error wrapping ErrRoomInUse.
	NewAliases []RoomAlias
}

// RoomAlias maps a local room alias to a room.
type RoomAlias struct {
	Alias   string
	RoomID  string
	Creator string
}

// StoredEvent is an event as storage holds it.
type StoredEvent struct {
	EventID     string
	RoomID      string
	RoomVersion string
	Type        string
	StateKey    *string
	Sender      string
	// Depth is the event's depth, its topological ordering.
	Depth          int64
	StreamOrdering int64
	OriginServerTS int64
	ReceivedTS     int64
	Outlier        bool
	SoftFailed     bool
	Rejected       string
	// StateGroup is the state group after the event (0 for an outlier).
	StateGroup int64
	// RedactedBy lists the stored, unrejected m.room.redaction events that
	// target this event. Whether one is allowed to redact it is for the
	// caller to decide.
	RedactedBy       []string
	JSON             []byte
	FormatVersion    int
	InternalMetadata []byte
}

// EventStore persists events and reads them back by ID.
type EventStore interface {
	// PersistEvents stores events in order, in one transaction, and returns
	// their stream orderings. For each non-outlier it records the DAG edges,
	// updates the forward and backward extremities (seed 004), maps it to
	// its state group and records redactions; it then applies
	// opts.CurrentState. Persisting an event already stored as a
	// non-outlier, or an outlier again as an outlier, changes nothing and
	// returns its stored stream ordering; persisting as a non-outlier an
	// event stored as an outlier de-outliers it, with a new stream ordering.
	// It returns an error wrapping ErrNotFound if a room has not been
	// stored (RoomStore.StoreRoom or opts.NewRoom) or if a state change names an event that
	// is neither stored nor in the batch, and an error wrapping
	// ErrInvalidParam for an event missing what it needs (a non-outlier
	// without a state group, a membership event without a membership) or a
	// rejected event put in the current state, and one wrapping ErrTxnUsed
	// for a client transaction already recorded. Nothing is stored on error.
	PersistEvents(ctx context.Context, events []NewEvent, opts PersistOptions) ([]int64, error)
	// Event returns the event with ID eventID. It returns an error wrapping
	// ErrNotFound if it is not stored.
	Event(ctx context.Context, eventID string) (*StoredEvent, error)
	// Events returns the stored events among eventIDs, keyed by event ID;
	// unknown IDs are left out (not an error).
	Events(ctx context.Context, eventIDs []string) (map[string]*StoredEvent, error)
	// EventIDForTxn returns the event a client transaction sent in roomID.
	// It returns an error wrapping ErrNotFound if the transaction is unknown.
	EventIDForTxn(ctx context.Context, roomID string, txn TxnID) (string, error)
}

// Direction is the order of a timeline read.
type Direction int

const (
	// Backward reads newest first.
	Backward Direction = iota
	// Forward reads oldest first.
	Forward
)

// TopologicalToken is a position in a room's timeline in topological order:
// (depth, stream ordering), which is unique per event. Reading backward from
// a token returns events strictly before it, reading forward events
// strictly after it; the token of an event is its own position, so pages
// never repeat nor skip an event, even among events of equal depth.
type TopologicalToken struct {
	Depth  int64
	Stream int64
}

// Less reports whether t is before u.
func (t TopologicalToken) Less(u TopologicalToken) bool {
	return t.Depth < u.Depth || t.Depth == u.Depth && t.Stream < u.Stream
}

// TopologicalStart is before every event, TopologicalEnd after every event.
var (
	TopologicalStart = TopologicalToken{math.MinInt64, math.MinInt64}
	TopologicalEnd   = TopologicalToken{math.MaxInt64, math.MaxInt64}
)

// EventRef is an event ID with its depth.
type EventRef struct {
	EventID string
	Depth   int64
}

// StreamEvent is where an event sits in the stream: its room, type and
// stream ordering, without the event itself. Timeline is false for an
// out-of-band membership (an outlier: a remote invite, a rejection).
type StreamEvent struct {
	RoomID         string
	Type           string
	StreamOrdering int64
	Timeline       bool
}

// TimelineStore reads rooms' timelines: in stream order for /sync, in
// topological order for /messages, and the DAG's extremities. Timeline
// reads leave out outliers, rejected and soft-failed events.
type TimelineStore interface {
	// StreamPosition returns the stream ordering of the newest live event
	// (0 when there is none): the /sync position.
	StreamPosition(ctx context.Context) (int64, error)
	// RoomEventsStream returns, for each of roomIDs, the events with
	// from < stream ordering <= to, at most limit per room (newest ones when
	// dir is Backward, oldest when Forward), in dir order. Rooms without
	// such events, and unknown rooms, are absent from the map. Ask for one
	// more than wanted to learn whether a room has more.
	RoomEventsStream(ctx context.Context, roomIDs []string, from, to int64, dir Direction, limit int) (map[string][]*StoredEvent, error)
	// RoomEventsTopological returns at most limit events of roomID strictly
	// between from and to in topological order, in dir order (for Backward,
	// to < event < from; for Forward, from < event < to), and the token to
	// continue from: the last event's position, or from when none was
	// returned. It returns an error wrapping ErrNotFound for an unknown room.
	RoomEventsTopological(ctx context.Context, roomID string, from, to TopologicalToken, dir Direction, limit int) ([]*StoredEvent, TopologicalToken, error)
	// ForwardExtremities returns at most limit forward extremities of roomID,
	// the deepest first (ties: newest stream ordering first): the
	// prev_events of the next event. limit <= 0 returns all of them. It
	// returns an error wrapping ErrNotFound for an unknown room.
	ForwardExtremities(ctx context.Context, roomID string, limit int) ([]EventRef, error)
	// BackwardExtremities returns the IDs of the events where backfilling
	// roomID would continue, in ID order. It returns an error wrapping
	// ErrNotFound for an unknown room.
	BackwardExtremities(ctx context.Context, roomID string) ([]string, error)
}
