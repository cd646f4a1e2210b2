package clientsync

// A joined room's section of a /sync: its timeline and the state that
// goes with it.

import (
	"context"
	"slices"

	"hearth.dev/hearth/core"
)

// timelineFilter returns the request's timeline filter.
func (r *syncRun) timelineFilter() *RoomEventFilter { return &r.filter.Room.Timeline }

// timeline reads the newest events of roomID in (from, to], at most the
// filter's limit, that pass the timeline filter, the ignore list and the
// history visibility rules, oldest first; limited reports whether older
// events of the range were left out.
func (r *syncRun) timeline(ctx context.Context, roomID string, from, to int64) (evs []*core.StoredEvent, limited bool, err error) {
	tf := r.timelineFilter()
	limit := tf.LimitOr(DefaultTimelineLimit, MaxTimelineLimit)
	cursor := to
	// Read in batches until limit events pass, the range ends, or enough
	// rounds have been spent on events that do not pass.
	for round := 0; ; round++ {
		batch := limit - len(evs) + 1
		if round > 0 {
			batch = max(batch, 2*limit)
		}
		var got, vis []*core.StoredEvent
		var p *prefetched
		if round == 0 {
			p = r.takePrefetched(roomID, from, cursor, batch)
		}
		if p != nil {
			got, vis = p.got, p.vis
		} else {
			m, err := r.s.stores.Timeline.RoomEventsStream(ctx, []string{roomID}, from, cursor, core.Backward, batch)
			if err != nil {
				return nil, false, err
			}
			got = m[roomID]
			cand := make([]*core.StoredEvent, 0, len(got))
			for _, ev := range got {
				if r.keep(ev, tf) {
					cand = append(cand, ev)
				}
			}
			if vis, err = r.s.visible(ctx, r.req.Viewer.UserID, cand); err != nil {
				return nil, false, err
			}
		}
		for _, ev := range vis {
			if len(evs) == limit {
				limited = true
				break
			}
			evs = append(evs, ev)
		}
		if limited || len(got) < batch {
			break
		}
		cursor = got[len(got)-1].StreamOrdering - 1
		if len(evs) == limit {
			// Full: more exist if anything is left in the range.
			more, err := r.s.stores.Timeline.RoomEventsStream(ctx, []string{roomID}, from, cursor, core.Backward, 1)
			if err != nil {
				return nil, false, err
			}
			limited = len(more[roomID]) > 0
			break
		}
		if round == 4 || cursor <= from {
			limited = cursor > from // gave up on the rest of the range
			break
		}
	}
	slices.Reverse(evs)
	return evs, limited, nil
}

// keep applies the timeline filter and the ignore list (state events of
// ignored users are kept).
func (r *syncRun) keep(ev *core.StoredEvent, f *RoomEventFilter) bool {
	if r.ignored[ev.Sender] && ev.StateKey == nil {
		return false
	}
	return f.Match(ev)
}

// formatter returns the client event formatter of this request.
func (r *syncRun) formatter() *formatter {
	f := r.s.formatter(r.req.Viewer, true)
	f.format, f.fields = r.filter.EventFormat, r.filter.EventFields
	return f
}

// joinedRoom fills rooms.join for one room; full sends the room as new
// (initial sync, newly joined, full_state).
func (r *syncRun) joinedRoom(ctx context.Context, m core.RoomMembership, full bool) error {
	from := r.joinedFrom(m, full)
	evs, limited, err := r.timeline(ctx, m.RoomID, from, r.now.Events)
	if err != nil {
		return err
	}
	var summary *Summary
	if full {
		if summary, err = r.summary(ctx, m.RoomID); err != nil {
			return err
		}
	}
	var heroes []string
	if summary != nil {
		heroes = summary.Heroes
	}
	sec, err := r.roomSection(ctx, m.RoomID, evs, limited, full, r.now.Events, heroes)
	if err != nil {
		return err
	}
	jr := &JoinedRoom{Timeline: sec.timeline, State: sec.state, StateAfter: sec.stateAfter, Ephemeral: EventList{Events: []Event{}}, AccountData: EventList{Events: []Event{}}}
	jr.Summary = summary
	if summary == nil && sec.membersChanged {
		if jr.Summary, err = r.summary(ctx, m.RoomID); err != nil {
			return err
		}
	}
	if full || len(evs) > 0 || sec.hasState() {
		r.resp.Rooms.Join[m.RoomID] = jr
		r.unread(m.RoomID, jr)
	} else {
		// Kept aside: ephemeral events or account data may still make it
		// worth sending (unread counts alone do not).
		r.quiet[m.RoomID] = jr
	}
	if full && m.StreamOrdering > r.since.Events && !r.initial() {
		if err := r.roomMembers(ctx, m.RoomID, r.newMembers); err != nil {
			return err
		}
	}
	return nil
}

// quietRoom is the rooms.join section of a room with nothing new in its
// timeline or state.
func (r *syncRun) quietRoom() *JoinedRoom {
	return &JoinedRoom{
		Timeline:    Timeline{Events: []*ClientEvent{}, PrevBatch: PageToken{Stream: r.now.Events}.String()},
		State:       &RoomEvents{Events: []*ClientEvent{}},
		Ephemeral:   EventList{Events: []Event{}},
		AccountData: EventList{Events: []Event{}},
	}
}

