package room

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// intakeChunk is how many events of a send_join answer are checked and
// stored together while the answer is read.
const intakeChunk = 500

// joinIntake takes in a send_join answer while it is decoded: the events of
// its state and auth chain are checked a chunk at a time (on every
// processor) and stored as outliers as soon as their auth events are,
// so the answer is read once and never held whole beside its events. An
// event whose auth events have not come yet waits for them; those still
// missing at the end are judged as acceptOutliers does. Nothing is stored
// before the room's m.room.create has come and matched the room.
type joinIntake struct {
	f      *Federation
	ctx    context.Context
	v      *roomversion.Version
	roomID string

	event          json.RawMessage // the answer's event (restricted joins)
	membersOmitted bool

	stateIDs []string // the answer's state, in order
	create   *pdu.PDU // the state's m.room.create, once it came
	badState error    // why the state's m.room.create does not do
	held     map[string]*incoming
	known    map[string]bool // stored here, or found stored
	err      error           // what stopped the intake (not the answer's JSON)
	stored   bool            // the room is recorded
}

var (
	_ core.StreamDecoder = (*joinIntake)(nil)
	_ json.Unmarshaler   = (*joinIntake)(nil)
)

func (f *Federation) newJoinIntake(ctx context.Context, v *roomversion.Version, roomID string) *joinIntake {
	return &joinIntake{f: f, ctx: ctx, v: v, roomID: roomID, held: map[string]*incoming{}, known: map[string]bool{}}
}

// DecodeStream reads a send_join (v2) answer from dec, taking its events
// in a chunk at a time.
func (j *joinIntake) DecodeStream(dec *json.Decoder) error {
	if err := expectToken(dec, json.Delim('{')); err != nil {
		return err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case "state", "auth_chain":
			err = j.decodeEvents(dec, t == "state")
		case "event":
			err = dec.Decode(&j.event)
		case "members_omitted":
			err = dec.Decode(&j.membersOmitted)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return err
		}
		if j.err != nil {
			return j.err
		}
	}
	return expectToken(dec, json.Delim('}'))
}

// UnmarshalJSON is DecodeStream for a client that reads the answer whole.
func (j *joinIntake) UnmarshalJSON(data []byte) error {
	return j.DecodeStream(json.NewDecoder(bytes.NewReader(data)))
}

func (j *joinIntake) decodeEvents(dec *json.Decoder, state bool) error {
	t, err := dec.Token()
	if err != nil || t == nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("want an array, got %v", t)
	}
	chunk := make([]json.RawMessage, 0, intakeChunk)
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if chunk = append(chunk, raw); len(chunk) == intakeChunk {
			j.add(chunk, state)
			chunk = make([]json.RawMessage, 0, intakeChunk)
		}
	}
	j.add(chunk, state)
	return expectToken(dec, json.Delim(']'))
}

func expectToken(dec *json.Decoder, want json.Token) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != want {
		return fmt.Errorf("want %v, got %v", want, t)
	}
	return nil
}

// add checks raws (of the state when state is set) and stores what can
// be stored.
func (j *joinIntake) add(raws []json.RawMessage, state bool) {
	if j.err != nil || len(raws) == 0 {
		return
	}
	for _, in := range j.f.checkAll(j.ctx, j.v, j.roomID, raws) {
		id := in.ev.EventID
		if state {
			j.stateIDs = append(j.stateIDs, id)
			if in.ev.Type == eventauth.TypeCreate && in.ev.StateKey != nil && *in.ev.StateKey == "" && j.create == nil {
				j.takeCreate(in.ev)
			}
		}
		if !j.known[id] {
			j.held[id] = in
		}
	}
	j.err = j.drain(false)
}

// takeCreate checks the state's m.room.create against the room and, when
// it matches, records the room so that events can be stored.
func (j *joinIntake) takeCreate(create *pdu.PDU) {
	j.create = create
	if got, err := create.RoomIDFor(j.v); err != nil || got != j.roomID {
		j.badState = core.ErrBadJSON.WithMessage("the m.room.create of the room state is not room %s's", j.roomID)
		return
	}
	var cc struct {
		RoomVersion *string `json:"room_version"`
	}
	if err := unmarshalContent(create, &cc); err == nil && roomversion.ID(orDefault(cc.RoomVersion, "1")) != j.v.ID {
		j.badState = core.ErrBadJSON.WithMessage("room %s is version %s, not %s", j.roomID, orDefault(cc.RoomVersion, "1"), j.v.ID)
		return
	}
	if err := j.f.p.stores.Rooms.StoreRoom(j.ctx, core.RoomInfo{RoomID: j.roomID, RoomVersion: string(j.v.ID), Creator: create.Sender}); err != nil {
		j.err = err
		return
	}
	j.f.p.mu.Lock()
	j.f.p.setVersionLocked(j.roomID, j.v)
	j.f.p.mu.Unlock()
	j.stored = true
}

// drain stores the held events whose auth events are all stored or held
// (all of them when final, as acceptOutliers judges them).
func (j *joinIntake) drain(final bool) error {
	if !j.stored || len(j.held) == 0 {
		return nil
	}
	var ready []*incoming
	if final {
		for _, in := range j.held {
			ready = append(ready, in)
		}
	} else {
		var unknown []string
		for _, in := range j.held {
			for _, a := range in.ev.AuthEvents {
				if !j.known[a] && j.held[a] == nil {
					unknown = append(unknown, a)
				}
			}
		}
		if len(unknown) > 0 {
			stored, err := j.f.p.stores.Events.Events(j.ctx, unknown)
			if err != nil {
				return err
			}
			for id := range stored {
				j.known[id] = true
			}
		}
		// authOrder puts auth events first: an event is ready when each
		// of its auth events is stored or ready before it.
		ok := map[string]bool{}
		for _, in := range authOrder(j.held) {
			good := true
			for _, a := range in.ev.AuthEvents {
				if !j.known[a] && !ok[a] {
					good = false
					break
				}
			}
			if good {
				ok[in.ev.EventID] = true
				ready = append(ready, in)
			}
		}
	}
	if len(ready) == 0 {
		return nil
	}
	if err := j.f.acceptOutliers(j.ctx, ready); err != nil {
		return err
	}
	for _, in := range ready {
		j.known[in.ev.EventID] = true
		delete(j.held, in.ev.EventID)
	}
	return nil
}

// finish stores what is still held and returns the state's m.room.create,
// or why the answer cannot be used.
func (j *joinIntake) finish(origin string) (*pdu.PDU, error) {
	if j.err != nil {
		return nil, j.err
	}
	switch {
	case j.badState != nil:
		return nil, j.badState
	case j.create == nil:
		return nil, core.ErrBadJSON.WithMessage("the room state from %s has no valid m.room.create", origin)
	}
	if err := j.drain(true); err != nil {
		return nil, err
	}
	return j.create, nil
}
