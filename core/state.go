package core

import (
	"context"
	"fmt"
	"slices"
)

// StateKey identifies one piece of room state: an event type and a state
// key. It has the same shape as eventauth.StateKey, so one converts to the
// other with a plain conversion.
type StateKey struct {
	Type     string
	StateKey string
}

func (k StateKey) String() string { return fmt.Sprintf("(%s, %q)", k.Type, k.StateKey) }

// StateMap maps state keys to event IDs. In a state delta an empty event ID
// means the key is removed.
type StateMap = map[StateKey]string

// StateFilter selects part of a room's state, like Synapse's StateFilter.
//
// A nil Types selects everything. Otherwise Types maps each wanted event
// type to the state keys wanted for it, a nil slice meaning every state key
// of that type; with IncludeOthers, every type not named in Types is
// selected whole as well (so {Types: {"m.room.member": {"@a:x"}},
// IncludeOthers: true} is "all state, but only @a:x's membership", the
// lazy-loading filter). A non-nil empty Types without IncludeOthers selects
// nothing.
type StateFilter struct {
	Types         map[string][]string
	IncludeOthers bool
}

// AllState is the filter that selects every piece of state.
var AllState = StateFilter{}

// StateTypes returns a filter selecting every state key of the given types.
func StateTypes(types ...string) StateFilter {
	f := StateFilter{Types: make(map[string][]string, len(types))}
	for _, t := range types {
		f.Types[t] = nil
	}
	return f
}

// StateKeys returns a filter selecting exactly the given keys.
func StateKeys(keys ...StateKey) StateFilter {
	f := StateFilter{Types: make(map[string][]string, len(keys))}
	for _, k := range keys {
		f.Types[k.Type] = append(f.Types[k.Type], k.StateKey)
	}
	return f
}

// Match reports whether the filter selects key.
func (f StateFilter) Match(key StateKey) bool {
	if f.Types == nil {
		return true
	}
	keys, ok := f.Types[key.Type]
	if !ok {
		return f.IncludeOthers
	}
	return keys == nil || slices.Contains(keys, key.StateKey)
}

// StateGroupDelta describes a new state group: the group it is based on
// (0 for none) and the changes from that group's state, an empty event ID
// removing a key.
type StateGroupDelta struct {
	Prev int64
	// PrevEvent, when set, bases the group on the state group of that event
	// instead of Prev: an event stored earlier in the same PersistEvents
	// batch (whose group has no ID until the batch is written), or one
	// already stored. It lets a batch of state events, such as the events
	// of a new room, be stored as a chain of deltas.
	PrevEvent string
	Changes   StateMap
}

// StateGroupStore keeps the state of a room at each event as state groups
// (seed 003): a group is the delta from a previous group, with a full
// snapshot every so many hops. Group IDs are positive.
type StateGroupStore interface {
	// StoreStateGroup records a new state group of roomID, reached by
	// eventID, as delta from delta.Prev, and returns its ID. It returns an
	// error wrapping ErrNotFound if delta.Prev is not 0 and no such group
	// exists.
	StoreStateGroup(ctx context.Context, roomID, eventID string, delta StateGroupDelta) (int64, error)
	// StateAt returns the part of the state of group selected by filter.
	// It returns an error wrapping ErrNotFound for an unknown group.
	StateAt(ctx context.Context, group int64, filter StateFilter) (StateMap, error)
	// StatesAt is StateAt for several groups at once, read together (one
	// read of the database): the state of each group, keyed by group. It
	// returns an error wrapping ErrNotFound if one is unknown.
	StatesAt(ctx context.Context, groups []int64, filter StateFilter) (map[int64]StateMap, error)
	// StateGroupOf returns the state group of the state after eventID. It
	// returns an error wrapping ErrNotFound if the event is unknown or has
	// no state group (an outlier).
	StateGroupOf(ctx context.Context, eventID string) (int64, error)
	// StateAtEvent returns the part of the state after eventID selected by
	// filter. It returns an error wrapping ErrNotFound if the event is
	// unknown or has no state group (an outlier).
	StateAtEvent(ctx context.Context, eventID string, filter StateFilter) (StateMap, error)
}

// Membership values (content.membership of m.room.member).
const (
	MembershipJoin   = "join"
	MembershipInvite = "invite"
	MembershipLeave  = "leave"
	MembershipBan    = "ban"
	MembershipKnock  = "knock"
)

// RoomMembership is a user's membership of one room.
type RoomMembership struct {
	RoomID     string
	UserID     string
	Membership string
	// EventID is the m.room.member event that set it, and StreamOrdering
	// that event's stream position.
	EventID        string
	StreamOrdering int64
}

// RoomStateStore reads the current state of rooms (the resolution of the
// states at their forward extremities, as last written by PersistEvents)
// and the memberships derived from it.
type RoomStateStore interface {
	// CurrentState returns the part of roomID's current state selected by
	// filter. It returns an error wrapping ErrNotFound for an unknown room.
	CurrentState(ctx context.Context, roomID string, filter StateFilter) (StateMap, error)
	// Membership returns userID's membership of roomID: for a local user
	// the latest one, including out-of-band memberships (remote invites,
	// their rejections, knocks); for a remote user the one in the current
	// state. It returns an error wrapping ErrNotFound when there is none.
	Membership(ctx context.Context, roomID, userID string) (RoomMembership, error)
	// RoomsForUser returns the rooms where the local user userID has one of
	// the given memberships (any membership when none is given), ordered by
	// room ID. Unknown users have no rooms (not an error).
	RoomsForUser(ctx context.Context, userID string, memberships ...string) ([]RoomMembership, error)
	// RoomList returns every room where the local user userID has a
	// membership, as a read-only list that the caller may keep (later
	// changes make new lists). Unknown users have an empty list.
	RoomList(ctx context.Context, userID string) (*RoomList, error)
	// LastJoin returns the position in roomID's DAG of userID's latest join
	// event (the deepest, then the latest in stream order; outliers,
	// rejected and soft-failed events do not count). It returns an error
	// wrapping ErrNotFound when the user never joined (or the room is
	// unknown).
	LastJoin(ctx context.Context, roomID, userID string) (TopologicalToken, error)
	// CurrentMembers returns the m.room.member entries of the current state
	// of each of roomIDs (user, membership, event and its stream position),
	// in one read; unknown rooms are absent.
	CurrentMembers(ctx context.Context, roomIDs []string) (map[string][]RoomMembership, error)
	// LastJoins is LastJoin for each of roomIDs, in one read: rooms the
	// user never joined (and unknown rooms) are absent.
	LastJoins(ctx context.Context, roomIDs []string, userID string) (map[string]TopologicalToken, error)
}
