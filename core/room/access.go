package room

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

// Access is what a user may read of a room's state.
type Access struct {
	// Membership is the user's membership ("" for none).
	Membership string
	// AtEvent is "" when the user reads the current state, or the
	// membership event (their leave or ban) at whose state their view of
	// the room stops.
	AtEvent string
}

// Access returns what userID may read of roomID, as GET /state and
// /members describe it: the current state when they are joined (or the
// room's history is world_readable), the state when they left when they
// left or were banned and have not forgotten the room. Otherwise, and for
// a room the server does not know, it returns M_FORBIDDEN.
func (p *Pipeline) Access(ctx context.Context, roomID, userID string) (Access, error) {
	if _, err := p.Version(ctx, roomID); err != nil {
		return Access{}, forbiddenIfUnknown(err, roomID)
	}
	m, err := p.membershipOf(ctx, roomID, userID)
	if err != nil {
		return Access{}, err
	}
	a := Access{Membership: m.Membership}
	switch m.Membership {
	case eventauth.MembershipJoin:
		return a, nil
	case eventauth.MembershipLeave, eventauth.MembershipBan:
		forgotten, err := p.Forgotten(ctx, roomID, userID)
		if err != nil {
			return Access{}, err
		}
		if !forgotten {
			// The state at their leave, if that event is in the room's DAG
			// (a rejected remote invite is not).
			if _, err := p.stores.Groups.StateGroupOf(ctx, m.EventID); err == nil {
				a.AtEvent = m.EventID
				return a, nil
			} else if !errors.Is(err, core.ErrNotFound) {
				return Access{}, err
			}
		}
	}
	hv, err := p.currentHistoryVisibility(ctx, roomID)
	if err != nil {
		return Access{}, err
	}
	if hv == HistoryWorldReadable {
		a.AtEvent = ""
		return a, nil
	}
	return Access{}, notInRoom(roomID)
}

// State returns the part of roomID's state selected by filter that a user
// with access a reads.
func (p *Pipeline) State(ctx context.Context, roomID string, a Access, filter core.StateFilter) (core.StateMap, error) {
	if a.AtEvent != "" {
		return p.stores.Groups.StateAtEvent(ctx, a.AtEvent, filter)
	}
	return p.stores.State.CurrentState(ctx, roomID, filter)
}

// StateAtStream returns the part of roomID's state selected by filter as
// it was after the room's last event at or before the stream position
// stream (for a user with access a, never past the point where their view
// stops).
func (p *Pipeline) StateAtStream(ctx context.Context, roomID string, a Access, stream int64, filter core.StateFilter) (core.StateMap, error) {
	if a.AtEvent != "" {
		at, err := p.stores.Events.Event(ctx, a.AtEvent)
		if err != nil {
			return nil, err
		}
		if at.StreamOrdering <= stream {
			return p.stores.Groups.StateAtEvent(ctx, a.AtEvent, filter)
		}
	}
	evs, err := p.stores.Timeline.RoomEventsStream(ctx, []string{roomID}, 0, stream, core.Backward, 1)
	if err != nil {
		return nil, err
	}
	if len(evs[roomID]) == 0 {
		return core.StateMap{}, nil
	}
	return p.stores.Groups.StateAt(ctx, evs[roomID][0].StateGroup, filter)
}

// StateEvents returns the events of a state map, in no particular order.
// Events the map names but storage does not hold are left out.
func (p *Pipeline) StateEvents(ctx context.Context, state core.StateMap) ([]*Event, error) {
	ids := make([]string, 0, len(state))
	for _, id := range state {
		ids = append(ids, id)
	}
	m, err := p.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*Event, 0, len(m))
	for _, id := range ids {
		if e := m[id]; e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// currentHistoryVisibility returns the room's history visibility now.
func (p *Pipeline) currentHistoryVisibility(ctx context.Context, roomID string) (string, error) {
	st, err := p.stores.State.CurrentState(ctx, roomID, core.StateKeys(keyHistory))
	if err != nil {
		return "", err
	}
	id := st[keyHistory]
	if id == "" {
		return HistoryShared, nil
	}
	evs, err := p.pdus(ctx, []string{id})
	if err != nil || evs[id] == nil {
		return HistoryShared, err
	}
	return historyVisibility(evs[id]), nil
}

// powerEvents returns roomID's current m.room.power_levels and
// m.room.create events (nil when absent).
func (p *Pipeline) powerEvents(ctx context.Context, roomID string) (pl, create *pdu.PDU, err error) {
	st, err := p.stores.State.CurrentState(ctx, roomID, core.StateKeys(keyPowerLevels, keyCreate))
	if err != nil {
		return nil, nil, err
	}
	return p.pair(ctx, st[keyPowerLevels], st[keyCreate])
}

// pair fetches two events by ID ("" gives nil).
func (p *Pipeline) pair(ctx context.Context, a, b string) (*pdu.PDU, *pdu.PDU, error) {
	var ids []string
	for _, id := range []string{a, b} {
		if id != "" {
			ids = append(ids, id)
		}
	}
	evs, err := p.pdus(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	return evs[a], evs[b], nil
}

// plLevel reads content[key] of a power levels event as a level (an
// integer, or a string holding one as old room versions allow), def when
// absent or invalid.
func plLevel(content json.RawMessage, key string, def int64) int64 {
	var m map[string]json.RawMessage
	if json.Unmarshal(content, &m) != nil {
		return def
	}
	return levelValue(m[key], def)
}

func levelValue(raw json.RawMessage, def int64) int64 {
	var n int64
	if json.Unmarshal(raw, &n) == nil {
		return n
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return def
}

// requiredLevel returns the power level needed to send an event of type
// typ, given power levels content.
func requiredLevel(content json.RawMessage, typ string, isState bool) int64 {
	var m struct {
		Events map[string]json.RawMessage `json:"events"`
	}
	_ = json.Unmarshal(content, &m)
	if raw, ok := m.Events[typ]; ok {
		if n := levelValue(raw, -1<<62); n != -1<<62 {
			return n
		}
	}
	if isState {
		return plLevel(content, "state_default", 50)
	}
	return plLevel(content, "events_default", 0)
}
