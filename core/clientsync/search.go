package clientsync

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"hearth.dev/hearth/core"
)

// Search keys (the fields of events that are indexed).
const (
	KeyBody  = "content.body"
	KeyName  = "content.name"
	KeyTopic = "content.topic"
)

// Limits of /search.
const (
	DefaultSearchLimit  = 10
	MaxSearchLimit      = 100
	defaultContextLimit = 5
	maxContextLimit     = 50
)

// SearchQuery is a full-text query over the indexed events.
type SearchQuery struct {
	// RoomIDs are the rooms searched.
	RoomIDs []string
	// Words must all occur (as whole words or word prefixes).
	Words []string
	// Keys are the fields searched (KeyBody, KeyName, KeyTopic).
	Keys []string
	// Recent orders by stream ordering, newest first, instead of rank;
	// Before then bounds the stream ordering (0: no bound).
	Recent bool
	Before int64
	// Offset skips that many results in rank order. The store may rank
	// the matches a window at a time, newest window first (the best of
	// the newest few hundred, then of the next older ones), so that a page
	// costs the same however many events match.
	Offset int
	Limit  int
	// After and Until, where they have a room, bound the stream orderings
	// looked at in it to (After, Until].
	After, Until map[string]int64
	// Member, when set, takes the place of RoomIDs, After and Until: the
	// rooms searched are Member's, as Scope says, read by the store from
	// the user's current memberships. A user in thousands of rooms is not
	// handed to the store room by room on every search.
	Member string
	Scope  MemberScope
	// ByMatch asks the store to look each match's room up in Member's
	// memberships rather than first list the rooms of ScopeBeforeJoin
	// that have text before the join (a check per joined room): cheaper
	// when the words match fewer events than Member has rooms. The
	// results are the same.
	ByMatch bool
}

// MemberScope says which of SearchQuery.Member's rooms are searched, and
// which part of each. A room's join is the stream position of the user's
// current join event, when positive.
type MemberScope int

const (
	// ScopeMemberRooms is every room the user is joined to, has left or
	// is banned from, whole.
	ScopeMemberRooms MemberScope = iota
	// ScopeAfterJoin is the rooms the user is joined to, after the join.
	ScopeAfterJoin
	// ScopeBeforeJoin is what ScopeAfterJoin leaves out of
	// ScopeMemberRooms: the rooms left or banned from whole, and the
	// joined ones up to the join.
	ScopeBeforeJoin
)

// SearchHit is one event found.
type SearchHit struct {
	Event *core.StoredEvent
	// Rank is higher for better matches.
	Rank float64
}

// SearchStore is the full-text index of events' text (message bodies,
// room names and topics), filled as events are persisted. Only events in
// the timeline that have not been redacted are found.
type SearchStore interface {
	// SearchEvents returns at most q.Limit events matching q, in the
	// order it asks for. Which of them the searcher may see is for the
	// caller to decide.
	SearchEvents(ctx context.Context, q SearchQuery) ([]SearchHit, error)
	// CountSearch counts the events SearchEvents finds for q (its order,
	// offset and limit aside) that none of skipSenders sent, stopping at
	// max.
	CountSearch(ctx context.Context, q SearchQuery, skipSenders []string, max int) (int, error)
}

