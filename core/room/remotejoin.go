package room

import (
	"context"
	"encoding/json"
	"errors"
	"maps"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// StoreSendJoin takes in the answer of a resident server (origin) to PUT
// /send_join for the join event join (federation JSON, signed by this
// server) in a room of version version: it records the room, checks the
// events of the room state and of the auth chain (signatures, hashes, auth
// rules against their own auth events) and stores them as outliers, makes
// a state group from the state, checks the join against it and persists
// the join as the room's forward extremity, with the room's current state
// after it. The join's prev_events become backward extremities, where
// backfill starts. It returns the join's event ID. It consumes resp: its
// State and AuthChain are dropped once checked.
//
// It returns a *core.Error: M_UNSUPPORTED_ROOM_VERSION for a version the
// server does not know, M_BAD_JSON for a join event that does not parse or
// a state without an m.room.create of the room, M_FORBIDDEN when the join
// fails the auth rules against that state.
func (f *Federation) StoreSendJoin(ctx context.Context, origin string, version string, join []byte, resp *core.SendJoinResponse) (string, error) {
	v, err := roomversion.Lookup(roomversion.ID(version))
	if err != nil {
		return "", core.ErrUnsupportedRoomVers.WithMessage("room version %q: %v", version, err)
	}
	sent, err := pdu.Parse(v, join)
	if err != nil {
		return "", core.ErrBadJSON.WithMessage("join event: %v", err)
	}
	j := f.newJoinIntake(ctx, v, roomIDOf(v, sent))
	j.add(resp.AuthChain, false)
	j.add(resp.State, true)
	// The checked events hold their own copies: the answer's bytes go, so
	// a large room's state is not held twice.
	resp.State, resp.AuthChain = nil, nil
	j.event = resp.Event
	return f.finishJoin(ctx, origin, join, j)
}

// finishJoin is StoreSendJoin once the answer's events are taken in by j.
func (f *Federation) finishJoin(ctx context.Context, origin string, join []byte, j *joinIntake) (string, error) {
	v := j.v
	raw := join
	if len(j.event) > 0 {
		// Countersigned by the resident server (restricted join): it must
		// be the event this server sent, with signatures added.
		sent, err := pdu.Parse(v, join)
		if err != nil {
			return "", core.ErrBadJSON.WithMessage("join event: %v", err)
		}
		got, err := pdu.Parse(v, j.event)
		if err != nil {
			return "", core.ErrBadJSON.WithMessage("the join event answered by %s: %v", origin, err)
		}
		if got.EventID != sent.EventID {
			return "", core.ErrBadJSON.WithMessage("the join event %s answered by %s is not %s, the one sent", got.EventID, origin, sent.EventID)
		}
		raw = j.event
	}
	in, err := f.checkIn(ctx, v, raw)
	if err != nil {
		return "", core.ErrBadJSON.WithMessage("join event: %v", err)
	}
	ev := in.ev
	if ev.Type != eventauth.TypeMember || ev.StateKey == nil || !f.p.isLocal(*ev.StateKey) || in.roomID != j.roomID {
		return "", core.ErrBadJSON.WithMessage("the join event is not a local user's m.room.member event")
	}
	roomID := j.roomID
	create, err := j.finish(origin)
	if err != nil {
		return "", err
	}
	// The outliers are stored, and the join's auth events fetched if some
	// are not among them, before the room's lock is taken: storing an
	// outlier changes nothing another writer of the room reads.
	if err := f.ensureAuthEvents(ctx, origin, in); err != nil {
		return "", err
	}
	unlock := f.p.lockRoom(roomID)
	defer unlock()
	stateIDs := j.stateIDs
	// The state before the join: the accepted state events the resident
	// server listed.
	evs, err := f.p.pdus(ctx, stateIDs)
	if err != nil {
		return "", err
	}
	state := core.StateMap{}
	for _, id := range stateIDs {
		e := evs[id]
		if e == nil || e.StateKey == nil || e.Internal.Rejected != "" {
			continue
		}
		state[core.StateKey{Type: e.Type, StateKey: *e.StateKey}] = id
	}
	if state[keyCreate] != create.EventID {
		return "", core.ErrBadJSON.WithMessage("the room state from %s does not hold its m.room.create", origin)
	}
	if err := eventauth.AuthorizeByAuthEvents(v, ev, f.p.pduFunc(ctx), nil); err != nil {
		return "", joinAuthError(err)
	}
	b := &before{full: state}
	if err := eventauth.Authorize(v, ev, f.lookupIn(ctx, b), nil); err != nil {
		return "", joinAuthError(err)
	}
	after := maps.Clone(state)
	after[core.StateKey{Type: ev.Type, StateKey: *ev.StateKey}] = ev.EventID
	meta := Metadata{ReplacesState: state[core.StateKey{Type: ev.Type, StateKey: *ev.StateKey}]}
	ne := newEvent(v, ev, in.js, meta, f.p.now())
	ne.NewStateGroup = &core.StateGroupDelta{Changes: after}
	old, err := f.p.stores.State.CurrentState(ctx, roomID, core.AllState)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return "", err
	}
	opts := core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: roomID, Changes: diffState(old, after)}}}
	if _, err := f.p.stores.Events.PersistEvents(ctx, []core.NewEvent{ne}, opts); err != nil {
		f.p.setTip(roomID, nil)
		return "", err
	}
	f.p.cache.put(ev)
	f.p.setTip(roomID, nil)
	f.p.notify()
	return ev.EventID, nil
}

func joinAuthError(err error) error {
	if errors.Is(err, eventauth.ErrUnauthorized) {
		return core.ErrForbidden.WithMessage("the join is not allowed by the room state: %v", err)
	}
	return err
}

func orDefault(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

func unmarshalContent(e *pdu.PDU, out any) error {
	return json.Unmarshal(e.Content, out)
}
