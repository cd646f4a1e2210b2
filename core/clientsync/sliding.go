package clientsync

// What other assemblies of room data (sliding sync, core/slidingsync)
// reuse of /sync: the same stores, timeline reads, event formatting and
// stripped state, so there is one source of truth for each.

import (
	"context"

	"hearth.dev/hearth/core"
)

// MinStream is below every stream ordering, backfilled events included:
// a timeline read from MinStream starts at the room's beginning.
const MinStream = minStream

// Stores returns the stores the service reads.
func (s *Service) Stores() Stores { return s.stores }

// RoomTimeline returns roomID's newest events with from < stream ordering
// <= to as /sync selects them for viewer (ignored senders and the history
// visibility rules applied), at most limit, oldest first; limited reports
// whether older events of the range were left out.
func (s *Service) RoomTimeline(ctx context.Context, viewer Viewer, ignored map[string]bool, roomID string, from, to int64, limit int) ([]*core.StoredEvent, bool, error) {
	f := &Filter{}
	f.Room.Timeline.Limit = &limit
	r := &syncRun{s: s, req: Request{Viewer: viewer}, filter: f, ignored: ignored}
	return r.timeline(ctx, roomID, from, to)
}

// IgnoredUsers returns the users userID ignores (nil without account
// data).
func (s *Service) IgnoredUsers(ctx context.Context, userID string) (map[string]bool, error) {
	return s.ignoredUsers(ctx, userID)
}

// FormatEvents returns evs as client events for viewer, without room_id,
// in the same order.
func (s *Service) FormatEvents(ctx context.Context, viewer Viewer, evs []*core.StoredEvent) ([]*ClientEvent, error) {
	return s.formatter(viewer, true).formatAll(ctx, evs)
}

// LoadOrdered loads events by ID, keeping ids' order and skipping those
// not stored.
func (s *Service) LoadOrdered(ctx context.Context, ids []string) ([]*core.StoredEvent, error) {
	return s.loadOrdered(ctx, ids)
}

// StateAtStream returns the part of roomID's state selected by filter
// after its newest event at or before stream position pos (empty when it
// had none).
func (s *Service) StateAtStream(ctx context.Context, roomID string, pos int64, filter core.StateFilter) (core.StateMap, error) {
	return s.stateAtStream(ctx, roomID, pos, filter)
}

// InviteState returns the stripped state of an invite (or, with
// knock_room_state, a knock) membership m, ending with the membership
// event itself, which it also returns.
func (s *Service) InviteState(ctx context.Context, m core.RoomMembership, unsignedKey string) ([]StrippedEvent, *core.StoredEvent, error) {
	r := &syncRun{s: s}
	return r.strippedState(ctx, m, unsignedKey)
}
