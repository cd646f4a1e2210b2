package room

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
)

// JoinedRooms returns the rooms the local user userID is joined to, in
// room ID order.
func (p *Pipeline) JoinedRooms(ctx context.Context, userID string) ([]string, error) {
	ms, err := p.stores.State.RoomsForUser(ctx, userID, eventauth.MembershipJoin)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.RoomID)
	}
	return out, nil
}

// MembersQuery selects the members GET /rooms/{roomId}/members returns.
type MembersQuery struct {
	// AtStream, when set, asks for the members as of that event stream
	// position.
	AtStream *int64
	// Membership and NotMembership filter the members: with both set, a
	// member passes if either matches ("is Membership or is not
	// NotMembership").
	Membership, NotMembership string
}

// Members returns the m.room.member events of roomID that userID may read
// (see Access), filtered by q, ordered by state key.
func (p *Pipeline) Members(ctx context.Context, roomID, userID string, q MembersQuery) ([]*Event, error) {
	a, err := p.Access(ctx, roomID, userID)
	if err != nil {
		return nil, err
	}
	filter := core.StateTypes(eventauth.TypeMember)
	var st core.StateMap
	if q.AtStream != nil {
		st, err = p.StateAtStream(ctx, roomID, a, *q.AtStream, filter)
	} else {
		st, err = p.State(ctx, roomID, a, filter)
	}
	if err != nil {
		return nil, err
	}
	evs, err := p.StateEvents(ctx, st)
	if err != nil {
		return nil, err
	}
	evs = slices.DeleteFunc(evs, func(e *Event) bool {
		m := contentString(e.PDU.Content, "membership")
		switch {
		case q.Membership != "" && q.NotMembership != "":
			return m != q.Membership && m == q.NotMembership
		case q.Membership != "":
			return m != q.Membership
		case q.NotMembership != "":
			return m == q.NotMembership
		}
		return false
	})
	slices.SortFunc(evs, func(a, b *Event) int { return strings.Compare(*a.PDU.StateKey, *b.PDU.StateKey) })
	return evs, nil
}

// Member is a joined member's profile in the room.
type Member struct {
	DisplayName string
	AvatarURL   string
}

// MarshalJSON always writes display_name and avatar_url (null when
// unset), as Synapse does: clients such as matrix-nio require the keys.
func (m Member) MarshalJSON() ([]byte, error) {
	out := map[string]any{"display_name": nil, "avatar_url": nil}
	if m.DisplayName != "" {
		out["display_name"] = m.DisplayName
	}
	if m.AvatarURL != "" {
		out["avatar_url"] = m.AvatarURL
	}
	return json.Marshal(out)
}

// JoinedMembers returns the joined members of roomID with the profile
// their membership events carry. userID must be joined (M_FORBIDDEN
// otherwise).
func (p *Pipeline) JoinedMembers(ctx context.Context, roomID, userID string) (map[string]Member, error) {
	a, err := p.Access(ctx, roomID, userID)
	if err != nil {
		return nil, err
	}
	if a.Membership != eventauth.MembershipJoin {
		return nil, notInRoom(roomID)
	}
	evs, err := p.Members(ctx, roomID, userID, MembersQuery{Membership: eventauth.MembershipJoin})
	if err != nil {
		return nil, err
	}
	out := make(map[string]Member, len(evs))
	for _, e := range evs {
		out[*e.PDU.StateKey] = Member{
			DisplayName: contentString(e.PDU.Content, "displayname"),
			AvatarURL:   contentString(e.PDU.Content, "avatar_url"),
		}
	}
	return out, nil
}

// RoomState returns the state events of roomID that userID may read (see
// Access), ordered by type and state key.
func (p *Pipeline) RoomState(ctx context.Context, roomID, userID string) ([]*Event, error) {
	a, err := p.Access(ctx, roomID, userID)
	if err != nil {
		return nil, err
	}
	st, err := p.State(ctx, roomID, a, core.AllState)
	if err != nil {
		return nil, err
	}
	evs, err := p.StateEvents(ctx, st)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(evs, func(a, b *Event) int {
		if c := strings.Compare(a.PDU.Type, b.PDU.Type); c != 0 {
			return c
		}
		return strings.Compare(*a.PDU.StateKey, *b.PDU.StateKey)
	})
	return evs, nil
}

// StateEvent returns the state event at key in roomID as userID may read
// it, or M_NOT_FOUND when that state has none.
func (p *Pipeline) StateEvent(ctx context.Context, roomID, userID string, key core.StateKey) (*Event, error) {
	a, err := p.Access(ctx, roomID, userID)
	if err != nil {
		return nil, err
	}
	st, err := p.State(ctx, roomID, a, core.StateKeys(key))
	if err != nil {
		return nil, err
	}
	id := st[key]
	if id == "" {
		return nil, core.ErrNotFound.WithMessage("no %s state with key %q in %s", key.Type, key.StateKey, roomID)
	}
	e, err := p.Event(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, core.ErrNotFound.WithMessage("no %s state with key %q in %s", key.Type, key.StateKey, roomID)
	}
	return e, err
}

// VisibleEvent returns the event eventID of roomID if userID may see it
// (FilterVisible), and M_NOT_FOUND otherwise — also for an unknown room or
// event, a rejected or soft-failed one, or an event of another room, so
// that what exists is not revealed.
func (p *Pipeline) VisibleEvent(ctx context.Context, roomID, userID, eventID string) (*Event, error) {
	notFound := core.ErrNotFound.WithMessage("event %s not found", eventID)
	e, err := p.Event(ctx, eventID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if e.Stored.RoomID != roomID || e.Stored.Rejected != "" || e.Stored.SoftFailed {
		return nil, notFound
	}
	if forgotten, err := p.Forgotten(ctx, roomID, userID); err != nil {
		return nil, err
	} else if forgotten {
		return nil, notFound
	}
	vis, err := p.FilterVisible(ctx, userID, []*Event{e})
	if err != nil {
		return nil, err
	}
	if len(vis) == 0 {
		return nil, notFound
	}
	return e, nil
}

// ForwardExtremities returns the IDs of roomID's forward extremities, the
// deepest first: the prev_events of the next event.
func (p *Pipeline) ForwardExtremities(ctx context.Context, roomID string) ([]string, error) {
	refs, err := p.stores.Timeline.ForwardExtremities(ctx, roomID, 0)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.EventID
	}
	return out, nil
}
