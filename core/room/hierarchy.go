package room

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sort"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/pdu"
)

// The space hierarchy (client-server API "Spaces", GET
// /_matrix/client/v1/rooms/{roomId}/hierarchy): a depth-first walk over
// the m.space.child events of a space, giving a summary of every room the
// user may join or peek into. A child whose state this server does not
// hold is asked of the servers its m.space.child names (the federation
// /hierarchy endpoint, through HierarchyRequest.Remote), as Synapse does.

// Bounds of a hierarchy request.
const (
	DefaultHierarchyLimit    = 50
	MaxHierarchyLimit        = 100
	DefaultHierarchyMaxDepth = 10
	// maxHierarchyWalk bounds the rooms one request looks at, so that a
	// deep page of a huge space cannot cost without end.
	maxHierarchyWalk = 2000
	// maxChildOrder is the longest valid m.space.child order.
	maxChildOrder = 50
)

const typeSpaceChild = "m.space.child"

// HierarchyRequest is one page request of a space hierarchy.
type HierarchyRequest struct {
	RoomID        string
	UserID        string
	SuggestedOnly bool
	// MaxDepth is how deep to walk below the root (0: the root only); a
	// negative value uses DefaultHierarchyMaxDepth, and larger values
	// are capped there.
	MaxDepth int
	// Limit is the page size (0 uses DefaultHierarchyLimit; capped at
	// MaxHierarchyLimit).
	Limit int
	// From is the next_batch of a previous page, "" for the first.
	From string
	// Remote, when set, fetches children this server does not know from
	// other servers (Federation.RemoteHierarchy); nil leaves them out.
	Remote RemoteHierarchyFunc
}

// HierarchyRoom is a room of the hierarchy (SpaceHierarchyRoomsChunk).
type HierarchyRoom struct {
	PublicRoom
	AllowedRoomIDs []string          `json:"allowed_room_ids,omitempty"`
	Encryption     string            `json:"encryption,omitempty"`
	RoomVersion    string            `json:"room_version,omitempty"`
	ChildrenState  []json.RawMessage `json:"children_state"`
}

// HierarchyPage is one page of a space hierarchy.
type HierarchyPage struct {
	Rooms     []HierarchyRoom `json:"rooms"`
	NextBatch string          `json:"next_batch,omitempty"`
}

// hierarchyToken is what next_batch carries: how many rooms earlier pages
// gave and the parameters that may not change between pages. The walk is
// deterministic, so the next page walks again and skips what was given.
type hierarchyToken struct {
	Room      string `json:"r"`
	Skip      int    `json:"s"`
	MaxDepth  int    `json:"d"`
	Suggested bool   `json:"o"`
}

func (t hierarchyToken) encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseHierarchyToken(s string) (hierarchyToken, error) {
	var t hierarchyToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &t) != nil || t.Skip <= 0 {
		return t, core.ErrInvalidParam.WithMessage("unknown from token")
	}
	return t, nil
}

// spaceChild is one valid m.space.child event of a room.
type spaceChild struct {
	roomID    string
	via       []string
	order     string // "" when absent or invalid
	ts        int64
	suggested bool
	stripped  json.RawMessage
}

