package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// The resident side of remote joins and leaves (server-server API,
// "Joining Rooms" and "Leaving Rooms"): make_join/make_leave give a
// template of the member event for the remote server to sign, and
// send_join/send_leave take the signed event in.

// MakeMembership returns the room version and the template of userID's
// m.room.member event with the given membership ("join" or "leave") in
// roomID, after the room's forward extremities, for origin (userID's
// server) to fill in and sign. versions are the room versions origin
// supports (make_join's and make_knock's ver; nil for make_leave, which
// needs none). membership may also be "knock".
//
// It returns a *core.Error: M_NOT_FOUND for a room the server is not in,
// M_FORBIDDEN when userID is not origin's or the auth rules would refuse
// the event, M_INCOMPATIBLE_ROOM_VERSION (with room_version) when origin
// does not support the room's version.
func (f *Federation) MakeMembership(ctx context.Context, origin, roomID, userID, membership string, versions []string) (string, json.RawMessage, error) {
	p := f.p
	if err := checkRemoteUser(origin, userID); err != nil {
		return "", nil, err
	}
	v, err := p.Version(ctx, roomID)
	if errors.Is(err, core.ErrNotFound) {
		return "", nil, core.ErrNotFound.WithMessage("this server is not in room %s", roomID)
	}
	if err != nil {
		return "", nil, err
	}
	if err := f.checkACL(ctx, origin, roomID); err != nil {
		return "", nil, err
	}
	if versions != nil && !slices.Contains(versions, string(v.ID)) {
		return "", nil, core.ErrIncompatibleRoomVer.WithMessage("room %s has version %s, which your server does not support", roomID, v.ID).
			WithExtra("room_version", string(v.ID))
	}
	c := map[string]string{"membership": membership}
	if membership == eventauth.MembershipJoin {
		// A restricted join: this server vouches for it by naming one of
		// its members who may invite; send_join countersigns it.
		authoriser, err := p.JoinAuthoriser(ctx, roomID, userID)
		if err != nil {
			return "", nil, err
		}
		if authoriser != "" {
			c["join_authorised_via_users_server"] = authoriser
		}
	}
	content, _ := json.Marshal(c)
	sk := userID
	pr := Proto{Type: eventauth.TypeMember, StateKey: &sk, Sender: userID, Content: content}
	if err := checkProto(v, &pr); err != nil {
		return "", nil, err
	}
	unlock := p.lockRoom(roomID)
	defer unlock()
	t, err := p.loadTip(ctx, roomID, v)
	if err != nil {
		return "", nil, err
	}
	prevs, err := p.tipPrevs(ctx, t)
	if err != nil {
		return "", nil, err
	}
	if err := t.load(ctx, p, neededKeys(v, roomID, &pr)); err != nil {
		return "", nil, err
	}
	state := t.authEvents(ctx, p)
	ev, err := p.place(v, roomID, pr, prevs, state)
	if err != nil {
		return "", nil, err
	}
	// The auth rules, as far as they can be judged without the joining
	// server's signature: a join to an invite-only room without an invite
	// is refused here rather than at send_join.
	// A restricted join's authoriser is this server's user, and send_join
	// adds this server's signature.
	self := &eventauth.Options{SignedBy: func(_ *pdu.PDU, server string) bool { return server == p.cfg.ServerName }}
	if err := eventauth.Authorize(v, ev, state, self); err != nil {
		return "", nil, buildError(err)
	}
	js, err := ev.MarshalFor(v)
	if err != nil {
		return "", nil, err
	}
	if v.EventFormat == roomversion.FormatV1 {
		// event_id is the joining server's to make.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(js, &m); err != nil {
			return "", nil, err
		}
		delete(m, "event_id")
		if js, err = json.Marshal(m); err != nil {
			return "", nil, err
		}
	}
	return string(v.ID), js, nil
}

// tipPrevs returns the events a new event after t references: the
// deepest forward extremities, at most maxPrevEvents.
func (p *Pipeline) tipPrevs(ctx context.Context, t *tip) ([]*pdu.PDU, error) {
	refs := t.exts[:min(len(t.exts), maxPrevEvents)]
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.EventID
	}
	got, err := p.pdus(ctx, ids)
	if err != nil {
		return nil, err
	}
	prevs := make([]*pdu.PDU, len(ids))
	for i, id := range ids {
		if prevs[i] = got[id]; prevs[i] == nil {
			return nil, fmt.Errorf("room: forward extremity %s is not stored", id)
		}
	}
	return prevs, nil
}

// checkRemoteUser refuses a user ID that is not origin's.
func checkRemoteUser(origin, userID string) error {
	u, err := id.ParseUserID(userID)
	if err != nil {
		return core.ErrInvalidParam.WithMessage("%q is not a user ID", userID)
	}
	if string(u.ServerName()) != origin {
		return core.ErrForbidden.WithMessage("%s is not a user of %s", userID, origin)
	}
	return nil
}

