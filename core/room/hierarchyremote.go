package room

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
)

// Children of a space that are on other servers (client-server API
// "Spaces"; server-server API GET /hierarchy): the walk asks the servers
// an m.space.child names for the child's summary, one level of its
// children and the children those servers say this one may not see. As in
// Synapse, the children summaries of an answer are used when the walk gets
// to them, without asking again, and the answers are kept for a minute,
// so that the pages of one walk see the same tree.

// RemoteHierarchyFunc fetches the federation hierarchy of roomID from one
// of the servers via (Federation.RemoteHierarchy).
type RemoteHierarchyFunc func(ctx context.Context, roomID string, via []string, suggestedOnly bool) (*FederationHierarchy, error)

const (
	// maxRemoteHierarchyFetches bounds the requests one page's walk makes.
	maxRemoteHierarchyFetches = 20
	// maxHierarchyVia bounds the servers asked for one room.
	maxHierarchyVia = 5
	// hierarchyCacheTTL is how long an answer is kept.
	hierarchyCacheTTL = time.Minute
	// maxHierarchyCache bounds the answers kept.
	maxHierarchyCache = 512
)

// remoteWalk is the remote side of one hierarchy walk.
type remoteWalk struct {
	remote        RemoteHierarchyFunc
	userID        string
	suggestedOnly bool
	known         map[string]HierarchyRoom // summaries that came with a parent
	inaccessible  map[string]bool
	fetches       int
}

// room returns the summary of roomID, a room whose state this server does
// not hold, and its valid children, from another server; ok is false when
// none answers, or when the user may not see the room.
func (w *remoteWalk) room(ctx context.Context, p *Pipeline, roomID string, via []string) (HierarchyRoom, []spaceChild, bool, error) {
	if w.remote == nil || w.inaccessible[roomID] {
		return HierarchyRoom{}, nil, false, nil
	}
	// A room this server is in was judged from its own state.
	st, err := p.stores.State.CurrentState(ctx, roomID, core.StateKeys(keyCreate))
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return HierarchyRoom{}, nil, false, err
	}
	if st[keyCreate] != "" {
		return HierarchyRoom{}, nil, false, nil
	}
	hr, found := w.known[roomID]
	if !found {
		if w.fetches >= maxRemoteHierarchyFetches {
			return HierarchyRoom{}, nil, false, nil
		}
		w.fetches++
		fh, err := w.remote(ctx, roomID, via, w.suggestedOnly)
		if err != nil || fh == nil || fh.Room.RoomID != roomID {
			return HierarchyRoom{}, nil, false, nil // unreachable or unknown there: left out
		}
		hr = fh.Room
		if w.known == nil {
			w.known, w.inaccessible = map[string]HierarchyRoom{}, map[string]bool{}
		}
		for _, c := range fh.Children {
			if c.RoomID != "" {
				w.known[c.RoomID] = c
			}
		}
		for _, id := range fh.InaccessibleChildren {
			w.inaccessible[id] = true
		}
	}
	ok, err := p.remoteRoomAccessible(ctx, hr, w.userID)
	if err != nil || !ok {
		return HierarchyRoom{}, nil, false, err
	}
	var children []spaceChild
	for _, raw := range hr.ChildrenState {
		if c, ok := parseStrippedChild(raw); ok && (!w.suggestedOnly || c.suggested) {
			children = append(children, c)
		}
	}
	sort.Slice(children, func(i, j int) bool { return compareChildren(children[i], children[j]) < 0 })
	hr.ChildrenState = make([]json.RawMessage, 0, len(children))
	for _, c := range children {
		hr.ChildrenState = append(hr.ChildrenState, c.stripped)
	}
	return hr, children, true, nil
}

// remoteRoomAccessible is Synapse's check of a summary another server
// gave: the room is public, knockable or world-readable; or the user is
// joined to one of its allowed_room_ids; or the user's own membership
// here (an invite received) lets them see it.
func (p *Pipeline) remoteRoomAccessible(ctx context.Context, hr HierarchyRoom, userID string) (bool, error) {
	switch {
	case hr.WorldReadable, hr.JoinRule == eventauth.JoinRulePublic,
		hr.JoinRule == eventauth.JoinRuleKnock, hr.JoinRule == eventauth.JoinRuleKnockRestricted:
		return true, nil
	}
	for _, r := range hr.AllowedRoomIDs {
		m, err := p.membershipOf(ctx, r, userID)
		if err != nil {
			return false, err
		}
		if m.Membership == eventauth.MembershipJoin {
			return true, nil
		}
	}
	m, err := p.membershipOf(ctx, hr.RoomID, userID)
	if err != nil {
		return false, err
	}
	return m.Membership == eventauth.MembershipJoin || m.Membership == eventauth.MembershipInvite, nil
}

// parseStrippedChild reads an m.space.child of a children_state list.
func parseStrippedChild(raw json.RawMessage) (spaceChild, bool) {
	var s struct {
		Type           string          `json:"type"`
		StateKey       string          `json:"state_key"`
		Sender         string          `json:"sender"`
		Content        json.RawMessage `json:"content"`
		OriginServerTS int64           `json:"origin_server_ts"`
	}
	if json.Unmarshal(raw, &s) != nil || s.Type != typeSpaceChild {
		return spaceChild{}, false
	}
	return parseChildContent(s.StateKey, s.Content, s.Sender, s.OriginServerTS)
}

// hierarchyCache keeps other servers' /hierarchy answers for
// hierarchyCacheTTL.
type hierarchyCache struct {
	mu      sync.Mutex
	entries map[string]hierarchyEntry
}

type hierarchyEntry struct {
	h       *FederationHierarchy
	expires time.Time
}

func (c *hierarchyCache) get(key string, now time.Time) *FederationHierarchy {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok && now.Before(e.expires) {
		return e.h
	}
	return nil
}

func (c *hierarchyCache) put(key string, h *FederationHierarchy, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxHierarchyCache {
		c.entries = map[string]hierarchyEntry{}
	}
	c.entries[key] = hierarchyEntry{h: h, expires: now.Add(hierarchyCacheTTL)}
}

// RemoteHierarchy fetches roomID's hierarchy (GET
// /_matrix/federation/v1/hierarchy/{roomId}) from the first of via that
// answers with that room, this server excepted; at most maxHierarchyVia
// are asked. It returns M_NOT_FOUND when none does.
func (f *Federation) RemoteHierarchy(ctx context.Context, roomID string, via []string, suggestedOnly bool) (*FederationHierarchy, error) {
	key := strconv.FormatBool(suggestedOnly) + roomID
	now := f.p.cfg.Now()
	if h := f.hierarchies.get(key, now); h != nil {
		return h, nil
	}
	notFound := core.ErrNotFound.WithMessage("no server could give the hierarchy of %s", roomID)
	if f.cfg.Client == nil {
		return nil, notFound
	}
	path := "/_matrix/federation/v1/hierarchy/" + url.PathEscape(roomID) + "?suggested_only=" + strconv.FormatBool(suggestedOnly)
	asked := map[string]bool{f.p.cfg.ServerName: true}
	for _, server := range via {
		if asked[server] || len(asked) > maxHierarchyVia {
			continue
		}
		asked[server] = true
		var h FederationHierarchy
		if err := f.cfg.Client.Request(ctx, server, "GET", path, nil, &h); err != nil {
			f.cfg.Logger.DebugContext(ctx, "room: remote hierarchy", "room_id", roomID, "server", server, "err", err)
			continue
		}
		if h.Room.RoomID != roomID {
			continue
		}
		f.hierarchies.put(key, &h, now)
		return &h, nil
	}
	return nil, notFound
}
