package clientsync

import (
	"context"
	"errors"
	"maps"
	"slices"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

// stateBefore returns the part selected by filter of the state before
// ev: the state after it, with ev's own key as it was before ev (from
// the pipeline's replaces_state, else from the state after ev's first
// prev event). An outlier has no known state: its result is empty.
func (s *Service) stateBefore(ctx context.Context, ev *core.StoredEvent, filter core.StateFilter) (core.StateMap, error) {
	if ev.StateGroup == 0 {
		return core.StateMap{}, nil
	}
	m, err := s.stores.Groups.StateAt(ctx, ev.StateGroup, filter)
	if err != nil {
		return nil, err
	}
	return s.stateBeforeFrom(ctx, ev, filter, m)
}

// stateBeforeFrom is stateBefore given m, the part selected by filter of
// the state after ev (a map of the caller's own, which it changes).
func (s *Service) stateBeforeFrom(ctx context.Context, ev *core.StoredEvent, filter core.StateFilter, m core.StateMap) (core.StateMap, error) {
	if ev.StateKey == nil {
		return m, nil
	}
	key := core.StateKey{Type: ev.Type, StateKey: *ev.StateKey}
	if !filter.Match(key) || m[key] != ev.EventID {
		return m, nil
	}
	prev := room.ParseMetadata(ev.InternalMetadata).ReplacesState
	if prev == "" {
		if prevs := prevEventIDs(ev.JSON); len(prevs) > 0 {
			pm, err := s.stores.Groups.StateAtEvent(ctx, prevs[0], core.StateKeys(key))
			switch {
			case err == nil:
				prev = pm[key]
			case !errors.Is(err, core.ErrNotFound):
				return nil, err
			}
		}
	}
	if prev == "" {
		delete(m, key)
	} else {
		m[key] = prev
	}
	return m, nil
}

// stateAtStream returns the state of roomID after its newest event at or
// before stream position pos (empty when it had none).
func (s *Service) stateAtStream(ctx context.Context, roomID string, pos int64, filter core.StateFilter) (core.StateMap, error) {
	last, err := s.lastEventAt(ctx, roomID, pos)
	if err != nil || last == nil {
		return core.StateMap{}, err
	}
	return s.stores.Groups.StateAt(ctx, last.StateGroup, filter)
}

// lastEventAt returns roomID's newest timeline event at or before stream
// position pos, nil when there is none.
func (s *Service) lastEventAt(ctx context.Context, roomID string, pos int64) (*core.StoredEvent, error) {
	m, err := s.stores.Timeline.RoomEventsStream(ctx, []string{roomID}, minStream, pos, core.Backward, 1)
	if err != nil {
		return nil, err
	}
	if evs := m[roomID]; len(evs) > 0 {
		return evs[0], nil
	}
	return nil, nil
}

const typeMember = "m.room.member"

// minStream is below every stream ordering, backfilled ones included.
const minStream = -1 << 62

// stateChoice says which state entries a room section sends.
type stateChoice struct {
	// filter is the room state filter of the request.
	filter *RoomEventFilter
	// lazy lists the members whose membership is needed when the filter
	// lazy-loads members (nil otherwise).
	lazy map[string]bool
	// always lists members whose membership is sent even when lazy
	// loading (changes in a limited sync's gap).
	always map[core.StateKey]bool
}

// selectState returns the event IDs of the state entries of start to
// send: those of start that differ from since (all of start when since is
// nil), that are not in the timeline, that pass the state filter's types
// and, when lazy loading, only the members needed (whether or not they
// changed) or changed in a limited sync's gap. The result is sorted by
// state key.
func selectState(start, since core.StateMap, inTimeline map[string]bool, c stateChoice) []string {
	keys := slices.SortedFunc(maps.Keys(start), compareKeys)
	var out []string
	for _, k := range keys {
		id := start[k]
		if id == "" || inTimeline[id] {
			continue
		}
		if c.filter != nil && !c.filter.MatchSenderTypeKey(k.Type) {
			continue
		}
		if k.Type == typeMember && c.lazy != nil {
			if c.lazy[k.StateKey] {
				// Needed: sent even if unchanged since the last sync, as the
				// server does not track which members a client was sent
				// (redundant members are allowed).
				out = append(out, id)
				continue
			}
			if !c.always[k] {
				continue
			}
		}
		if since != nil && since[k] == id {
			continue
		}
		out = append(out, id)
	}
	return out
}

func compareKeys(a, b core.StateKey) int {
	if a.Type != b.Type {
		if a.Type < b.Type {
			return -1
		}
		return 1
	}
	switch {
	case a.StateKey < b.StateKey:
		return -1
	case a.StateKey > b.StateKey:
		return 1
	}
	return 0
}

// MatchSenderTypeKey reports whether a state entry of type typ can pass
// the type lists (the sender is checked once the event is loaded).
func (f *RoomEventFilter) MatchSenderTypeKey(typ string) bool {
	if f.NotTypes != nil && matchAnyType(f.NotTypes, typ) {
		return false
	}
	return f.Types == nil || matchAnyType(f.Types, typ)
}

// LazyMembers returns the members a lazy-loading response needs for evs:
// their senders, plus extra (the syncing user when they just joined or
// asked for full state, the room's heroes).
func LazyMembers(evs []*core.StoredEvent, extra ...string) map[string]bool {
	out := make(map[string]bool, len(evs)+len(extra))
	for _, ev := range evs {
		out[ev.Sender] = true
	}
	for _, u := range extra {
		if u != "" {
			out[u] = true
		}
	}
	return out
}

// memberChanges returns the membership keys whose event differs between
// since and start.
func memberChanges(since, start core.StateMap) map[core.StateKey]bool {
	out := map[core.StateKey]bool{}
	for k, id := range start {
		if k.Type == typeMember && since[k] != id {
			out[k] = true
		}
	}
	return out
}