// SearchWords splits a search term into the words the index knows:
// sequences of letters and digits, lower-cased.
func SearchWords(term string) []string {
	f := strings.FieldsFunc(term, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	out := f[:0]
	for _, w := range f {
		w = strings.ToLower(w)
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// RoomEventsCriteria is the room_events category of a /search request.
type RoomEventsCriteria struct {
	SearchTerm   string           `json:"search_term"`
	Keys         []string         `json:"keys"`
	Filter       *RoomEventFilter `json:"filter"`
	OrderBy      string           `json:"order_by"`
	EventContext *struct {
		BeforeLimit    *int `json:"before_limit"`
		AfterLimit     *int `json:"after_limit"`
		IncludeProfile bool `json:"include_profile"`
	} `json:"event_context"`
	IncludeState bool `json:"include_state"`
	Groupings    *struct {
		GroupBy []struct {
			Key string `json:"key"`
		} `json:"group_by"`
	} `json:"groupings"`
}

// Check validates the criteria: M_BAD_JSON for unknown keys or ordering,
// bad filters or context limits.
func (c *RoomEventsCriteria) Check() error {
	for _, k := range c.Keys {
		switch k {
		case KeyBody, KeyName, KeyTopic:
		default:
			return core.ErrBadJSON.WithMessage("unknown search key %q", k)
		}
	}
	switch c.OrderBy {
	case "", "rank", "recent":
	default:
		return core.ErrBadJSON.WithMessage("order_by must be rank or recent")
	}
	if c.Filter != nil {
		if err := c.Filter.check("filter"); err != nil {
			return err
		}
	}
	if ec := c.EventContext; ec != nil {
		if ec.BeforeLimit != nil && *ec.BeforeLimit < 0 || ec.AfterLimit != nil && *ec.AfterLimit < 0 {
			return core.ErrBadJSON.WithMessage("event_context limits must not be negative")
		}
	}
	if g := c.Groupings; g != nil {
		for _, by := range g.GroupBy {
			if by.Key != "room_id" && by.Key != "sender" {
				return core.ErrBadJSON.WithMessage("unknown group key %q", by.Key)
			}
		}
	}
	return nil
}

// SearchResponse is the response of /search.
type SearchResponse struct {
	SearchCategories struct {
		RoomEvents *RoomEventsResult `json:"room_events,omitempty"`
	} `json:"search_categories"`
}

// RoomEventsResult is the room_events category of a /search response.
type RoomEventsResult struct {
	Count      int                                `json:"count"`
	Highlights []string                           `json:"highlights"`
	Results    []SearchResult                     `json:"results"`
	State      map[string][]*ClientEvent          `json:"state,omitempty"`
	Groups     map[string]map[string]*SearchGroup `json:"groups,omitempty"`
	NextBatch  string                             `json:"next_batch,omitempty"`
}

// SearchResult is one result.
type SearchResult struct {
	Rank    float64        `json:"rank"`
	Result  *ClientEvent   `json:"result"`
	Context *SearchContext `json:"context,omitempty"`
}

// SearchContext is the context of a result.
type SearchContext struct {
	Start        string             `json:"start"`
	End          string             `json:"end"`
	ProfileInfo  map[string]Profile `json:"profile_info,omitempty"`
	EventsBefore []*ClientEvent     `json:"events_before"`
	EventsAfter  []*ClientEvent     `json:"events_after"`
}

// Profile is a sender's profile at the time of an event.
type Profile struct {
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// SearchGroup is one group of results.
type SearchGroup struct {
	NextBatch string   `json:"next_batch,omitempty"`
	Order     int      `json:"order"`
	Results   []string `json:"results"`
}

// searchToken is the position of a next_batch: "k<offset>" in rank
// order, "r<stream ordering>" in recent order.
func parseSearchToken(s string, recent bool) (offset int, before int64, err error) {
	if s == "" {
		return 0, 0, nil
	}
	if rest, ok := strings.CutPrefix(s, "k"); ok && !recent {
		n, err := parseNonNegative(rest)
		if err != nil || n > 1<<20 {
			return 0, 0, ErrInvalidToken
		}
		return int(n), 0, nil
	}
	if rest, ok := strings.CutPrefix(s, "r"); ok && recent {
		n, err := parseSigned(rest)
		if err != nil {
			return 0, 0, ErrInvalidToken
		}
		return 0, n, nil
	}
	return 0, 0, ErrInvalidToken
}

// Search answers /search for the room_events category.
func (s *Service) Search(ctx context.Context, viewer Viewer, c *RoomEventsCriteria, nextBatch string) (*RoomEventsResult, error) {
	if s.stores.Search == nil {
		return nil, core.ErrUnrecognized.WithMessage("search is not supported by this server")
	}
	recent := c.OrderBy == "recent"
	offset, before, err := parseSearchToken(nextBatch, recent)
	if err != nil {
		return nil, err
	}
	filter := c.Filter
	if filter == nil {
		filter = &RoomEventFilter{}
	}
	limit := filter.LimitOr(DefaultSearchLimit, MaxSearchLimit)
	words := SearchWords(c.SearchTerm)
	res := &RoomEventsResult{Highlights: words, Results: []SearchResult{}}
	if res.Highlights == nil {
		res.Highlights = []string{}
	}
	// Rooms the user is or was in.
	list, err := s.stores.State.RoomList(ctx, viewer.UserID)
	if err != nil {
		return nil, err
	}
	// Without room lists in the filter, every room of the user is
	// searched, and the store reads them itself (no list of thousands of
	// room IDs is made for each search).
	allRooms := filter.Rooms == nil && filter.NotRooms == nil
	var rooms []string
	anyRoom := false
	for m := range list.All() {
		if m.Membership != core.MembershipJoin && m.Membership != core.MembershipLeave && m.Membership != core.MembershipBan {
			continue
		}
		anyRoom = true
		if allRooms {
			break
		}
		if filter.MatchRoom(m.RoomID) {
			rooms = append(rooms, m.RoomID)
		}
	}
	if allRooms && !anyRoom || !allRooms && len(rooms) == 0 || len(words) == 0 {
		return res, nil
	}
	keys := c.Keys
	if len(keys) == 0 {
		keys = []string{KeyBody, KeyName, KeyTopic}
	}
	q := SearchQuery{RoomIDs: rooms, Words: words, Keys: keys}
	if allRooms {
		q = SearchQuery{Member: viewer.UserID, Scope: ScopeMemberRooms, Words: words, Keys: keys}
	}
	rq := q
	rq.Recent, rq.Before, rq.Offset, rq.Limit = recent, before, offset, limit
	hits, err := s.stores.Search.SearchEvents(ctx, rq)
	if err != nil {
		return nil, err
	}
	ignored, err := s.ignoredUsers(ctx, viewer.UserID)
	if err != nil {
		return nil, err
	}
	if res.Count, err = s.searchCount(ctx, viewer.UserID, list, q, filter, ignored); err != nil {
		return nil, err
	}
	if len(hits) == limit {
		if recent {
			res.NextBatch = "r" + strconv.FormatInt(hits[len(hits)-1].Event.StreamOrdering, 10)
		} else {
			res.NextBatch = "k" + strconv.Itoa(offset+limit)
		}
	}
	var cand []*core.StoredEvent
	rank := map[string]float64{}
	for _, h := range hits {
		if !ignored[h.Event.Sender] && filter.Match(h.Event) {
			cand = append(cand, h.Event)
			rank[h.Event.EventID] = h.Rank
		}
	}
	evs, err := s.visible(ctx, viewer.UserID, cand)
	if err != nil {
		return nil, err
	}
	f := s.formatter(viewer, false)
	ces, err := f.formatAll(ctx, evs)
	if err != nil {
		return nil, err
	}
	if err := s.bundle(ctx, f, ces, evs, ignored); err != nil {
		return nil, err
	}
	for i, ce := range ces {
		r := SearchResult{Rank: rank[ce.EventID], Result: ce}
		if c.EventContext != nil {
			if r.Context, err = s.searchContext(ctx, viewer.UserID, f, evs[i], c, ignored); err != nil {
				return nil, err
			}
		}
		res.Results = append(res.Results, r)
	}
	if c.IncludeState {
		res.State = map[string][]*ClientEvent{}
		for _, ev := range evs {
			if _, ok := res.State[ev.RoomID]; ok {
				continue
			}
			m, err := s.stores.State.CurrentState(ctx, ev.RoomID, core.AllState)
			if err != nil {
				return nil, err
			}
			stEvs, err := s.loadOrdered(ctx, selectState(m, nil, nil, stateChoice{}))
			if err != nil {
				return nil, err
			}
			if res.State[ev.RoomID], err = f.formatAll(ctx, stEvs); err != nil {
				return nil, err
			}
		}
	}
	if c.Groupings != nil && len(c.Groupings.GroupBy) > 0 {
		res.Groups = map[string]map[string]*SearchGroup{}
		for _, by := range c.Groupings.GroupBy {
			groups := map[string]*SearchGroup{}
			for _, ev := range evs {
				key := ev.RoomID
				if by.Key == "sender" {
					key = ev.Sender
				}
				g := groups[key]
				if g == nil {
					g = &SearchGroup{Order: len(groups) + 1}
					groups[key] = g
				}
				g.Results = append(g.Results, ev.EventID)
			}
			res.Groups[by.Key] = groups
		}
	}
	return res, nil
}

// Bounds of the work of searchCount.
const (
	searchCountPage = 500
	maxSearchCount  = 2_000
)

// searchCount returns how many events matching q the viewer would be shown:
// those filter selects, not sent by a user they ignore, and visible to
// them (so a room they left counts nothing sent after they left), at most
// maxSearchCount of them (the spec asks for an approximate count).
//
// In a room the viewer is joined to, everything after their join is
// theirs to see, so when the filter leaves out no sender or type those
// matches are counted by the store without being loaded. The rest (rooms
// left, and what came before the join) is walked newest first and checked
// event by event. An event of a fork that arrived after the join but
// branched off before it is counted although the viewer may not see it:
// the count is approximate there.
func (s *Service) searchCount(ctx context.Context, userID string, list *core.RoomList, q SearchQuery, filter *RoomEventFilter, ignored map[string]bool) (int, error) {
	count := 0
	if !filter.Restricts() && filter.ContainsURL == nil {
		joinedAt := map[string]int64{}
		anyJoined := false
		for m := range list.All() {
			if m.Membership == core.MembershipJoin && m.StreamOrdering > 0 {
				anyJoined = true
				if q.Member != "" {
					break // the store finds the joins itself
				}
				joinedAt[m.RoomID] = m.StreamOrdering
			}
		}
		fast := q
		if q.Member != "" {
			fast.Scope = ScopeAfterJoin
		} else {
			fast.After, fast.RoomIDs = map[string]int64{}, nil
			for _, r := range q.RoomIDs {
				if at, ok := joinedAt[r]; ok {
					fast.RoomIDs = append(fast.RoomIDs, r)
					fast.After[r] = at
				}
			}
		}
		if anyJoined && (q.Member != "" || len(fast.RoomIDs) > 0) {
			var skip []string
			for u := range ignored {
				skip = append(skip, u)
			}
			n, err := s.stores.Search.CountSearch(ctx, fast, skip, maxSearchCount)
			if err != nil {
				return 0, err
			}
			count = n
			if q.Member != "" {
				// The matches after the joins are fewer than maxSearchCount:
				// looking up each match's room costs less than checking
				// every joined room when the user has more rooms than that.
				q.Scope, q.ByMatch = ScopeBeforeJoin, n < 2*list.Len()
			} else {
				q.Until = fast.After
			}
		}
	}
	q.Recent, q.Limit = true, searchCountPage
	seen := 0
	for seen < maxSearchCount && count < maxSearchCount {
		hits, err := s.stores.Search.SearchEvents(ctx, q)
		if err != nil {
			return 0, err
		}
		var cand []*core.StoredEvent
		for _, h := range hits {
			if !ignored[h.Event.Sender] && filter.Match(h.Event) {
				cand = append(cand, h.Event)
			}
		}
		evs, err := s.visible(ctx, userID, cand)
		if err != nil {
			return 0, err
		}
		count += len(evs)
		seen += len(hits)
		if len(hits) < q.Limit {
			break
		}
		next := hits[len(hits)-1].Event.StreamOrdering
		if next == 0 || q.Before != 0 && next >= q.Before {
			break // Before 0 would mean no bound again
		}
		q.Before = next
	}
	return min(count, maxSearchCount), nil
}

// searchContext returns the events around a search result.
func (s *Service) searchContext(ctx context.Context, userID string, f *formatter, ev *core.StoredEvent, c *RoomEventsCriteria, ignored map[string]bool) (*SearchContext, error) {
	nb, na := defaultContextLimit, defaultContextLimit
	if c.EventContext.BeforeLimit != nil {
		nb = min(*c.EventContext.BeforeLimit, maxContextLimit)
	}
	if c.EventContext.AfterLimit != nil {
		na = min(*c.EventContext.AfterLimit, maxContextLimit)
	}
	keep := func(e *core.StoredEvent) bool { return e.StateKey != nil || !ignored[e.Sender] }
	at := core.TopologicalToken{Depth: ev.Depth, Stream: ev.StreamOrdering}
	sc := &SearchContext{EventsBefore: []*ClientEvent{}, EventsAfter: []*ClientEvent{}}
	start, end := at, at
	var before, after []*core.StoredEvent
	var err error
	if nb > 0 {
		if before, start, _, err = s.page(ctx, userID, ev.RoomID, at, core.TopologicalStart, core.Backward, nb, keep); err != nil {
			return nil, err
		}
	}
	if na > 0 {
		if after, end, _, err = s.page(ctx, userID, ev.RoomID, at, core.TopologicalEnd, core.Forward, na, keep); err != nil {
			return nil, err
		}
	}
	sc.Start, sc.End = TopologicalPage(start).String(), TopologicalPage(end).String()
	if sc.EventsBefore, err = f.formatAll(ctx, before); err != nil {
		return nil, err
	}
	if sc.EventsAfter, err = f.formatAll(ctx, after); err != nil {
		return nil, err
	}
	if c.EventContext.IncludeProfile {
		all := append(append(append([]*core.StoredEvent{}, before...), ev), after...)
		users := LazyMembers(all)
		keys := make([]core.StateKey, 0, len(users))
		for u := range users {
			keys = append(keys, core.StateKey{Type: typeMember, StateKey: u})
		}
		m, err := s.stores.Groups.StateAt(ctx, ev.StateGroup, core.StateKeys(keys...))
		if err != nil {
			return nil, err
		}
		members, err := s.loadOrdered(ctx, selectState(m, nil, nil, stateChoice{}))
		if err != nil {
			return nil, err
		}
		sc.ProfileInfo = map[string]Profile{}
		for _, me := range members {
			var fe struct {
				Content Profile `json:"content"`
			}
			_ = json.Unmarshal(me.JSON, &fe)
			sc.ProfileInfo[*me.StateKey] = fe.Content
		}
	}
	return sc, nil
}
