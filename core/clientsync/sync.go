package clientsync

import (
	"context"
	"encoding/json"
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

// Position returns the current token: the position of every stream.
func (s *Service) Position(ctx context.Context) (Token, error) {
	var t Token
	var err error
	if t.Events, err = s.stores.Timeline.StreamPosition(ctx); err != nil {
		return t, err
	}
	if st := s.stores.ToDevice; st != nil {
		if t.ToDevice, err = st.ToDevicePosition(ctx); err != nil {
			return t, err
		}
	}
	if st := s.stores.DeviceLists; st != nil {
		if t.DeviceLists, err = st.DeviceListPosition(ctx); err != nil {
			return t, err
		}
	}
	if st := s.stores.AccountData; st != nil {
		if t.AccountData, err = st.AccountDataPosition(ctx); err != nil {
			return t, err
		}
	}
	if st := s.stores.Receipts; st != nil {
		if t.Receipts, err = st.ReceiptPosition(ctx); err != nil {
			return t, err
		}
	}
	if st := s.stores.Typing; st != nil {
		t.Typing = st.Position()
	}
	if st := s.stores.Presence; st != nil {
		if t.Presence, err = st.PresencePosition(ctx); err != nil {
			return t, err
		}
	}
	return t, nil
}

// SyncPresence records the set_presence of a syncing user (nothing
// without a presence source).
func (s *Service) SyncPresence(ctx context.Context, userID, state string) error {
	if s.stores.Presence == nil {
		return nil
	}
	return s.stores.Presence.SyncPresence(ctx, userID, state)
}

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

// noteMember records a membership change seen in a room for the device
// list changes.
func (r *syncRun) noteMember(ev *core.StoredEvent) {
	if *ev.StateKey == r.req.Viewer.UserID {
		return
	}
	switch membershipOf(ev) {
	case core.MembershipJoin:
		r.newMembers[*ev.StateKey] = true
	case core.MembershipLeave, core.MembershipBan:
		r.leftMembers[*ev.StateKey] = true
	}
}

// membershipOf returns content.membership of a member event.
func membershipOf(ev *core.StoredEvent) string {
	var c struct {
		Content struct {
			Membership string `json:"membership"`
		} `json:"content"`
	}
	_ = json.Unmarshal(ev.JSON, &c)
	return c.Content.Membership
}

// members returns the current memberships of roomID by user, in stream
// order of their events.
func (s *Service) members(ctx context.Context, roomID string) ([]memberInfo, error) {
	m, err := s.roomsMembers(ctx, []string{roomID})
	return m[roomID], err
}

// roomsMembers returns members' result for each of roomIDs, in one read.
func (s *Service) roomsMembers(ctx context.Context, roomIDs []string) (map[string][]memberInfo, error) {
	rooms, err := s.stores.State.CurrentMembers(ctx, roomIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]memberInfo, len(rooms))
	for id, ms := range rooms {
		list := make([]memberInfo, 0, len(ms))
		for _, m := range ms {
			list = append(list, memberInfo{user: m.UserID, membership: m.Membership, stream: m.StreamOrdering})
		}
		slices.SortFunc(list, func(a, b memberInfo) int {
			if a.stream != b.stream {
				if a.stream < b.stream {
					return -1
				}
				return 1
			}
			if a.user < b.user {
				return -1
			}
			return 1
		})
		out[id] = list
	}
	return out, nil
}

// membersOf returns the members of roomID, read ahead with the chunk's
// rooms sent in full (prefetch) or else on their own.
func (r *syncRun) membersOf(ctx context.Context, roomID string) ([]memberInfo, error) {
	if ms, ok := r.preMembers[roomID]; ok {
		return ms, nil
	}
	return r.s.members(ctx, roomID)
}

type memberInfo struct {
	user       string
	membership string
	stream     int64
}

// summary computes a joined room's summary from its current members.
func (r *syncRun) summary(ctx context.Context, roomID string) (*Summary, error) {
	ms, err := r.membersOf(ctx, roomID)
	if err != nil {
		return nil, err
	}
	var joined, invited int
	var heroes, others []string
	for _, m := range ms {
		switch m.membership {
		case core.MembershipJoin:
			joined++
		case core.MembershipInvite:
			invited++
		}
		if m.user == r.req.Viewer.UserID {
			continue
		}
		if m.membership == core.MembershipJoin || m.membership == core.MembershipInvite {
			heroes = append(heroes, m.user)
		} else if m.membership == core.MembershipLeave || m.membership == core.MembershipBan {
			others = append(others, m.user)
		}
	}
	if len(heroes) == 0 {
		heroes = others
	}
	if len(heroes) > maxHeroes {
		heroes = heroes[:maxHeroes]
	}
	if heroes == nil {
		heroes = []string{}
	}
	return &Summary{Heroes: heroes, JoinedMemberCount: &joined, InvitedMemberCount: &invited}, nil
}

// roomMembers adds roomID's joined members to set.
func (r *syncRun) roomMembers(ctx context.Context, roomID string, set map[string]bool) error {
	ms, err := r.membersOf(ctx, roomID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.membership == core.MembershipJoin && m.user != r.req.Viewer.UserID {
			set[m.user] = true
		}
	}
	return nil
}

// unread asks for a joined room's notification counts: they are read
// for all such rooms at once, by fillUnread, when the response's rooms
// are known.
func (r *syncRun) unread(roomID string, jr *JoinedRoom) {
	if r.s.stores.Notifications != nil {
		r.unreadRooms = append(r.unreadRooms, unreadRoom{roomID, jr})
	}
}

// unreadRoom is a joined room section waiting for its notification counts.
type unreadRoom struct {
	id string
	jr *JoinedRoom
}

// fillUnread fills the notification counts of the joined rooms unread
// was asked about: for the whole room, or with
// unread_thread_notifications for the main timeline and per thread. One
// read for all the rooms.
func (r *syncRun) fillUnread(ctx context.Context) error {
	if len(r.unreadRooms) == 0 {
		return nil
	}
	ids := make([]string, len(r.unreadRooms))
	for i, u := range r.unreadRooms {
		ids[i] = u.id
	}
	rooms, err := r.s.stores.Notifications.RoomsUnread(ctx, r.req.Viewer.UserID, ids)
	if err != nil {
		return err
	}
	counts := func(c core.UnreadCounts) NotificationCounts {
		return NotificationCounts{HighlightCount: c.Highlights, NotificationCount: c.Notifications}
	}
	byThread := r.timelineFilter().UnreadThreadNotifications
	for _, u := range r.unreadRooms {
		threads, jr := rooms[u.id], u.jr
		if !byThread {
			var all core.UnreadCounts
			for _, t := range threads {
				all.Notifications += t.Notifications
				all.Highlights += t.Highlights
			}
			c := counts(all)
			jr.UnreadNotifications = &c
			continue
		}
		c := counts(threads[core.ThreadMain])
		jr.UnreadNotifications = &c
		for id, t := range threads {
			if id == core.ThreadMain || t == (core.UnreadCounts{}) {
				continue
			}
			if jr.UnreadThreadNotifications == nil {
				jr.UnreadThreadNotifications = map[string]NotificationCounts{}
			}
			jr.UnreadThreadNotifications[id] = counts(t)
		}
	}
	r.unreadRooms = nil
	return nil
}