// Hierarchy returns a page of the space tree under req.RoomID: the rooms
// userID is joined to or invited to, that are public, knockable or
// world-readable, or restricted with an allow condition the user meets,
// depth first, children in the spec's order (order, then the
// m.space.child event's origin_server_ts, then room ID). A room's
// children are looked at only when the user may see it, and only below
// max_depth.
//
// It returns M_FORBIDDEN when the user may not see the root (or it is
// unknown here), and M_INVALID_PARAM for an unknown from token or one
// given with a different max_depth or suggested_only.
func (p *Pipeline) Hierarchy(ctx context.Context, req HierarchyRequest) (*HierarchyPage, error) {
	if req.MaxDepth < 0 || req.MaxDepth > DefaultHierarchyMaxDepth {
		req.MaxDepth = DefaultHierarchyMaxDepth
	}
	if req.Limit <= 0 {
		req.Limit = DefaultHierarchyLimit
	}
	req.Limit = min(req.Limit, MaxHierarchyLimit)
	skip := 0
	if req.From != "" {
		t, err := parseHierarchyToken(req.From)
		if err != nil {
			return nil, err
		}
		if t.Room != req.RoomID || t.MaxDepth != req.MaxDepth || t.Suggested != req.SuggestedOnly {
			return nil, core.ErrInvalidParam.WithMessage("suggested_only and max_depth cannot change on paginated requests")
		}
		skip = t.Skip
	}
	forbidden := core.ErrForbidden.WithMessage("you may not view room %s", req.RoomID)
	if _, err := p.Version(ctx, req.RoomID); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil, forbidden
		}
		return nil, err
	}
	type item struct {
		roomID string
		depth  int
		via    []string
	}
	stack := []item{{req.RoomID, 0, nil}}
	remote := remoteWalk{remote: req.Remote, userID: req.UserID, suggestedOnly: req.SuggestedOnly}
	seen := map[string]bool{}
	page := &HierarchyPage{Rooms: []HierarchyRoom{}}
	given, walked := 0, 0
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[it.roomID] {
			continue
		}
		seen[it.roomID] = true
		if walked++; walked > maxHierarchyWalk {
			break
		}
		hr, children, ok, err := p.hierarchyRoom(ctx, it.roomID, req.UserID, "", req.SuggestedOnly)
		if err != nil {
			return nil, err
		}
		if !ok && it.depth > 0 {
			if hr, children, ok, err = remote.room(ctx, p, it.roomID, it.via); err != nil {
				return nil, err
			}
		}
		if !ok {
			if it.depth == 0 {
				return nil, forbidden
			}
			continue
		}
		if given >= skip {
			if len(page.Rooms) == req.Limit {
				// One more room to give: the page is full.
				page.NextBatch = hierarchyToken{Room: req.RoomID, Skip: given, MaxDepth: req.MaxDepth, Suggested: req.SuggestedOnly}.encode()
				break
			}
			page.Rooms = append(page.Rooms, hr)
		}
		given++
		if it.depth < req.MaxDepth {
			for i := len(children) - 1; i >= 0; i-- {
				if !seen[children[i].roomID] {
					stack = append(stack, item{children[i].roomID, it.depth + 1, children[i].via})
				}
			}
		}
	}
	return page, nil
}

// hierarchyRoom summarises roomID for userID and returns its valid
// children in order; ok is false when the room is not known here or the
// user may neither join nor peek into it. With origin set (a server asking
// over federation), the room is judged for that server instead of a user.
func (p *Pipeline) hierarchyRoom(ctx context.Context, roomID, userID, origin string, suggestedOnly bool) (HierarchyRoom, []spaceChild, bool, error) {
	v, err := p.Version(ctx, roomID)
	if errors.Is(err, core.ErrNotFound) {
		return HierarchyRoom{}, nil, false, nil
	}
	if err != nil {
		return HierarchyRoom{}, nil, false, err
	}
	pr, err := p.publicRoom(ctx, roomID)
	if errors.Is(err, core.ErrNotFound) {
		return HierarchyRoom{}, nil, false, nil
	}
	if err != nil {
		return HierarchyRoom{}, nil, false, err
	}
	st, err := p.stores.State.CurrentState(ctx, roomID, core.StateFilter{Types: map[string][]string{
		keyJoinRules.Type: {""}, "m.room.encryption": {""}, typeSpaceChild: nil}})
	if err != nil {
		return HierarchyRoom{}, nil, false, err
	}
	evs, err := p.pdus(ctx, slices.Collect(maps.Values(st)))
	if err != nil {
		return HierarchyRoom{}, nil, false, err
	}
	var jr joinRulesContent
	if e := evs[st[keyJoinRules]]; e != nil {
		_ = json.Unmarshal(e.Content, &jr)
	}
	hr := HierarchyRoom{PublicRoom: pr, RoomVersion: string(v.ID), ChildrenState: []json.RawMessage{}}
	if e := evs[st[core.StateKey{Type: "m.room.encryption"}]]; e != nil {
		hr.Encryption = contentString(e.Content, "algorithm")
	}
	restricted := v.Restricted && (jr.JoinRule == eventauth.JoinRuleRestricted || (v.KnockRestricted && jr.JoinRule == eventauth.JoinRuleKnockRestricted))
	if restricted {
		for _, a := range jr.Allow {
			if a.Type == allowMembership && a.RoomID != "" {
				hr.AllowedRoomIDs = append(hr.AllowedRoomIDs, a.RoomID)
			}
		}
	}
	var ok bool
	if origin != "" {
		ok, err = p.serverMayJoinOrPeek(ctx, v.Knock, v.KnockRestricted, roomID, origin, pr, restricted)
	} else {
		ok, err = p.mayJoinOrPeek(ctx, v.Knock, v.KnockRestricted, roomID, userID, pr, hr.AllowedRoomIDs, restricted)
	}
	if err != nil || !ok {
		return HierarchyRoom{}, nil, false, err
	}
	var children []spaceChild
	for k, eid := range st {
		if k.Type != typeSpaceChild {
			continue
		}
		if c, ok := parseSpaceChild(k.StateKey, evs[eid]); ok && (!suggestedOnly || c.suggested) {
			children = append(children, c)
		}
	}
	// sort.Slice, not slices.SortFunc: one sorting code for all element types
	// instead of a ~20 KB copy per struct type in the browser build.
	sort.Slice(children, func(i, j int) bool { return compareChildren(children[i], children[j]) < 0 })
	for _, c := range children {
		hr.ChildrenState = append(hr.ChildrenState, c.stripped)
	}
	return hr, children, true, nil
}

