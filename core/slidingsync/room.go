package slidingsync

// One room's part of a response.

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// maxHeroes is how many heroes a room without a name gets.
const maxHeroes = 5

// mergeConfig combines the configurations of a room shown by several
// lists or subscriptions: the longest timeline and every required state
// entry.
func mergeConfig(a, b *RoomConfig) *RoomConfig {
	if a == nil {
		c := *b
		return &c
	}
	out := &RoomConfig{TimelineLimit: a.TimelineLimit}
	if bl := b.timelineLimit(); bl > a.timelineLimit() {
		out.TimelineLimit = b.TimelineLimit
	}
	out.RequiredState = append(slices.Clone(a.RequiredState), b.RequiredState...)
	return out
}

// fingerprint identifies a configuration: a room sent with another is
// sent afresh.
func fingerprint(c *RoomConfig) string {
	pairs := make([]string, 0, len(c.RequiredState))
	for _, p := range c.RequiredState {
		pairs = append(pairs, p[0]+"\x00"+p[1])
	}
	slices.Sort(pairs)
	pairs = slices.Compact(pairs)
	b, _ := json.Marshal(struct {
		L int
		S []string
	}{c.timelineLimit(), pairs})
	return string(b)
}

// stateSelection is a required_state configuration resolved for a room.
type stateSelection struct {
	all     bool                       // ["*", "*"]
	anyType map[string]bool            // ["*", key]: key of every type
	types   map[string]map[string]bool // type → keys; a nil map: every key
	lazy    bool                       // ["m.room.member", "$LAZY"]
	filter  core.StateFilter
	nothing bool
}

// selectState resolves required_state for viewer.
func selectState(pairs [][]string, viewer string) *stateSelection {
	s := &stateSelection{anyType: map[string]bool{}, types: map[string]map[string]bool{}}
	for _, p := range pairs {
		typ, key := p[0], p[1]
		switch key {
		case "$ME":
			key = viewer
		case "$LAZY":
			if typ == "m.room.member" {
				s.lazy = true
				continue
			}
		}
		switch {
		case typ == "*" && key == "*":
			s.all = true
		case typ == "*":
			s.anyType[key] = true
		case key == "*":
			s.types[typ] = nil
		default:
			if keys, ok := s.types[typ]; !ok {
				s.types[typ] = map[string]bool{key: true}
			} else if keys != nil {
				keys[key] = true
			}
		}
	}
	switch {
	case s.all || len(s.anyType) > 0:
		s.filter = core.AllState
	case len(s.types) == 0 && !s.lazy:
		s.nothing = true
	default:
		f := core.StateFilter{Types: map[string][]string{}}
		for t, keys := range s.types {
			if keys == nil {
				f.Types[t] = nil
				continue
			}
			for k := range keys {
				f.Types[t] = append(f.Types[t], k)
			}
		}
		if s.lazy {
			if _, ok := f.Types["m.room.member"]; !ok {
				// Members are picked after the read (the timeline's
				// senders).
				f.Types["m.room.member"] = nil
			}
		}
		s.filter = f
	}
	return s
}

// match reports whether a state entry is required; members names the
// senders a lazy selection wants.
func (s *stateSelection) match(k core.StateKey, members map[string]bool) bool {
	if s.all || s.anyType[k.StateKey] {
		return true
	}
	if keys, ok := s.types[k.Type]; ok && (keys == nil || keys[k.StateKey]) {
		return true
	}
	return s.lazy && k.Type == "m.room.member" && members[k.StateKey]
}

