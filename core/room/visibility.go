package room

import (
	"context"
	"errors"

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
// order, by HistoryVisible on the state at each event: the history
// visibility and the user's membership at the event's point in the DAG
// (its state group), and whether the user joined at any point after it
// (their latest join event is after it in the DAG's order). The user's own
// membership events are always visible (as Synapse shows a user their own
// leave, so a rejected invite leaves the client's room list); for the
// history visibility events themselves, the state before or after the
// event may allow it. Outliers (events without state) are left out.
//
// The events the user sent are visible to them without a look at their
// state (sentByViewer): the auth rules admit an event other than the
// create event and the sender's own membership only from a joined sender,
// so the user's membership at it was join (rule 2). The user's own
// membership events need no state either, and the state after the create
// event is known (stateKnownWithout).
//
// The lookups are batched: the two state entries read at each distinct
// state group of evs in one read, their events in one more, and the
// user's latest join in one more, only for rooms with an event the user
// was not joined at under shared visibility (or a history visibility
// event).
func (p *Pipeline) FilterVisible(ctx context.Context, userID string, evs []*Event) ([]*Event, error) {
	keyMember := core.StateKey{Type: eventauth.TypeMember, StateKey: userID}
	var groups []int64
	for _, e := range evs {
		if needsState(e, userID) {
			groups = append(groups, e.Stored.StateGroup)
		}
	}
	var states map[int64]core.StateMap
	if len(groups) > 0 {
		var err error
		if states, err = p.stores.Groups.StatesAt(ctx, groups, core.StateKeys(keyHistory, keyMember)); err != nil {
			return nil, err
		}
	}
	var ids []string
	for _, st := range states {
		for _, id := range st {
			ids = append(ids, id)
		}
	}
	for _, e := range evs {
		if needsState(e, userID) && e.PDU.Type == keyHistory.Type && e.PDU.StateKey != nil && *e.PDU.StateKey == "" {
			if prev := ParseMetadata(e.Stored.InternalMetadata).ReplacesState; prev != "" {
				ids = append(ids, prev)
			}
		}
	}
	var byID map[string]*pdu.PDU
	if len(ids) > 0 {
		var err error
		if byID, err = p.pdus(ctx, ids); err != nil {
			return nil, err
		}
	}
	type view struct{ hv, membership string }
	views := make(map[int64]view, len(states))
	viewAt := func(e *Event) view {
		if stateKnownWithout(e) {
			// The state after the create event is that event alone: no
			// history visibility (shared) and no membership.
			return view{hv: historyVisibility(nil)}
		}
		group := e.Stored.StateGroup
		if v, ok := views[group]; ok {
			return v
		}
		st := states[group]
		v := view{hv: historyVisibility(byID[st[keyHistory]])}
		if mEv := byID[st[keyMember]]; mEv != nil {
			v.membership = contentString(mEv.Content, "membership")
		}
		views[group] = v
		return v
	}
	type join struct {
		at    core.TopologicalToken
		found bool
	}
	lastJoin := map[string]join{}
	joinedAfter := func(e *Event) (bool, error) {
		j, ok := lastJoin[e.Stored.RoomID]
		if !ok {
			at, err := p.stores.State.LastJoin(ctx, e.Stored.RoomID, userID)
			switch {
			case err == nil:
				j = join{at, true}
			case !errors.Is(err, core.ErrNotFound):
				return false, err
			}
			lastJoin[e.Stored.RoomID] = j
		}
		return j.found && (core.TopologicalToken{Depth: e.Stored.Depth, Stream: e.Stored.StreamOrdering}).Less(j.at), nil
	}
	// A join of the user's among evs is before their latest join (or is
	// it): the create event before it was followed by a join of theirs.
	joinSeen := map[string]core.TopologicalToken{}
	for _, e := range evs {
		if ownMembershipShown(e, userID) && e.Stored.StateGroup != 0 && e.Stored.Rejected == "" && !e.Stored.SoftFailed &&
			contentString(e.PDU.Content, "membership") == eventauth.MembershipJoin {
			at := core.TopologicalToken{Depth: e.Stored.Depth, Stream: e.Stored.StreamOrdering}
			if j, ok := joinSeen[e.Stored.RoomID]; !ok || j.Less(at) {
				joinSeen[e.Stored.RoomID] = at
			}
		}
	}
	createJoinedAfter := func(e *Event) bool {
		j, ok := joinSeen[e.Stored.RoomID]
		return ok && stateKnownWithout(e) && (core.TopologicalToken{Depth: e.Stored.Depth, Stream: e.Stored.StreamOrdering}).Less(j)
	}
	// The rooms where the user's latest join may matter (see visibleAt)
	// have it read in one go.
	var rooms []string
	for _, e := range evs {
		if e.Stored.StateGroup == 0 || sentByViewer(e, userID) || ownMembershipShown(e, userID) {
			continue
		}
		v := viewAt(e)
		hvEvent := e.PDU.Type == keyHistory.Type && e.PDU.StateKey != nil && *e.PDU.StateKey == ""
		if createJoinedAfter(e) {
			continue
		}
		if _, ok := lastJoin[e.Stored.RoomID]; !ok && (hvEvent || v.hv == HistoryShared && v.membership != eventauth.MembershipJoin) {
			lastJoin[e.Stored.RoomID] = join{}
			rooms = append(rooms, e.Stored.RoomID)
		}
	}
	if len(rooms) > 0 {
		joins, err := p.stores.State.LastJoins(ctx, rooms, userID)
		if err != nil {
			return nil, err
		}
		for id, at := range joins {
			lastJoin[id] = join{at, true}
		}
	}
	// visibleAt applies HistoryVisible to e with the view v; whether the
	// user joined after e matters only under shared visibility to a user
	// who was not joined then, so their latest join is read only for
	// those.
	visibleAt := func(e *Event, v view) (bool, error) {
		joined := false
		if v.hv == HistoryShared && v.membership != eventauth.MembershipJoin {
			if createJoinedAfter(e) {
				return HistoryVisible(v.hv, v.membership, true), nil
			}
			var err error
			if joined, err = joinedAfter(e); err != nil {
				return false, err
			}
		}
		return HistoryVisible(v.hv, v.membership, joined), nil
	}
	out := make([]*Event, 0, len(evs))
	for _, e := range evs {
		if e.Stored.StateGroup == 0 {
			continue
		}
		if sentByViewer(e, userID) {
			out = append(out, e)
			continue
		}
		// A user always sees their own membership events: the leave
		// that rejects an invite, or a kick or ban, must reach them.
		own := ownMembership(e, userID)
		if own && sentByViewerEnabled {
			out = append(out, e) // whatever the state at it
			continue
		}
		after := viewAt(e)
		visible := own
		if !visible {
			var err error
			if visible, err = visibleAt(e, after); err != nil {
				return nil, err
			}
		}
		if !visible && e.PDU.StateKey != nil && e.PDU.Type == keyHistory.Type && *e.PDU.StateKey == "" {
			// The state before: the history visibility this event
			// replaced.
			before := after
			var prev *pdu.PDU
			if prevID := ParseMetadata(e.Stored.InternalMetadata).ReplacesState; prevID != "" {
				prev = byID[prevID]
			}
			before.hv = historyVisibility(prev)
			var err error
			if visible, err = visibleAt(e, before); err != nil {
				return nil, err
			}
		}
		if visible {
			out = append(out, e)
		}
	}
	return out, nil
}

// sentByViewer reports whether e is an event userID sent that the auth
// rules admitted only while userID was joined: any event but the create
// event and userID's own membership events (a join, knock or leave of
// their own needs no join before it; FilterVisible shows those anyway),
// neither rejected nor soft-failed. An invite, kick or ban of another
// user needs the sender joined, like any other event. A non-membership
// event leaves the sender's membership as it was, so in the state after e
// (its state group) userID's membership is join too.
func sentByViewer(e *Event, userID string) bool {
	if !sentByViewerEnabled || e.PDU.Sender != userID || e.Stored.Rejected != "" || e.Stored.SoftFailed {
		return false
	}
	switch e.PDU.Type {
	case eventauth.TypeCreate:
		return false
	case eventauth.TypeMember:
		return e.PDU.StateKey != nil && *e.PDU.StateKey != userID
	}
	return true
}

// ownMembership reports whether e is a membership event of userID's own
// (whoever sent it): FilterVisible shows those whatever the state.
func ownMembership(e *Event, userID string) bool {
	return e.PDU.Type == eventauth.TypeMember && e.PDU.StateKey != nil && *e.PDU.StateKey == userID
}

// ownMembershipShown reports whether FilterVisible shows e, userID's own
// membership event, without a look at the state at it.
func ownMembershipShown(e *Event, userID string) bool {
	return sentByViewerEnabled && ownMembership(e, userID)
}

// stateKnownWithout reports whether the two state entries FilterVisible
// reads at e are known without reading them: e is the create event, after
// which the room's state is that event alone (neither rejected nor
// soft-failed: the first event of the room's DAG, which every other
// names).
func stateKnownWithout(e *Event) bool {
	return sentByViewerEnabled && e.PDU.Type == eventauth.TypeCreate && e.PDU.StateKey != nil && *e.PDU.StateKey == "" &&
		e.Stored.Rejected == "" && !e.Stored.SoftFailed
}

// needsState reports whether FilterVisible reads the state at e: an event
// of the room's DAG that is neither sent by userID (sentByViewer) nor
// userID's own membership nor the create event.
func needsState(e *Event, userID string) bool {
	return e.Stored.StateGroup != 0 && !sentByViewer(e, userID) && !ownMembershipShown(e, userID) && !stateKnownWithout(e)
}

// sentByViewerEnabled lets the tests compare FilterVisible with and
// without its shortcuts (sentByViewer, ownMembershipShown,
// stateKnownWithout).
var sentByViewerEnabled = true
