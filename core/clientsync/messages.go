package clientsync

import (
	"context"
	"errors"

	"hearth.dev/hearth/core"
)

// Limits of the timeline reads.
const (
	// DefaultMessagesLimit is the page size of /messages without limit.
	DefaultMessagesLimit = 10
	// MaxMessagesLimit caps the page size of /messages and /context.
	MaxMessagesLimit = 1000
	// scanBudget bounds how many events one page examines beyond its
	// limit when filters or history visibility leave events out.
	scanBudget = 500
)

// ErrNotInRoom is the error for a room the user may not read.
var ErrNotInRoom = core.ErrForbidden.WithMessage("You aren't a member of the room")

// MessagesRequest is one /rooms/{roomId}/messages request.
type MessagesRequest struct {
	Viewer Viewer
	RoomID string
	// From is where to start (nil: the end of the room for Backward, its
	// start for Forward); To where to stop (nil: no bound).
	From, To *PageToken
	Dir      core.Direction
	Limit    int
	Filter   *RoomEventFilter
}

// MessagesResponse is the response of /messages.
type MessagesResponse struct {
	Start string         `json:"start"`
	End   string         `json:"end,omitempty"`
	Chunk []*ClientEvent `json:"chunk"`
	State []*ClientEvent `json:"state,omitempty"`
}

// checkReader returns M_FORBIDDEN unless the user may read roomID's
// history: they are or were in it and have not forgotten it (the history
// visibility rules then pick the events), or it is world readable.
func (s *Service) checkReader(ctx context.Context, roomID, userID string) error {
	_, err := s.stores.Rooms.Access(ctx, roomID, userID)
	return err
}

// bounds turns page tokens into topological bounds for reading roomID in
// direction dir: from is where reading starts, to where it stops.
func (s *Service) bounds(ctx context.Context, roomID string, from, to *PageToken, dir core.Direction) (core.TopologicalToken, core.TopologicalToken, error) {
	resolve := func(p *PageToken, isFrom bool) (core.TopologicalToken, error) {
		if p.Topological {
			return p.Topo, nil
		}
		last, err := s.lastEventAt(ctx, roomID, p.Stream)
		if err != nil {
			return core.TopologicalToken{}, err
		}
		before, after := AtStream(last)
		// Reading backward starts before the stream position's event and
		// stops after it; forward the other way round.
		if isFrom == (dir == core.Backward) {
			return before, nil
		}
		return after, nil
	}
	f, t := core.TopologicalEnd, core.TopologicalStart
	if dir == core.Forward {
		f, t = core.TopologicalStart, core.TopologicalEnd
	}
	var err error
	if from != nil {
		if f, err = resolve(from, true); err != nil {
			return f, t, err
		}
	}
	if to != nil {
		if t, err = resolve(to, false); err != nil {
			return f, t, err
		}
	}
	return f, t, nil
}

// page reads up to limit events of roomID from from towards to in
// direction dir that pass keep and the history visibility rules for
// userID. next is the position to continue from, more whether anything
// may be left.
func (s *Service) page(ctx context.Context, userID, roomID string, from, to core.TopologicalToken, dir core.Direction, limit int, keep func(*core.StoredEvent) bool) (evs []*core.StoredEvent, next core.TopologicalToken, more bool, err error) {
	cursor := from
	examined := 0
	for len(evs) < limit {
		batch := min(max(limit-len(evs)+1, 20), scanBudget)
		got, _, err := s.stores.Timeline.RoomEventsTopological(ctx, roomID, cursor, to, dir, batch)
		if err != nil {
			return nil, cursor, false, err
		}
		examined += len(got)
		cand := make([]*core.StoredEvent, 0, len(got))
		for _, ev := range got {
			if keep(ev) {
				cand = append(cand, ev)
			}
		}
		vis, err := s.visible(ctx, userID, cand)
		if err != nil {
			return nil, cursor, false, err
		}
		if n := limit - len(evs); len(vis) >= n {
			// The page fills up inside this batch: continue after its last
			// event.
			evs = append(evs, vis[:n]...)
			last := evs[len(evs)-1]
			cursor = core.TopologicalToken{Depth: last.Depth, Stream: last.StreamOrdering}
			break
		}
		evs = append(evs, vis...)
		if len(got) > 0 {
			last := got[len(got)-1]
			cursor = core.TopologicalToken{Depth: last.Depth, Stream: last.StreamOrdering}
		}
		if len(got) < batch {
			return evs, cursor, false, nil
		}
		if examined >= limit+scanBudget {
			// Give the client a token to carry on from.
			return evs, cursor, true, nil
		}
	}
	rest, _, err := s.stores.Timeline.RoomEventsTopological(ctx, roomID, cursor, to, dir, 1)
	if err != nil {
		return nil, cursor, false, err
	}
	return evs, cursor, len(rest) > 0, nil
}

