package room

import (
	"context"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

// History visibility values (m.room.history_visibility).
const (
	HistoryWorldReadable = "world_readable"
	HistoryShared        = "shared"
	HistoryInvited       = "invited"
	HistoryJoined        = "joined"
)

// historyVisibility reads an m.room.history_visibility event; a missing
// event or an unknown value counts as shared.
func historyVisibility(e *pdu.PDU) string {
	if e == nil {
		return HistoryShared
	}
	switch hv := contentString(e.Content, "history_visibility"); hv {
	case HistoryWorldReadable, HistoryShared, HistoryInvited, HistoryJoined:
		return hv
	}
	return HistoryShared
}

// HistoryVisible applies the client-server API's rules on seeing an event
// ("Room History Visibility", server behaviour) given the state at the
// event: its history visibility, the user's membership then ("" for
// none), and whether the user joined the room at some point after it.
//
//  1. If the history_visibility was world_readable, allow.
//  2. If the user's membership was join, allow.
//  3. If history_visibility was shared and the user joined the room at
//     any point after the event was sent, allow.
//  4. If the user's membership was invite and history_visibility was
//     invited, allow.
//  5. Otherwise, deny.
func HistoryVisible(visibility, membership string, joinedAfter bool) bool {
	switch {
	case visibility == HistoryWorldReadable:
		return true
	case membership == eventauth.MembershipJoin:
		return true
	case visibility == HistoryShared && joinedAfter:
		return true
	case visibility == HistoryInvited && membership == eventauth.MembershipInvite:
		return true
	}
	return false
}

// FilterVisible returns the events of evs that userID may see, in the same
// order, by HistoryVisible on the state at each event. The user's own
// membership events are always visible (as Synapse shows a user their own
// leave, so a rejected invite leaves the client's room list); for the
// history visibility events themselves, the state before or after the
// event may allow it.
//
// "Joined at any point after the event" is taken as "joined now": a user
// who has left since sees, of the history from before they joined, only
// what the other rules allow. Outliers (events without state) are left
// out.
func (p *Pipeline) FilterVisible(ctx context.Context, userID string, evs []*Event) ([]*Event, error) {
	type view struct{ hv, membership string }
	views := map[int64]view{}
	joinedNow := map[string]bool{}
	viewAt := func(group int64) (view, error) {
		if v, ok := views[group]; ok {
			return v, nil
		}
		keyMember := core.StateKey{Type: eventauth.TypeMember, StateKey: userID}
		st, err := p.stores.Groups.StateAt(ctx, group, core.StateKeys(keyHistory, keyMember))
		if err != nil {
			return view{}, err
		}
		hvEv, mEv, err := p.pair(ctx, st[keyHistory], st[keyMember])
		if err != nil {
			return view{}, err
		}
		v := view{hv: historyVisibility(hvEv)}
		if mEv != nil {
			v.membership = contentString(mEv.Content, "membership")
		}
		views[group] = v
		return v, nil
	}
	out := make([]*Event, 0, len(evs))
	for _, e := range evs {
		if e.Stored.StateGroup == 0 {
			continue
		}
		joined, ok := joinedNow[e.Stored.RoomID]
		if !ok {
			m, err := p.membershipOf(ctx, e.Stored.RoomID, userID)
			if err != nil {
				return nil, err
			}
			joined = m.Membership == eventauth.MembershipJoin
			joinedNow[e.Stored.RoomID] = joined
		}
		after, err := viewAt(e.Stored.StateGroup)
		if err != nil {
			return nil, err
		}
		// A user always sees their own membership events: the leave
		// that rejects an invite, or a kick or ban, must reach them.
		own := e.PDU.Type == eventauth.TypeMember && e.PDU.StateKey != nil && *e.PDU.StateKey == userID
		visible := own || HistoryVisible(after.hv, after.membership, joined)
		if !visible && e.PDU.StateKey != nil && e.PDU.Type == keyHistory.Type && *e.PDU.StateKey == "" {
			// The state before: the history visibility this event
			// replaced.
			before := after
			prevID := ParseMetadata(e.Stored.InternalMetadata).ReplacesState
			var prev *pdu.PDU
			if prevID != "" {
				m, err := p.pdus(ctx, []string{prevID})
				if err != nil {
					return nil, err
				}
				prev = m[prevID]
			}
			before.hv = historyVisibility(prev)
			visible = HistoryVisible(before.hv, before.membership, joined)
		}
		if visible {
			out = append(out, e)
		}
	}
	return out, nil
}