// SendMembership takes in the m.room.member event raw (eventID in roomID)
// that origin signed from a make_join or make_leave template: it checks
// that it is origin's user's own membership change to membership, checks
// its format, signatures and hash, and persists it through the checks of
// receipt (the auth rules against the state before it and the current
// state). For a join it returns the state before the event and the auth
// chain of that state and of the event (send_join's answer); for a knock,
// the room's stripped state in State (send_knock's answer); for a leave,
// nil.
//
// It returns a *core.Error: M_NOT_FOUND for a room the server is not in,
// M_BAD_JSON for an event that is not what it should be, M_FORBIDDEN when
// the event is not origin's user's or fails the auth rules.
func (f *Federation) SendMembership(ctx context.Context, origin, roomID, eventID, membership string, raw json.RawMessage) (*core.SendJoinResponse, error) {
	p := f.p
	v, err := p.Version(ctx, roomID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, core.ErrNotFound.WithMessage("this server is not in room %s", roomID)
	}
	if err != nil {
		return nil, err
	}
	if err := f.checkACL(ctx, origin, roomID); err != nil {
		return nil, err
	}
	var countersigned json.RawMessage
	if membership == eventauth.MembershipJoin && v.Restricted {
		if raw, err = f.countersignJoin(v, raw); err != nil {
			return nil, err
		}
		countersigned = raw
	}
	in, err := f.checkIn(ctx, v, raw)
	if err != nil {
		if errors.Is(err, ErrPDUInvalid) || errors.Is(err, ErrPDUSignature) {
			return nil, core.ErrBadJSON.WithMessage("%v", err)
		}
		return nil, err
	}
	ev := in.ev
	var c struct {
		Membership string `json:"membership"`
	}
	json.Unmarshal(ev.Content, &c)
	switch {
	case ev.RoomID != roomID || ev.EventID != eventID:
		return nil, core.ErrBadJSON.WithMessage("the event is not %s in %s", eventID, roomID)
	case ev.Type != eventauth.TypeMember || ev.StateKey == nil || *ev.StateKey != ev.Sender:
		return nil, core.ErrBadJSON.WithMessage("the event is not a user's own m.room.member event")
	case c.Membership != membership:
		return nil, core.ErrBadJSON.WithMessage("the event's membership is %q, not %q", c.Membership, membership)
	}
	if err := checkRemoteUser(origin, ev.Sender); err != nil {
		return nil, err
	}
	unlock := p.lockRoom(roomID)
	var stateBefore core.StateMap
	if membership == eventauth.MembershipJoin {
		if stateBefore, err = p.resolveAt(ctx, v, ev.PrevEvents); err != nil {
			unlock()
			if errors.Is(err, core.ErrNotFound) {
				return nil, core.ErrBadJSON.WithMessage("the event's prev_events are not events of this server")
			}
			return nil, err
		}
	}
	err = f.receiveLocked(ctx, origin, in)
	unlock()
	p.notify()
	switch {
	case errors.Is(err, ErrPDURejected), errors.Is(err, ErrPDUSoftFailed):
		return nil, core.ErrForbidden.WithMessage("%v", err)
	case err != nil:
		return nil, err
	}
	switch membership {
	case eventauth.MembershipJoin:
		resp, err := f.joinAnswer(ctx, ev, stateBefore)
		if err == nil {
			resp.Event = countersigned
		}
		return resp, err
	case eventauth.MembershipKnock:
		// send_knock's answer: the room's stripped state, in State.
		st, err := f.strippedState(ctx, roomID)
		if err != nil {
			return nil, err
		}
		return &core.SendJoinResponse{State: st}, nil
	}
	return nil, nil
}

// joinAnswer is send_join's answer: the events of stateBefore and the auth
// chain of them and of the join event ev.
func (f *Federation) joinAnswer(ctx context.Context, ev *pdu.PDU, stateBefore core.StateMap) (*core.SendJoinResponse, error) {
	p := f.p
	stateIDs := make([]string, 0, len(stateBefore))
	for _, id := range stateBefore {
		stateIDs = append(stateIDs, id)
	}
	state, err := p.stores.Events.Events(ctx, stateIDs)
	if err != nil {
		return nil, err
	}
	resp := &core.SendJoinResponse{State: make([]json.RawMessage, 0, len(stateIDs)), AuthChain: []json.RawMessage{},
		Origin: p.cfg.ServerName}
	slices.Sort(stateIDs)
	for _, id := range stateIDs {
		se := state[id]
		if se == nil {
			return nil, fmt.Errorf("room: state event %s is not stored", id)
		}
		resp.State = append(resp.State, se.JSON)
	}
	// The auth chain: every event reachable through auth_events from the
	// state and the join.
	chain, err := p.authChainEvents(ctx, stateIDs, ev.AuthEvents)
	if err != nil {
		return nil, err
	}
	for _, se := range chain {
		resp.AuthChain = append(resp.AuthChain, se.JSON)
	}
	return resp, nil
}

// checkACL answers M_FORBIDDEN when roomID's server ACL denies origin
// (server-server API, "Server Access Control Lists": make_join, send_join,
// make_leave, send_leave and invite are refused to a denied server).
func (f *Federation) checkACL(ctx context.Context, origin, roomID string) error {
	if err := f.aclAllows(ctx, origin, roomID); err != nil {
		if errors.Is(err, errACLDenied) {
			return errACLDenied
		}
		if !errors.Is(err, core.ErrNotFound) {
			return err
		}
	}
	return nil
}
