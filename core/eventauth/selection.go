package eventauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// AuthEventsNeeded returns the state keys the auth events selection
// (server-server API, "Auth events selection") picks for ev in room version
// v, in this order: the create event (not in room version 12, where the
// room ID names it), the power levels, the sender's membership, and for a
// membership event the target's membership, the join rules (join, invite,
// knock), the third-party invite named by the signed token (invite), and
// the authorising user's membership (restricted join). An m.room.create
// event needs none.
func AuthEventsNeeded(v *roomversion.Version, ev *pdu.PDU) []StateKey {
	if ev.Type == TypeCreate {
		return nil
	}
	keys := make([]StateKey, 0, 6)
	add := func(k StateKey) {
		for _, have := range keys {
			if have == k {
				return
			}
		}
		keys = append(keys, k)
	}
	if !v.RoomIDFromCreateEvent {
		add(StateKey{TypeCreate, ""})
	}
	add(StateKey{TypePowerLevels, ""})
	add(StateKey{TypeMember, ev.Sender})
	if ev.Type != TypeMember || ev.StateKey == nil {
		return keys
	}
	add(StateKey{TypeMember, *ev.StateKey})
	var mc memberContent
	_ = json.Unmarshal(ev.Content, &mc)
	var membership string
	_ = json.Unmarshal(mc.Membership, &membership)
	switch membership {
	case MembershipJoin, MembershipInvite, MembershipKnock:
		add(StateKey{TypeJoinRules, ""})
	}
	if membership == MembershipInvite && mc.ThirdPartyInvite != nil {
		var tpi struct {
			Signed struct {
				Token json.RawMessage `json:"token"`
			} `json:"signed"`
		}
		var token string
		if json.Unmarshal(mc.ThirdPartyInvite, &tpi) == nil && json.Unmarshal(tpi.Signed.Token, &token) == nil {
			add(StateKey{TypeThirdPartyInvite, token})
		}
	}
	if membership == MembershipJoin && v.Restricted && mc.Authoriser != nil {
		var authoriser string
		if json.Unmarshal(mc.Authoriser, &authoriser) == nil {
			add(StateKey{TypeMember, authoriser})
		}
	}
	return keys
}

// SelectAuthEvents returns the auth_events for a new event ev built on
// state: the IDs of the events state holds for AuthEventsNeeded(v, ev),
// in that order, skipping keys state has no event for.
func SelectAuthEvents(v *roomversion.Version, ev *pdu.PDU, state AuthEvents) ([]string, error) {
	var ids []string
	for _, k := range AuthEventsNeeded(v, ev) {
		e, err := state(k)
		if err != nil {
			return nil, fmt.Errorf("eventauth: selecting %s: %w", k, err)
		}
		if e != nil {
			ids = append(ids, e.EventID)
		}
	}
	return ids, nil
}

// CheckAuthEvents applies the rule on an event's own auth_events (rule 2;
// rule 3 in room version 12). authEvents are the events ev.AuthEvents names,
// in the same order; a nil entry is reported as ErrAuthEventNotFound.
// Rejected entries are those with Internal.Rejected set.
func CheckAuthEvents(v *roomversion.Version, ev *pdu.PDU, authEvents []*pdu.PDU) error {
	if len(authEvents) != len(ev.AuthEvents) {
		return fmt.Errorf("eventauth: %d auth events given for %d auth_events", len(authEvents), len(ev.AuthEvents))
	}
	n := numberingFor(v)
	r := func(sub int) string { return rule(n.authEvents, sub) }
	keys := make([]StateKey, len(authEvents))
	for i, ae := range authEvents {
		if ae == nil {
			return fmt.Errorf("eventauth: %w: %s", ErrAuthEventNotFound, ev.AuthEvents[i])
		}
		if ae.StateKey == nil {
			// A non-state event has no (type, state_key) the selection could
			// choose.
			return reject(r(2), ErrUnexpectedAuthEvent, "%s is not a state event", ev.AuthEvents[i])
		}
		keys[i] = StateKey{ae.Type, *ae.StateKey}
	}
	// 2.1 If there are duplicate entries for a given type and state_key pair,
	// reject.
	seen := make(map[StateKey]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			return reject(r(1), ErrDuplicateAuthEvent, "%s", k)
		}
		seen[k] = true
	}
	// 2.2 If there are entries whose type and state_key don't match those
	// specified by the auth events selection algorithm, reject. (v12: the
	// m.room.create event must not be selected.)
	allowed := AuthEventsNeeded(v, ev)
	for i, k := range keys {
		ok := false
		for _, a := range allowed {
			if a == k {
				ok = true
				break
			}
		}
		if !ok {
			return reject(r(2), ErrUnexpectedAuthEvent, "%s is %s", ev.AuthEvents[i], k)
		}
	}
	// 2.3 If there are entries which were themselves rejected under the
	// checks performed on receipt of a PDU, reject.
	for i, ae := range authEvents {
		if ae.Internal.Rejected != "" {
			return reject(r(3), ErrRejectedAuthEvent, "%s: %s", ev.AuthEvents[i], ae.Internal.Rejected)
		}
	}
	// 2.4 (v1–v11) If there is no m.room.create event among the entries,
	// reject.
	if n.aeNoCreate != 0 && !seen[StateKey{TypeCreate, ""}] {
		return reject(r(n.aeNoCreate), ErrNoCreateEvent, "")
	}
	// 2.5 If any event in auth_events has a room_id which does not match
	// that of the event being authorised, reject.
	for i, ae := range authEvents {
		if ae.RoomID != ev.RoomID {
			return reject(r(n.aeRoomID), ErrAuthEventInOtherRoom, "%s is in %q", ev.AuthEvents[i], ae.RoomID)
		}
	}
	return nil
}

// AuthorizeByAuthEvents is check 4 on receipt of a PDU: ev passes
// CheckAuthEvents and Authorize against its own auth events. fetch returns
// an event by ID, (nil, nil) if unknown. In room version 12 the create
// event is fetched by the room ID.
func AuthorizeByAuthEvents(v *roomversion.Version, ev *pdu.PDU, fetch func(eventID string) (*pdu.PDU, error), opts *Options) error {
	if v == nil || ev == nil || fetch == nil {
		return errors.New("eventauth: AuthorizeByAuthEvents needs a room version, an event and a fetch function")
	}
	if ev.Type == TypeCreate {
		return Authorize(v, ev, StateMap{}.Lookup, opts)
	}
	// 2. (v12) The room ID must name an accepted create event; this comes
	// before the rule on auth_events.
	var create *pdu.PDU
	if v.RoomIDFromCreateEvent {
		if strings.HasPrefix(ev.RoomID, "!") {
			var err error
			if create, err = fetch("$" + ev.RoomID[1:]); err != nil {
				return fmt.Errorf("eventauth: fetching create event of %s: %w", ev.RoomID, err)
			}
		}
		n := numberingFor(v)
		if err := checkRoomCreate(&n, ev, create); err != nil {
			return err
		}
	}
	authEvents := make([]*pdu.PDU, len(ev.AuthEvents))
	for i, id := range ev.AuthEvents {
		e, err := fetch(id)
		if err != nil {
			return fmt.Errorf("eventauth: fetching auth event %s: %w", id, err)
		}
		authEvents[i] = e
	}
	if err := CheckAuthEvents(v, ev, authEvents); err != nil {
		return err
	}
	state := NewStateMap(authEvents...)
	if create != nil {
		state[StateKey{TypeCreate, ""}] = create
	}
	return Authorize(v, ev, state.Lookup, opts)
}