// room adds roomID's part to the response when the client has not seen
// it as it is now.
func (b *build) room(ctx context.Context, c *candidate, cfg *RoomConfig) error {
	id := c.m.RoomID
	fp := fingerprint(cfg)
	prevSent, wasSent := b.prev.rooms[id]
	wasInvite := prevSent.membership == core.MembershipInvite || prevSent.membership == core.MembershipKnock
	isInvite := c.m.Membership == core.MembershipInvite || c.m.Membership == core.MembershipKnock
	initial := !wasSent || prevSent.config != fp || wasInvite != isInvite
	b.next.rooms[id] = sentRoom{config: fp, membership: c.m.Membership}
	if isInvite {
		if !initial {
			return nil
		}
		return b.inviteRoom(ctx, c)
	}
	changedMembership := wasSent && prevSent.membership != c.m.Membership
	if !initial && !b.active[id] && !changedMembership {
		return nil
	}
	to := b.now.Events
	if c.m.Membership != core.MembershipJoin {
		to = c.m.StreamOrdering
	}
	from := b.since.Events
	if initial {
		from = clientsync.MinStream
	}
	r := &Room{Initial: initial, BumpStamp: c.bump, Timeline: []*clientsync.ClientEvent{}, RequiredState: []*clientsync.ClientEvent{}}
	var evs []*core.StoredEvent
	if limit := cfg.timelineLimit(); limit > 0 && from < to {
		var err error
		if evs, r.Limited, err = b.s.sync.RoomTimeline(ctx, b.viewer, b.ignored, id, from, to, limit); err != nil {
			return err
		}
		if r.Timeline, err = b.s.sync.FormatEvents(ctx, b.viewer, evs); err != nil {
			return err
		}
	}
	if len(evs) > 0 {
		r.PrevBatch = clientsync.EventPage(evs[0]).String()
	} else {
		r.PrevBatch = clientsync.PageToken{Stream: to}.String()
	}
	live := 0
	if !b.initial {
		for _, ev := range evs {
			if ev.StreamOrdering > b.since.Events {
				live++
			}
		}
	}
	r.NumLive = &live
	membersMoved := initial || changedMembership
	for _, ev := range evs {
		if ev.Type == "m.room.member" {
			membersMoved = true
		}
	}
	if err := b.requiredState(ctx, r, id, cfg, evs, initial, to); err != nil {
		return err
	}
	if err := b.roomMeta(ctx, r, c, to, membersMoved); err != nil {
		return err
	}
	b.resp.Rooms[id] = r
	return nil
}

// requiredState fills r.RequiredState: the selected state at to, whole
// when initial, else what changed since the last position (and the
// members of the timeline's senders for a lazy selection).
func (b *build) requiredState(ctx context.Context, r *Room, roomID string, cfg *RoomConfig, evs []*core.StoredEvent, initial bool, to int64) error {
	sel := selectState(cfg.RequiredState, b.viewer.UserID)
	if sel.nothing {
		return nil
	}
	members := map[string]bool{}
	if sel.lazy {
		for _, ev := range evs {
			members[ev.Sender] = true
		}
		if initial {
			members[b.viewer.UserID] = true
		}
	}
	end, err := b.s.sync.StateAtStream(ctx, roomID, to, sel.filter)
	if err != nil {
		return err
	}
	var start core.StateMap
	if !initial {
		if start, err = b.s.sync.StateAtStream(ctx, roomID, b.since.Events, sel.filter); err != nil {
			return err
		}
	}
	keys := make([]core.StateKey, 0, len(end))
	for k := range end {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b core.StateKey) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.StateKey, b.StateKey)
	})
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if !sel.match(k, members) {
			continue
		}
		lazyMember := sel.lazy && k.Type == "m.room.member" && members[k.StateKey]
		if start != nil && start[k] == end[k] && !lazyMember {
			continue
		}
		ids = append(ids, end[k])
	}
	st, err := b.s.sync.LoadOrdered(ctx, ids)
	if err != nil {
		return err
	}
	if r.RequiredState, err = b.s.sync.FormatEvents(ctx, b.viewer, st); err != nil {
		return err
	}
	return nil
}

