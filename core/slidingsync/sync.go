package slidingsync

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"sync/atomic"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// MaxTimeout caps a request's long poll.
const MaxTimeout = 5 * time.Minute

// AccountData reads one piece of account data (core.AccountDataStore
// provides it).
type AccountData interface {
	// AccountData returns the content of userID's account data of
	// eventType (global when roomID is ""), or an error wrapping
	// core.ErrNotFound.
	AccountData(ctx context.Context, userID, roomID, eventType string) (json.RawMessage, error)
}

// Service answers sliding sync requests.
type Service struct {
	sync        *clientsync.Service
	stores      clientsync.Stores
	accountData AccountData
	notifier    *core.Notifier
	conns       *connStore
	now         func() time.Time
	waitHook    atomic.Pointer[func()]
}

// SetWaitHook sets a function called each time a request starts waiting
// for a change (nil: none). Tests use it to act while a request waits.
func (s *Service) SetWaitHook(f func()) {
	if f == nil {
		s.waitHook.Store(nil)
		return
	}
	s.waitHook.Store(&f)
}

// New returns a Service reading what /sync reads (sync's stores);
// accountData gives m.direct for is_dm (nil: no room is a DM); notifier
// wakes long polls (nil: requests do not wait); now is the clock (nil:
// time.Now).
func New(sync *clientsync.Service, accountData AccountData, notifier *core.Notifier, now func() time.Time) (*Service, error) {
	if sync == nil {
		return nil, errors.New("slidingsync: the sync service is required")
	}
	if now == nil {
		now = time.Now
	}
	return &Service{sync: sync, stores: sync.Stores(), accountData: accountData, notifier: notifier, conns: newConnStore(), now: now}, nil
}

// Input is one request: who asks, from which position, the body, and how
// long it may wait for something new.
type Input struct {
	Viewer  clientsync.Viewer
	Pos     string
	Timeout time.Duration
	Request *Request
}

