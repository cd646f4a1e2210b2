package clientsync

// The rooms.leave, rooms.invite and rooms.knock sections: rooms the user is
// not joined to.

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"hearth.dev/hearth/core"
)

// leftRoom fills rooms.leave for a room left (or banned from) since the
// last sync: the timeline up to the leave event.
func (r *syncRun) leftRoom(ctx context.Context, m core.RoomMembership) error {
	ev, err := r.s.stores.Events.Event(ctx, m.EventID)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}
	lr := &LeftRoom{AccountData: EventList{Events: []Event{}}}
	if ev == nil || ev.Outlier {
		// A rejected invite or a remote kick before joining: no timeline.
		lr.Timeline = Timeline{Events: []*ClientEvent{}}
		if ev != nil {
			ces, err := r.formatter().formatAll(ctx, []*core.StoredEvent{ev})
			if err != nil {
				return err
			}
			lr.Timeline.Events = ces
		}
		lr.State = &RoomEvents{Events: []*ClientEvent{}}
		r.resp.Rooms.Leave[m.RoomID] = lr
		return nil
	}
	from := r.since.Events
	full := r.initial() || r.req.FullState
	if full {
		from = minStream
	}
	evs, limited, err := r.timeline(ctx, m.RoomID, from, m.StreamOrdering)
	if err != nil {
		return err
	}
	sec, err := r.roomSection(ctx, m.RoomID, evs, limited, full, m.StreamOrdering, nil)
	if err != nil {
		return err
	}
	lr.Timeline, lr.State, lr.StateAfter = sec.timeline, sec.state, sec.stateAfter
	if r.req.UseStateAfter && lr.StateAfter == nil {
		lr.StateAfter = &RoomEvents{Events: []*ClientEvent{}}
	}
	r.resp.Rooms.Leave[m.RoomID] = lr
	if !r.initial() {
		if err := r.roomMembers(ctx, m.RoomID, r.leftMembers); err != nil {
			return err
		}
	}
	return nil
}

// strippedKeys are the state events stripped state carries.
var strippedKeys = core.StateKeys(
	core.StateKey{Type: "m.room.create"}, core.StateKey{Type: "m.room.name"},
	core.StateKey{Type: "m.room.avatar"}, core.StateKey{Type: "m.room.topic"},
	core.StateKey{Type: "m.room.join_rules"}, core.StateKey{Type: "m.room.canonical_alias"},
	core.StateKey{Type: "m.room.encryption"},
)

// strippedState returns the stripped state of an invite or knock: the
// room state the membership event carries in unsigned, else the room's
// current state as the server knows it, and the membership event itself.
func (r *syncRun) strippedState(ctx context.Context, m core.RoomMembership, unsignedKey string) ([]StrippedEvent, *core.StoredEvent, error) {
	ev, err := r.s.stores.Events.Event(ctx, m.EventID)
	if err != nil {
		return nil, nil, err
	}
	var out []StrippedEvent
	var carried struct {
		Unsigned map[string]json.RawMessage `json:"unsigned"`
	}
	_ = json.Unmarshal(ev.JSON, &carried)
	if raw := carried.Unsigned[unsignedKey]; raw != nil {
		var list []StrippedEvent
		if json.Unmarshal(raw, &list) == nil {
			for _, se := range list {
				if se.Type != "" && len(se.Content) > 0 {
					out = append(out, se)
				}
			}
		}
	}
	if out == nil {
		st, err := r.s.stores.State.CurrentState(ctx, m.RoomID, strippedKeys)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return nil, nil, err
		}
		ids := make([]string, 0, len(st))
		for _, k := range slices.SortedFunc(mapsKeys(st), compareKeys) {
			ids = append(ids, st[k])
		}
		evs, err := r.s.loadOrdered(ctx, ids)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range evs {
			out = append(out, strip(e))
		}
	}
	out = append(out, strip(ev))
	return out, ev, nil
}

func mapsKeys(m core.StateMap) func(func(core.StateKey) bool) {
	return func(yield func(core.StateKey) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// strip returns the stripped form of a state event.
func strip(ev *core.StoredEvent) StrippedEvent {
	var fe federationEvent
	_ = json.Unmarshal(ev.JSON, &fe)
	se := StrippedEvent{Content: fe.Content, Sender: ev.Sender, Type: ev.Type}
	if ev.StateKey != nil {
		se.StateKey = *ev.StateKey
	}
	if len(se.Content) == 0 {
		se.Content = json.RawMessage("{}")
	}
	return se
}

// invitedRoom fills rooms.invite for one room, unless the inviter is
// ignored.
func (r *syncRun) invitedRoom(ctx context.Context, m core.RoomMembership) error {
	st, ev, err := r.strippedState(ctx, m, "invite_room_state")
	if err != nil {
		return err
	}
	if r.ignored[ev.Sender] {
		return nil
	}
	ir := &InvitedRoom{}
	ir.InviteState.Events = st
	r.resp.Rooms.Invite[m.RoomID] = ir
	return nil
}

// knockedRoom fills rooms.knock for one room.
func (r *syncRun) knockedRoom(ctx context.Context, m core.RoomMembership) error {
	st, _, err := r.strippedState(ctx, m, "knock_room_state")
	if err != nil {
		return err
	}
	kr := &KnockedRoom{}
	kr.KnockState.Events = st
	r.resp.Rooms.Knock[m.RoomID] = kr
	return nil
}