// Messages answers /rooms/{roomId}/messages.
func (s *Service) Messages(ctx context.Context, req MessagesRequest) (*MessagesResponse, error) {
	if err := s.checkReader(ctx, req.RoomID, req.Viewer.UserID); err != nil {
		return nil, err
	}
	filter := req.Filter
	if filter == nil {
		filter = &RoomEventFilter{}
	}
	limit := req.Limit
	if limit <= 0 {
		limit = filter.LimitOr(DefaultMessagesLimit, MaxMessagesLimit)
	}
	limit = min(limit, MaxMessagesLimit)
	from, to, err := s.bounds(ctx, req.RoomID, req.From, req.To, req.Dir)
	if err != nil {
		return nil, err
	}
	resp := &MessagesResponse{Chunk: []*ClientEvent{}}
	if req.From != nil {
		resp.Start = req.From.String()
	} else {
		resp.Start = TopologicalPage(from).String()
	}
	ignored, err := s.ignoredUsers(ctx, req.Viewer.UserID)
	if err != nil {
		return nil, err
	}
	keep := func(ev *core.StoredEvent) bool {
		return (ev.StateKey != nil || !ignored[ev.Sender]) && filter.Match(ev)
	}
	evs, next, more, err := s.page(ctx, req.Viewer.UserID, req.RoomID, from, to, req.Dir, limit, keep)
	if err != nil {
		return nil, err
	}
	if req.Dir == core.Backward && !more && len(evs) < limit && s.stores.Backfill != nil {
		// The page reached the oldest event here: ask the other servers in
		// the room for what came before (best effort: on failure the client
		// gets what the server has).
		if n, err := s.stores.Backfill.Backfill(ctx, req.RoomID, limit-len(evs)); err == nil && n > 0 {
			if evs, next, more, err = s.page(ctx, req.Viewer.UserID, req.RoomID, from, to, req.Dir, limit, keep); err != nil {
				return nil, err
			}
		}
	}
	if more {
		resp.End = TopologicalPage(next).String()
	}
	f := s.formatter(req.Viewer, false)
	if resp.Chunk, err = f.formatAll(ctx, evs); err != nil {
		return nil, err
	}
	if err := s.bundle(ctx, f, resp.Chunk, evs, ignored); err != nil {
		return nil, err
	}
	if filter.LazyLoadMembers && len(evs) > 0 {
		if resp.State, err = s.lazyMemberState(ctx, f, evs[0], LazyMembers(evs)); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// lazyMemberState returns the membership events of users in the state at
// ev, formatted.
func (s *Service) lazyMemberState(ctx context.Context, f *formatter, ev *core.StoredEvent, users map[string]bool) ([]*ClientEvent, error) {
	keys := make([]core.StateKey, 0, len(users))
	for u := range users {
		keys = append(keys, core.StateKey{Type: typeMember, StateKey: u})
	}
	m, err := s.stores.Groups.StateAt(ctx, ev.StateGroup, core.StateKeys(keys...))
	if err != nil {
		return nil, err
	}
	ids := selectState(m, nil, nil, stateChoice{})
	evs, err := s.loadOrdered(ctx, ids)
	if err != nil {
		return nil, err
	}
	return f.formatAll(ctx, evs)
}

// ContextRequest is one /rooms/{roomId}/context/{eventId} request.
type ContextRequest struct {
	Viewer  Viewer
	RoomID  string
	EventID string
	// Limit is the number of events before and after together.
	Limit  int
	Filter *RoomEventFilter
}

// ContextResponse is the response of /context.
type ContextResponse struct {
	Start        string         `json:"start"`
	End          string         `json:"end"`
	EventsBefore []*ClientEvent `json:"events_before"`
	Event        *ClientEvent   `json:"event"`
	EventsAfter  []*ClientEvent `json:"events_after"`
	State        []*ClientEvent `json:"state"`
}

// ErrEventNotFound is the error for an event the user cannot see.
var ErrEventNotFound = core.ErrNotFound.WithMessage("Event not found")

// visibleEvent returns roomID's event eventID if the user may see it, or
// ErrEventNotFound.
func (s *Service) visibleEvent(ctx context.Context, roomID, userID, eventID string) (*core.StoredEvent, error) {
	e, err := s.stores.Rooms.VisibleEvent(ctx, roomID, userID, eventID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, ErrEventNotFound
	}
	if err != nil {
		return nil, err
	}
	return e.Stored, nil
}

// Context answers /rooms/{roomId}/context/{eventId}.
func (s *Service) Context(ctx context.Context, req ContextRequest) (*ContextResponse, error) {
	if err := s.checkReader(ctx, req.RoomID, req.Viewer.UserID); err != nil {
		return nil, err
	}
	ev, err := s.visibleEvent(ctx, req.RoomID, req.Viewer.UserID, req.EventID)
	if err != nil {
		return nil, err
	}
	filter := req.Filter
	if filter == nil {
		filter = &RoomEventFilter{}
	}
	limit := min(max(req.Limit, 0), MaxMessagesLimit)
	ignored, err := s.ignoredUsers(ctx, req.Viewer.UserID)
	if err != nil {
		return nil, err
	}
	keep := func(e *core.StoredEvent) bool {
		return (e.StateKey != nil || !ignored[e.Sender]) && filter.Match(e)
	}
	at := core.TopologicalToken{Depth: ev.Depth, Stream: ev.StreamOrdering}
	nBefore := limit / 2
	nAfter := limit - nBefore
	var before, after []*core.StoredEvent
	start, end := at, at
	if nBefore > 0 {
		if before, start, _, err = s.page(ctx, req.Viewer.UserID, req.RoomID, at, core.TopologicalStart, core.Backward, nBefore, keep); err != nil {
			return nil, err
		}
	}
	if nAfter > 0 {
		if after, end, _, err = s.page(ctx, req.Viewer.UserID, req.RoomID, at, core.TopologicalEnd, core.Forward, nAfter, keep); err != nil {
			return nil, err
		}
	}
	f := s.formatter(req.Viewer, false)
	all := make([]*core.StoredEvent, 0, len(before)+1+len(after))
	all = append(all, before...)
	all = append(all, ev)
	all = append(all, after...)
	ces, err := f.formatAll(ctx, all)
	if err != nil {
		return nil, err
	}
	if err := s.bundle(ctx, f, ces, all, ignored); err != nil {
		return nil, err
	}
	resp := &ContextResponse{
		Start:        TopologicalPage(start).String(),
		End:          TopologicalPage(end).String(),
		EventsBefore: ces[:len(before)],
		Event:        ces[len(before)],
		EventsAfter:  ces[len(before)+1:],
	}
	// The state at the last event returned.
	last := ev
	if len(after) > 0 {
		last = after[len(after)-1]
	}
	if filter.LazyLoadMembers {
		resp.State, err = s.lazyMemberState(ctx, f, last, LazyMembers(all))
	} else {
		var m core.StateMap
		if m, err = s.stores.Groups.StateAt(ctx, last.StateGroup, core.AllState); err != nil {
			return nil, err
		}
		var evs []*core.StoredEvent
		if evs, err = s.loadOrdered(ctx, selectState(m, nil, nil, stateChoice{filter: filter})); err != nil {
			return nil, err
		}
		kept := evs[:0]
		for _, e := range evs {
			if filter.MatchSenderType(e.Sender, e.Type) {
				kept = append(kept, e)
			}
		}
		resp.State, err = f.formatAll(ctx, kept)
	}
	if err != nil {
		return nil, err
	}
	if resp.State == nil {
		resp.State = []*ClientEvent{}
	}
	return resp, nil
}
