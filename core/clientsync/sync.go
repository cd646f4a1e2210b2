package clientsync

import (
	"context"
	"slices"

	"hearth.dev/hearth/core"
)

// Limits of /sync.
const (
	// DefaultTimelineLimit is the timeline length without a filter limit.
	DefaultTimelineLimit = 10
	// MaxTimelineLimit caps a filter's timeline limit.
	MaxTimelineLimit = 500
	// maxToDevice is how many to-device messages one response carries.
	maxToDevice = 100
	// maxHeroes is the number of heroes in a room summary.
	maxHeroes = 5
)

// syncRun is one Build.
type syncRun struct {
	s       *Service
	req     Request
	since   Token // zero for an initial sync
	now     Token
	filter  *Filter
	ignored map[string]bool
	resp    *Response
	// newMembers and leftMembers collect device list changes seen in the
	// rooms' memberships.
	newMembers  map[string]bool
	leftMembers map[string]bool
	// quiet holds the sections of joined rooms with nothing new in their
	// timeline or state, sent only if ephemeral events or account data
	// come for them. The rooms that were not even looked into (most of a
	// user's rooms in an incremental sync) have no entry: they are the
	// joined rooms in neither quiet nor the response.
	quiet map[string]*JoinedRoom
	// list is the user's rooms; isJoined says which are the joined rooms
	// of this sync.
	list *core.RoomList
	// unreadRooms are the joined room sections whose notification counts
	// fillUnread reads.
	unreadRooms []unreadRoom
	// pre holds the first batches of the timelines of the rooms being
	// looked at, read ahead together (prefetch).
	pre map[string]*prefetched
	// preMembers holds the members of the rooms being looked at that are
	// sent in full (their summaries), read ahead together.
	preMembers map[string][]memberInfo
	// preStates holds, by state group, the whole state after the first
	// event of the timelines of the rooms being looked at whose state is
	// sent, read ahead together.
	preStates map[int64]core.StateMap
}

// Build assembles the /sync response for req from the streams' current
// positions.
func (s *Service) Build(ctx context.Context, req Request) (*Response, error) {
	if st := s.stores.Presence; st != nil {
		// Users gone idle since are news for this sync.
		if err := st.MarkIdle(ctx); err != nil {
			return nil, err
		}
	}
	now, err := s.Position(ctx)
	if err != nil {
		return nil, err
	}
	r := &syncRun{
		s: s, req: req, now: now, filter: req.Filter,
		newMembers:  map[string]bool{},
		leftMembers: map[string]bool{},
		quiet:       map[string]*JoinedRoom{},
		resp: &Response{Rooms: Rooms{
			Join: map[string]*JoinedRoom{}, Invite: map[string]*InvitedRoom{},
			Leave: map[string]*LeftRoom{}, Knock: map[string]*KnockedRoom{},
		}},
	}
	if r.filter == nil {
		r.filter = &Filter{}
	}
	if req.Since != nil {
		r.since = *req.Since
		// A token from the future (another database) reads as now.
		r.since.Events = min(r.since.Events, now.Events)
	}
	if r.ignored, err = s.ignoredUsers(ctx, req.Viewer.UserID); err != nil {
		return nil, err
	}
	if err := r.rooms(ctx); err != nil {
		return nil, err
	}
	if err := r.accountData(ctx); err != nil {
		return nil, err
	}
	if err := r.fillUnread(ctx); err != nil {
		return nil, err
	}
	if err := r.presence(ctx); err != nil {
		return nil, err
	}
	if err := r.toDevice(ctx); err != nil {
		return nil, err
	}
	if err := r.deviceKeys(ctx); err != nil {
		return nil, err
	}
	r.resp.next = r.now
	r.resp.NextBatch = r.now.String()
	return r.resp, nil
}

func (r *syncRun) initial() bool { return r.req.Since == nil }

// rooms fills the room sections. An incremental sync looks only at the
// rooms with news (newRooms): what it costs grows with what happened since
// the last sync, not with the user's rooms.
func (r *syncRun) rooms(ctx context.Context) error {
	list, err := r.s.stores.State.RoomList(ctx, r.req.Viewer.UserID)
	if err != nil {
		return err
	}
	r.list = list
	if r.initial() || r.req.FullState {
		if err := r.eachRoom(ctx, list.All(), nil); err != nil {
			return err
		}
		return r.ephemeral(ctx)
	}
	ids, active, err := r.newRooms(ctx)
	if err != nil {
		return err
	}
	if ids == nil {
		// Too much news to list: every room, and active says which joined
		// ones have new events.
		if err := r.eachRoom(ctx, list.All(), active); err != nil {
			return err
		}
		return r.ephemeral(ctx)
	}
	news := func(yield func(core.RoomMembership) bool) {
		for _, id := range ids {
			if m, ok := list.Get(id); ok && !yield(m) {
				return
			}
		}
	}
	if err := r.eachRoom(ctx, news, active); err != nil {
		return err
	}
	return r.ephemeral(ctx)
}