// roomMeta fills name, avatar, heroes, the member counts (when members
// moved) and is_dm, and asks for the unread counts (fillUnread).
func (b *build) roomMeta(ctx context.Context, r *Room, c *candidate, to int64, membersMoved bool) error {
	id := c.m.RoomID
	filter := core.StateKeys(core.StateKey{Type: "m.room.name"}, core.StateKey{Type: "m.room.avatar"})
	if membersMoved {
		filter.Types["m.room.member"] = nil
	}
	st, err := b.s.sync.StateAtStream(ctx, id, to, filter)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(st))
	for _, e := range st {
		ids = append(ids, e)
	}
	evs, err := b.s.sync.LoadOrdered(ctx, ids)
	if err != nil {
		return err
	}
	type member struct {
		hero   Hero
		ms     string
		stream int64
	}
	var members []member
	for _, ev := range evs {
		var e struct {
			Content struct {
				Name        string `json:"name"`
				URL         string `json:"url"`
				Membership  string `json:"membership"`
				DisplayName string `json:"displayname"`
				AvatarURL   string `json:"avatar_url"`
			} `json:"content"`
		}
		_ = json.Unmarshal(ev.JSON, &e)
		switch ev.Type {
		case "m.room.name":
			r.Name = e.Content.Name
		case "m.room.avatar":
			r.Avatar = e.Content.URL
		case "m.room.member":
			if ev.StateKey != nil {
				members = append(members, member{hero: Hero{UserID: *ev.StateKey, DisplayName: e.Content.DisplayName, AvatarURL: e.Content.AvatarURL},
					ms: e.Content.Membership, stream: ev.StreamOrdering})
			}
		}
	}
	if membersMoved {
		slices.SortFunc(members, func(a, b member) int {
			if a.stream != b.stream {
				if a.stream < b.stream {
					return -1
				}
				return 1
			}
			return strings.Compare(a.hero.UserID, b.hero.UserID)
		})
		joined, invited := 0, 0
		var heroes []Hero
		for _, m := range members {
			switch m.ms {
			case core.MembershipJoin:
				joined++
			case core.MembershipInvite:
				invited++
			default:
				continue
			}
			if m.hero.UserID != b.viewer.UserID && len(heroes) < maxHeroes {
				heroes = append(heroes, m.hero)
			}
		}
		r.JoinedCount, r.InvitedCount = &joined, &invited
		if r.Name == "" {
			r.Heroes = heroes
		}
	}
	dm, err := b.isDM(ctx, c)
	if err != nil {
		return err
	}
	r.IsDM = dm
	if b.s.stores.Notifications != nil && c.m.Membership == core.MembershipJoin {
		// Read with the other rooms' by fillUnread.
		b.unread = append(b.unread, unreadRoom{id, r})
	}
	return nil
}

// unreadRoom is a joined room's part waiting for its notification counts.
type unreadRoom struct {
	id string
	r  *Room
}

// fillUnread fills the notification counts of the rooms roomMeta asked
// about, in one read for all of them.
func (b *build) fillUnread(ctx context.Context) error {
	if len(b.unread) == 0 {
		return nil
	}
	ids := make([]string, len(b.unread))
	for i, u := range b.unread {
		ids[i] = u.id
	}
	rooms, err := b.s.stores.Notifications.RoomsUnread(ctx, b.viewer.UserID, ids)
	if err != nil {
		return err
	}
	for _, u := range b.unread {
		var all core.UnreadCounts
		for _, t := range rooms[u.id] {
			all.Notifications += t.Notifications
			all.Highlights += t.Highlights
		}
		u.r.Notification, u.r.Highlight = &all.Notifications, &all.Highlights
	}
	b.unread = nil
	return nil
}

// inviteRoom adds an invite (or knock): its stripped state, and what it
// says of the room.
func (b *build) inviteRoom(ctx context.Context, c *candidate) error {
	st, ev, err := b.s.sync.InviteState(ctx, c.m, unsignedStateKey(c.m.Membership))
	if err != nil {
		return err
	}
	if b.ignored[ev.Sender] {
		return nil
	}
	r := &Room{Initial: true, BumpStamp: c.bump, InviteState: st}
	for _, se := range st {
		var e struct {
			Name string `json:"name"`
			URL  string `json:"url"`
		}
		_ = json.Unmarshal(se.Content, &e)
		switch se.Type {
		case "m.room.name":
			r.Name = e.Name
		case "m.room.avatar":
			r.Avatar = e.URL
		}
	}
	if r.IsDM, err = b.isDM(ctx, c); err != nil {
		return err
	}
	b.resp.Rooms[c.m.RoomID] = r
	return nil
}