// Sync answers in: at once when there is something new for the client,
// or it is a first request, else when something changes or the timeout
// passes (with the same position's content, and a new pos).
func (s *Service) Sync(ctx context.Context, in Input) (*Response, error) {
	key := connKey(in.Viewer, in.Request.ConnID)
	prev, err := s.conns.load(key, in.Pos, s.now())
	if err != nil {
		return nil, err
	}
	wait := in.Pos != "" && in.Timeout > 0 && s.notifier != nil
	var deadline <-chan time.Time
	if wait {
		t := time.NewTimer(min(in.Timeout, MaxTimeout))
		defer t.Stop()
		deadline = t.C
	}
	for {
		var changed <-chan struct{}
		if wait {
			// A fresh snapshot per pass, none held while waiting
			// (core.ReadScopes).
			core.ReleaseReads(ctx)
			changed = s.notifier.Changed()
		}
		b := s.newBuild(in, prev)
		resp, next, empty, err := b.run(ctx)
		if err != nil {
			return nil, err
		}
		if !wait || !empty {
			resp.Pos = s.conns.save(key, in.Pos == "", next, s.now())
			return resp, nil
		}
		core.ReleaseReads(ctx)
		if h := s.waitHook.Load(); h != nil {
			(*h)()
		}
		select {
		case <-changed:
		case <-deadline:
			resp.Pos = s.conns.save(key, false, next, s.now())
			return resp, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// build is one assembly of a response.
type build struct {
	s           *Service
	viewer      clientsync.Viewer
	accountData AccountData
	prev        *connState
	next        *connState
	initial     bool // no previous position
	since       clientsync.Token
	now         clientsync.Token
	ignored     map[string]bool

	lists map[string]*List
	subs  map[string]*RoomConfig
	ext   *Extensions

	byRoom    map[string]*candidate
	direct    map[string]bool
	roomFacts map[string]*roomFacts
	// moved lists what moved in (since, now] (nil: not read).
	moved []core.StreamEvent
	// active holds the rooms with events in (since, now].
	active map[string]bool
	// listRooms holds each list's windowed rooms.
	listRooms map[string][]string
	// unread are the joined rooms' parts whose notification counts
	// fillUnread reads.
	unread []unreadRoom
	resp   *Response
}

func (s *Service) newBuild(in Input, prev *connState) *build {
	b := &build{s: s, viewer: in.Viewer, accountData: s.accountData, prev: prev,
		initial: prev.bump == nil, since: prev.token, roomFacts: map[string]*roomFacts{},
		listRooms: map[string][]string{},
		resp:      &Response{Lists: map[string]*ListResult{}, Rooms: map[string]*Room{}},
	}
	b.sticky(in.Request)
	return b
}

// sticky fills what the request leaves out of its lists, room
// subscriptions and extensions with what the connection had: a list or
// subscription the request names keeps the previous values of the fields
// it omits; a list it does not name is dropped, a subscription stays until
// unsubscribe_rooms names it; omitted extensions keep theirs.
func (b *build) sticky(req *Request) {
	b.lists = map[string]*List{}
	for name, l := range req.Lists {
		merged := *l
		if p := b.prev.listParams[name]; p != nil {
			if merged.Ranges == nil {
				merged.Ranges = p.Ranges
			}
			if merged.RequiredState == nil {
				merged.RequiredState = p.RequiredState
			}
			if merged.TimelineLimit == nil {
				merged.TimelineLimit = p.TimelineLimit
			}
			if merged.Filters == nil {
				merged.Filters = p.Filters
			}
		}
		b.lists[name] = &merged
	}
	// Room subscriptions last until unsubscribe_rooms ends them (clients
	// such as matrix-js-sdk send each one once).
	b.subs = maps.Clone(b.prev.subParams)
	if b.subs == nil {
		b.subs = map[string]*RoomConfig{}
	}
	for _, id := range req.UnsubscribeRooms {
		delete(b.subs, id)
	}
	for id, c := range req.RoomSubscriptions {
		merged := *c
		if p := b.prev.subParams[id]; p != nil {
			if merged.RequiredState == nil {
				merged.RequiredState = p.RequiredState
			}
			if merged.TimelineLimit == nil {
				merged.TimelineLimit = p.TimelineLimit
			}
		}
		b.subs[id] = &merged
	}
	ext := Extensions{}
	if p := b.prev.ext; p != nil {
		ext = *p
	}
	if e := req.Extensions; e != nil {
		// A field an extension omits keeps its previous value (enabled
		// included).
		if e.ToDevice != nil {
			td := *e.ToDevice
			if p := ext.ToDevice; p != nil {
				td.Enabled = cmp.Or(td.Enabled, p.Enabled)
				if td.Limit == nil {
					td.Limit = p.Limit
				}
			}
			ext.ToDevice = &td
		}
		if e.E2EE != nil {
			t := *e.E2EE
			if p := ext.E2EE; p != nil {
				t.Enabled = cmp.Or(t.Enabled, p.Enabled)
			}
			ext.E2EE = &t
		}
		ext.AccountData = mergeScoped(e.AccountData, ext.AccountData)
		ext.Receipts = mergeScoped(e.Receipts, ext.Receipts)
		ext.Typing = mergeScoped(e.Typing, ext.Typing)
	}
	b.ext = &ext
}

// mergeScoped returns a scoped extension's request with the fields it
// omits taken from the connection's previous one.
func mergeScoped(req, prev *ScopedExtension) *ScopedExtension {
	if req == nil {
		return prev
	}
	out := *req
	if prev != nil {
		out.Enabled = cmp.Or(out.Enabled, prev.Enabled)
		if out.Lists == nil {
			out.Lists = prev.Lists
		}
		if out.Rooms == nil {
			out.Rooms = prev.Rooms
		}
	}
	return &out
}

// run assembles the response and the connection's next state; empty
// reports a response with nothing new for the client.
func (b *build) run(ctx context.Context) (*Response, *connState, bool, error) {
	var err error
	b.moved = nil
	if b.now, err = b.s.sync.Position(ctx); err != nil {
		return nil, nil, false, err
	}
	b.now.Events = max(b.now.Events, b.since.Events)
	if b.ignored, err = b.s.sync.IgnoredUsers(ctx, b.viewer.UserID); err != nil {
		return nil, nil, false, err
	}
	b.next = &connState{token: b.now, rooms: map[string]sentRoom{}, lists: map[string]listState{},
		listParams: b.lists, subParams: b.subs, ext: b.ext}
	cands, err := b.candidates(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	configs, changedLists, err := b.runLists(ctx, cands)
	if err != nil {
		return nil, nil, false, err
	}
	for id, c := range b.subs {
		cand := b.byRoom[id]
		if cand == nil {
			// Not a room of the viewer's: nothing to show.
			continue
		}
		configs[id] = mergeConfig(configs[id], c)
	}
	for id, cfg := range configs {
		if err := b.room(ctx, b.byRoom[id], cfg); err != nil {
			return nil, nil, false, err
		}
	}
	if err := b.fillUnread(ctx); err != nil {
		return nil, nil, false, err
	}
	if err := b.extensions(ctx, configs); err != nil {
		return nil, nil, false, err
	}
	return b.resp, b.next, !b.initial && b.resp.empty(changedLists), nil
}

// candidates returns the account's rooms a list may show, with their bump
// stamps: rooms joined, invited to or knocked on, and, in an incremental
// request, rooms left since the last one that were sent before.
func (b *build) candidates(ctx context.Context) ([]*candidate, error) {
	if err := b.readMoved(ctx); err != nil {
		return nil, err
	}
	ms := b.prev.memberships
	if ms == nil || b.moved == nil || movedMembership(b.moved) {
		var err error
		if ms, err = b.s.stores.State.RoomsForUser(ctx, b.viewer.UserID); err != nil {
			return nil, err
		}
	}
	b.next.memberships = ms
	b.byRoom = make(map[string]*candidate, len(ms))
	stamps := make(map[string]int64, len(ms))
	for id, v := range b.prev.bump {
		stamps[id] = v
	}
	var joined, cands []*candidate
	var joinedIDs []string
	for _, m := range ms {
		if m.StreamOrdering > b.now.Events {
			continue
		}
		c := &candidate{m: m}
		switch m.Membership {
		case core.MembershipJoin:
			joined = append(joined, c)
			joinedIDs = append(joinedIDs, m.RoomID)
		case core.MembershipInvite, core.MembershipKnock:
			if m.Membership == core.MembershipInvite && len(b.ignored) > 0 {
				// Invites from ignored users are not shown (as in /sync).
				ev, err := b.s.stores.Events.Event(ctx, m.EventID)
				if err != nil && !isNotFound(err) {
					return nil, err
				}
				if ev != nil && b.ignored[ev.Sender] {
					continue
				}
			}
			// The room's events are not the viewer's to see: the
			// membership's own position is its stamp.
			stamps[m.RoomID] = m.StreamOrdering
		case core.MembershipLeave, core.MembershipBan:
			if b.initial || m.StreamOrdering <= b.since.Events {
				continue
			}
			if _, sent := b.prev.rooms[m.RoomID]; !sent {
				continue
			}
		default:
			continue
		}
		if _, ok := stamps[m.RoomID]; !ok && m.Membership != core.MembershipJoin {
			stamps[m.RoomID] = m.StreamOrdering
		}
		cands = append(cands, c)
		b.byRoom[m.RoomID] = c
	}
	// Joined rooms: the bump events since the last position (all of them
	// the first time). A room joined since then is read whole.
	var fresh, seen []string
	for _, c := range joined {
		if _, ok := stamps[c.m.RoomID]; ok && c.m.StreamOrdering <= b.since.Events {
			seen = append(seen, c.m.RoomID)
		} else {
			fresh = append(fresh, c.m.RoomID)
		}
	}
	var err error
	if b.active, err = b.bumpStamps(ctx, seen, b.since.Events, b.now.Events, stamps); err != nil {
		return nil, err
	}
	freshActive, err := b.bumpStamps(ctx, fresh, clientsync.MinStream, b.now.Events, stamps)
	if err != nil {
		return nil, err
	}
	for id := range freshActive {
		b.active[id] = true
	}
	for _, c := range joined {
		if _, ok := stamps[c.m.RoomID]; !ok {
			// No bump event within reach: the join itself.
			stamps[c.m.RoomID] = c.m.StreamOrdering
		}
	}
	next := make(map[string]int64, len(cands))
	for _, c := range cands {
		c.bump = stamps[c.m.RoomID]
		next[c.m.RoomID] = c.bump
	}
	b.next.bump = next
	return cands, nil
}

// readMoved reads what moved since the last position in one read, when
// the store can and it is not too much (b.moved stays nil otherwise).
func (b *build) readMoved(ctx context.Context) error {
	se, ok := b.s.stores.Timeline.(StreamEvents)
	if !ok || b.initial || b.since.Events >= b.now.Events {
		if ok && !b.initial {
			b.moved = []core.StreamEvent{}
		}
		return nil
	}
	moved, err := se.StreamEvents(ctx, b.since.Events, b.now.Events, maxMoved)
	if err != nil || len(moved) >= maxMoved {
		return err
	}
	b.moved = moved
	return nil
}

// movedMembership reports whether a membership moved.
func movedMembership(moved []core.StreamEvent) bool {
	for _, ev := range moved {
		if ev.Type == "m.room.member" {
			return true
		}
	}
	return false
}

// runLists fills the lists' answers and returns the configuration of every
// room in a window; changed reports a list whose count or window moved.
func (b *build) runLists(ctx context.Context, cands []*candidate) (map[string]*RoomConfig, bool, error) {
	sortRooms(cands)
	configs := map[string]*RoomConfig{}
	changed := false
	for name, l := range b.lists {
		var children map[string]bool
		if l.Filters != nil && l.Filters.Spaces != nil {
			var err error
			if children, err = b.spaceChildren(ctx, l.Filters.Spaces); err != nil {
				return nil, false, err
			}
		}
		var matched []*candidate
		for _, c := range cands {
			ok, err := b.match(ctx, c, l.Filters, children)
			if err != nil {
				return nil, false, err
			}
			if ok {
				matched = append(matched, c)
			}
		}
		win, ops := window(matched, l.Ranges)
		res := &ListResult{Count: len(matched), Ops: ops}
		b.resp.Lists[name] = res
		ids := make([]string, len(win))
		for i, c := range win {
			ids[i] = c.m.RoomID
			configs[c.m.RoomID] = mergeConfig(configs[c.m.RoomID], &l.RoomConfig)
		}
		b.listRooms[name] = ids
		st := listState{count: len(matched), ids: joinIDs(ids)}
		b.next.lists[name] = st
		if b.prev.lists[name] != st {
			changed = true
		}
	}
	return configs, changed, nil
}

func joinIDs(ids []string) string {
	n := 0
	for _, id := range ids {
		n += len(id) + 1
	}
	out := make([]byte, 0, n)
	for _, id := range ids {
		out = append(out, id...)
		out = append(out, ' ')
	}
	return string(out)
}