// section is the timeline and state of a room section.
type section struct {
	timeline       Timeline
	state          *RoomEvents
	stateAfter     *RoomEvents
	membersChanged bool
}

func (s *section) hasState() bool {
	return s.state != nil && len(s.state.Events) > 0 || s.stateAfter != nil && len(s.stateAfter.Events) > 0
}

// roomSection formats the timeline evs of roomID, which ends at stream
// position to, and computes its state: all of it up to the start of the
// timeline when full, else the changes between the since token and the
// start of the timeline. When the timeline filter leaves events out, the
// state changes it hid are added from the state at the end of the
// timeline (as Synapse does), so the client's state stays right. heroes
// are the members a lazy-loading full section must include.
func (r *syncRun) roomSection(ctx context.Context, roomID string, evs []*core.StoredEvent, limited, full bool, to int64, heroes []string) (*section, error) {
	f := r.formatter()
	sec := &section{}
	ces, err := f.formatAll(ctx, evs)
	if err != nil {
		return nil, err
	}
	if limited {
		// Bundled aggregations come with limited timelines only: otherwise
		// the client has every child already.
		if err := r.s.bundle(ctx, f, ces, evs, r.ignored); err != nil {
			return nil, err
		}
	}
	sec.timeline = Timeline{Events: ces, Limited: limited}
	if len(evs) > 0 {
		sec.timeline.PrevBatch = EventPage(evs[0]).String()
	} else {
		sec.timeline.PrevBatch = PageToken{Stream: r.now.Events}.String()
	}
	for _, ev := range evs {
		if ev.Type == typeMember && ev.StateKey != nil {
			sec.membersChanged = true
			r.noteMember(ev)
		}
	}

	sf := &r.filter.Room.State
	lazy := sf.LazyLoadMembers
	tfRestricts := r.timelineFilter().Restricts() || len(r.ignored) > 0
	if !full && !limited && !lazy && !tfRestricts && !r.req.UseStateAfter {
		// Everything since the last sync is in the timeline.
		sec.state = &RoomEvents{Events: []*ClientEvent{}}
		return sec, nil
	}

	// The state at the start of the timeline (or its end when it is empty
	// or state_after is wanted).
	var start, end core.StateMap
	if len(evs) > 0 && !r.req.UseStateAfter {
		start, err = r.stateBefore(ctx, evs[0])
		if err == nil && tfRestricts {
			end, err = r.s.stateAtStream(ctx, roomID, to, core.AllState)
		}
	} else {
		start, err = r.s.stateAtStream(ctx, roomID, to, core.AllState)
	}
	if err != nil {
		return nil, err
	}
	var since core.StateMap
	if !full {
		if since, err = r.s.stateAtStream(ctx, roomID, r.since.Events, core.AllState); err != nil {
			return nil, err
		}
	}
	inTimeline := map[string]bool{}
	if !r.req.UseStateAfter {
		for _, ev := range evs {
			inTimeline[ev.EventID] = true
		}
	}
	choice := stateChoice{filter: sf}
	if lazy {
		extra := []string{}
		if full {
			extra = append(extra, r.req.Viewer.UserID)
		}
		choice.lazy = LazyMembers(evs, extra...)
		if limited && since != nil {
			choice.always = memberChanges(since, start)
		}
		for _, h := range heroes {
			choice.lazy[h] = true
		}
	}
	ids := selectState(start, since, inTimeline, choice)
	if end != nil {
		// What changed in the timeline's range without being in it.
		hidden := core.StateMap{}
		for k, id := range end {
			if start[k] != id {
				hidden[k] = id
			}
		}
		ids = append(ids, selectState(hidden, since, inTimeline, choice)...)
	}
	stEvs, err := r.loadOrdered(ctx, ids)
	if err != nil {
		return nil, err
	}
	kept := stEvs[:0]
	for _, ev := range stEvs {
		if sf.MatchSenderType(ev.Sender, ev.Type) {
			kept = append(kept, ev)
			if ev.Type == typeMember && !full {
				sec.membersChanged = true
				r.noteMember(ev)
			}
		}
	}
	sces, err := f.formatAll(ctx, kept)
	if err != nil {
		return nil, err
	}
	if r.req.UseStateAfter {
		sec.stateAfter = &RoomEvents{Events: sces}
	} else {
		sec.state = &RoomEvents{Events: sces}
	}
	return sec, nil
}

// loadOrdered loads events by ID, keeping ids' order and skipping those
// not stored.
func (r *syncRun) loadOrdered(ctx context.Context, ids []string) ([]*core.StoredEvent, error) {
	return r.s.loadOrdered(ctx, ids)
}

func (s *Service) loadOrdered(ctx context.Context, ids []string) ([]*core.StoredEvent, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	m, err := s.stores.Events.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*core.StoredEvent, 0, len(ids))
	for _, id := range ids {
		if ev := m[id]; ev != nil {
			out = append(out, ev)
		}
	}
	return out, nil
}
