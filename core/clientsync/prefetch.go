package clientsync

// Reading the timelines of many rooms at once: a /sync reads the first
// batch of every joined room's timeline it will send with one statement
// per chunk of rooms, and applies the history visibility rules to all of
// them in one pass, instead of a read and a visibility check per room.

import (
	"context"
	"iter"
	"maps"

	"hearth.dev/hearth/core"
)

// roomsChunk is how many rooms a /sync looks at together: their timelines'
// first batches are read ahead in one statement, and held until the
// chunk's sections are made.
const roomsChunk = 100

// prefetched is the first batch of a room's timeline, read ahead with
// other rooms': the events of (from, to] timeline read for round 0 (got,
// newest first, at most batch), and those of them that pass the timeline
// filter, the ignore list and the history visibility rules (vis, in the
// same order).
type prefetched struct {
	from, to int64
	batch    int
	got, vis []*core.StoredEvent
}

// eachRoom fills the sections of the rooms of ms (see room), roomsChunk at
// a time, reading ahead the first batch of each chunk's joined rooms'
// timelines.
func (r *syncRun) eachRoom(ctx context.Context, ms iter.Seq[core.RoomMembership], active map[string]bool) error {
	chunk := make([]core.RoomMembership, 0, roomsChunk)
	flush := func() error {
		if err := r.prefetch(ctx, chunk, active); err != nil {
			return err
		}
		for _, m := range chunk {
			if err := r.room(ctx, m, active); err != nil {
				return err
			}
		}
		chunk = chunk[:0]
		clear(r.pre)
		clear(r.preMembers)
		r.preStates = nil
		return nil
	}
	for m := range ms {
		chunk = append(chunk, m)
		if len(chunk) == roomsChunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// joinedTimeline says whether room would fill a joined room section for m
// (with these active rooms), and from which stream position its timeline
// is read (up to the sync's position).
func (r *syncRun) joinedTimeline(m core.RoomMembership, active map[string]bool) (from int64, ok bool) {
	if m.Membership != core.MembershipJoin || m.StreamOrdering > r.now.Events || !r.filter.Room.MatchRoom(m.RoomID) {
		return 0, false
	}
	changed := r.initial() || m.StreamOrdering > r.since.Events
	full := changed || r.req.FullState
	if !full && active != nil && !active[m.RoomID] {
		return 0, false
	}
	return r.joinedFrom(m, full), true
}

// joinedFrom is the stream position after which a joined room's timeline
// starts; full sends the room as new.
func (r *syncRun) joinedFrom(m core.RoomMembership, full bool) int64 {
	from := r.since.Events
	if r.initial() || full && m.StreamOrdering > r.since.Events {
		from = minStream
	}
	if full && r.req.FullState && !r.initial() && m.StreamOrdering <= r.since.Events {
		// full_state keeps the timeline to what is new.
		from = r.since.Events
	}
	return from
}

// prefetch reads the first batch of the timelines of the joined rooms of
// ms that room will fill a section for, when there are several (a /sync
// of one room reads it room by room, as timeline alone does, which the
// tests use to compare the two): one timeline read per distinct
// start position (most often one for all of them), and one visibility
// check for all their events. timeline takes its first round from it.
func (r *syncRun) prefetch(ctx context.Context, ms []core.RoomMembership, active map[string]bool) error {
	byFrom := map[int64][]string{}
	var full []string
	for _, m := range ms {
		if from, ok := r.joinedTimeline(m, active); ok {
			byFrom[from] = append(byFrom[from], m.RoomID)
			if r.initial() || m.StreamOrdering > r.since.Events || r.req.FullState {
				full = append(full, m.RoomID)
			}
		}
	}
	if len(full) > 1 {
		// Their summaries need their members.
		members, err := r.s.roomsMembers(ctx, full)
		if err != nil {
			return err
		}
		if r.preMembers == nil {
			r.preMembers = map[string][]memberInfo{}
		}
		for _, id := range full {
			r.preMembers[id] = members[id]
		}
	}
	n := 0
	for _, ids := range byFrom {
		n += len(ids)
	}
	if n < 2 {
		// Reading one room ahead saves nothing: timeline reads it.
		return nil
	}
	if r.pre == nil {
		r.pre = map[string]*prefetched{}
	}
	tf := r.timelineFilter()
	batch := tf.LimitOr(DefaultTimelineLimit, MaxTimelineLimit) + 1
	to := r.now.Events
	var cand []*core.StoredEvent
	for from, ids := range byFrom {
		got, err := r.s.stores.Timeline.RoomEventsStream(ctx, ids, from, to, core.Backward, batch)
		if err != nil {
			return err
		}
		for _, id := range ids {
			evs := got[id]
			r.pre[id] = &prefetched{from: from, to: to, batch: batch, got: evs}
			for _, ev := range evs {
				if r.keep(ev, tf) {
					cand = append(cand, ev)
				}
			}
		}
	}
	vis, err := r.s.visible(ctx, r.req.Viewer.UserID, cand)
	if err != nil {
		return err
	}
	for _, ev := range vis {
		p := r.pre[ev.RoomID]
		p.vis = append(p.vis, ev)
	}
	return r.prefetchStates(ctx, full, batch-1)
}

// prefetchStates reads, for the rooms of full (sent in full) and those
// whose first batch may leave older events out (limited), the whole state
// after the event their timeline will start with when it is their first
// batch's limit newest visible ones: roomSection reads the state at the
// start of each such timeline (stateBefore).
func (r *syncRun) prefetchStates(ctx context.Context, full []string, limit int) error {
	if r.req.UseStateAfter {
		return nil
	}
	isFull := make(map[string]bool, len(full))
	for _, id := range full {
		isFull[id] = true
	}
	var groups []int64
	for id, p := range r.pre {
		if !isFull[id] && len(p.got) < p.batch {
			continue
		}
		if n := min(limit, len(p.vis)); n > 0 && p.vis[n-1].StateGroup != 0 {
			groups = append(groups, p.vis[n-1].StateGroup)
		}
	}
	if len(groups) < 2 {
		return nil
	}
	states, err := r.s.stores.Groups.StatesAt(ctx, groups, core.AllState)
	if err != nil {
		return err
	}
	r.preStates = states
	return nil
}

// stateBefore is Service.stateBefore for the whole state, from the states
// read ahead when it is there.
func (r *syncRun) stateBefore(ctx context.Context, ev *core.StoredEvent) (core.StateMap, error) {
	if st, ok := r.preStates[ev.StateGroup]; ok && ev.StateGroup != 0 {
		return r.s.stateBeforeFrom(ctx, ev, core.AllState, maps.Clone(st))
	}
	return r.s.stateBefore(ctx, ev, core.AllState)
}

// takePrefetched returns, and forgets, the first batch read ahead for a
// timeline read of roomID in (from, to] whose first round reads batch
// events; nil when there is none.
func (r *syncRun) takePrefetched(roomID string, from, to int64, batch int) *prefetched {
	p := r.pre[roomID]
	if p == nil || p.from != from || p.to != to || p.batch != batch {
		return nil
	}
	delete(r.pre, roomID)
	return p
}