// mayJoinOrPeek applies the spec's list of the rooms a hierarchy gives:
// the user is joined or invited; the room is public, knockable (knock or
// knock_restricted where the version has them), world-readable, or
// restricted with an allow condition the user meets.
func (p *Pipeline) mayJoinOrPeek(ctx context.Context, knock, knockRestricted bool, roomID, userID string, pr PublicRoom, allowed []string, restricted bool) (bool, error) {
	m, err := p.membershipOf(ctx, roomID, userID)
	if err != nil {
		return false, err
	}
	switch {
	case m.Membership == eventauth.MembershipJoin || m.Membership == eventauth.MembershipInvite:
		return true, nil
	case pr.WorldReadable:
		return true, nil
	case m.Membership == eventauth.MembershipBan:
		return false, nil
	case pr.JoinRule == eventauth.JoinRulePublic:
		return true, nil
	case knock && pr.JoinRule == eventauth.JoinRuleKnock, knockRestricted && pr.JoinRule == eventauth.JoinRuleKnockRestricted:
		return true, nil
	case restricted:
		for _, r := range allowed {
			am, err := p.membershipOf(ctx, r, userID)
			if err != nil {
				return false, err
			}
			if am.Membership == eventauth.MembershipJoin {
				return true, nil
			}
		}
	}
	return false, nil
}

// parseSpaceChild reads an m.space.child event: the state key must be a
// room ID and content.via a non-empty list of strings (otherwise the child
// is not valid, or was removed). order counts only when it is at most 50
// characters of printable ASCII.
func parseSpaceChild(stateKey string, e *pdu.PDU) (spaceChild, bool) {
	if e == nil {
		return spaceChild{}, false
	}
	return parseChildContent(stateKey, e.Content, e.Sender, e.OriginServerTS)
}

// parseChildContent is parseSpaceChild on the parts of the event.
func parseChildContent(stateKey string, content json.RawMessage, sender string, ts int64) (spaceChild, bool) {
	if _, err := id.ParseRoomID(stateKey); err != nil {
		return spaceChild{}, false
	}
	var c struct {
		Via       []json.RawMessage `json:"via"`
		Order     json.RawMessage   `json:"order"`
		Suggested json.RawMessage   `json:"suggested"`
	}
	if json.Unmarshal(content, &c) != nil || len(c.Via) == 0 {
		return spaceChild{}, false
	}
	out := spaceChild{roomID: stateKey, ts: ts}
	for _, v := range c.Via {
		var s string
		if json.Unmarshal(v, &s) != nil || s == "" {
			return spaceChild{}, false
		}
		out.via = append(out.via, s)
	}
	var order string
	if json.Unmarshal(c.Order, &order) == nil && validChildOrder(order) {
		out.order = order
	}
	_ = json.Unmarshal(c.Suggested, &out.suggested)
	// A stripped state event with origin_server_ts (StrippedChildStateEvent).
	stripped, err := json.Marshal(struct {
		Type           string          `json:"type"`
		StateKey       string          `json:"state_key"`
		Content        json.RawMessage `json:"content"`
		Sender         string          `json:"sender"`
		OriginServerTS int64           `json:"origin_server_ts"`
	}{typeSpaceChild, stateKey, content, sender, ts})
	if err != nil {
		return spaceChild{}, false
	}
	out.stripped = stripped
	return out, true
}

// compareChildren is the spec's ordering of a space's children: those
// with an order first, by order; then by the origin_server_ts of their
// m.space.child event; then by room ID.
func compareChildren(a, b spaceChild) int {
	switch {
	case a.order != "" && b.order == "":
		return -1
	case a.order == "" && b.order != "":
		return 1
	}
	return cmp.Or(strings.Compare(a.order, b.order), cmp.Compare(a.ts, b.ts), strings.Compare(a.roomID, b.roomID))
}

// validChildOrder reports whether order is a valid m.space.child order.
func validChildOrder(order string) bool {
	if order == "" || len(order) > maxChildOrder {
		return false
	}
	for i := 0; i < len(order); i++ {
		if order[i] < 0x20 || order[i] > 0x7e {
			return false
		}
	}
	return true
}