// room fills the section of one room of the user's, if it has one: active
// lists the joined rooms with new events in an incremental sync (nil in an
// initial or full-state one).
func (r *syncRun) room(ctx context.Context, m core.RoomMembership, active map[string]bool) error {
	rf := &r.filter.Room
	// A membership newer than the position is for the next sync.
	if m.StreamOrdering > r.now.Events || !rf.MatchRoom(m.RoomID) {
		return nil
	}
	changed := r.initial() || m.StreamOrdering > r.since.Events
	switch m.Membership {
	case core.MembershipJoin:
		full := changed || r.req.FullState
		if !full && active != nil && !active[m.RoomID] {
			return nil // its section is made only if something comes for it
		}
		return r.joinedRoom(ctx, m, full)
	case core.MembershipInvite:
		if changed || r.req.FullState {
			return r.invitedRoom(ctx, m)
		}
	case core.MembershipKnock:
		if changed || r.req.FullState {
			return r.knockedRoom(ctx, m)
		}
	case core.MembershipLeave, core.MembershipBan:
		include := !r.initial() && m.StreamOrdering > r.since.Events || rf.IncludeLeave && (r.initial() || r.req.FullState)
		if include {
			// Rooms the user forgot are left out (as Synapse does), with
			// include_leave too.
			forgotten, err := r.s.stores.Rooms.Forgotten(ctx, m.RoomID, r.req.Viewer.UserID)
			if err != nil {
				return err
			}
			include = !forgotten
		}
		if include {
			return r.leftRoom(ctx, m)
		}
	}
	return nil
}

// maxMoved is how many events since the since token newRooms reads
// through the stream before asking each joined room instead.
const maxMoved = 500

// streamWalker lists what moved in every room since a position (the event
// store provides it; see slidingsync.StreamEvents).
type streamWalker interface {
	StreamEvents(ctx context.Context, from, to int64, limit int) ([]core.StreamEvent, error)
}

// newRooms returns, for an incremental sync, the rooms with news since the
// since token, in room ID order: those with a timeline event (active) or a
// membership event (every m.room.member event, out-of-band ones too, is in
// the stream walk: a membership of the user's that changed since is among
// them). It walks the range once, so what it costs grows with the events
// since the last sync, not with the user's rooms. With a long range (or
// no stream walk) ids is nil: every room must be looked at, and active is
// read by asking the joined rooms.
func (r *syncRun) newRooms(ctx context.Context) (ids []string, active map[string]bool, err error) {
	active = map[string]bool{}
	if r.since.Events >= r.now.Events {
		return []string{}, active, nil
	}
	if w, ok := r.s.stores.Timeline.(streamWalker); ok {
		moved, err := w.StreamEvents(ctx, r.since.Events, r.now.Events, maxMoved)
		if err != nil {
			return nil, nil, err
		}
		if len(moved) < maxMoved {
			seen := map[string]bool{}
			ids = []string{}
			for _, ev := range moved {
				if ev.Timeline {
					active[ev.RoomID] = true
				}
				if !seen[ev.RoomID] {
					seen[ev.RoomID] = true
					ids = append(ids, ev.RoomID)
				}
			}
			slices.Sort(ids)
			return ids, active, nil
		}
	}
	var joined []string
	for m := range r.list.All() {
		if m.Membership == core.MembershipJoin && m.StreamOrdering <= r.since.Events && r.filter.Room.MatchRoom(m.RoomID) {
			joined = append(joined, m.RoomID)
		}
	}
	evs, err := r.s.stores.Timeline.RoomEventsStream(ctx, joined, r.since.Events, r.now.Events, core.Backward, 1)
	if err != nil {
		return nil, nil, err
	}
	for id := range evs {
		active[id] = true
	}
	return nil, active, nil
}

// isJoined reports whether roomID is a joined room of this sync (one whose
// section may carry ephemeral events and account data).
func (r *syncRun) isJoined(roomID string) bool {
	m, ok := r.list.Get(roomID)
	return ok && m.Membership == core.MembershipJoin && m.StreamOrdering <= r.now.Events && r.filter.Room.MatchRoom(roomID)
}
