package room

import (
	"context"
	"fmt"
	"maps"
	"unsafe"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/lru"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/stateres"
)

// maxPrevEvents is how many forward extremities a new event references.
const maxPrevEvents = 10

// tip is what the pipeline knows of the newest end of a room's DAG: its
// forward extremities and the state after them. A tip is read and changed
// only under the room's lock. The pipeline is the one writer of room
// events (as Synapse's event persister is), so a cached tip is trusted
// without rereading the extremities: whatever else persists events of a
// room must call InvalidateRoom once it has committed.
type tip struct {
	// exts are all forward extremities, deepest first.
	exts []core.EventRef
	// group is the state group of the state after exts[0] when it is the
	// only extremity (0 until looked up); groupOf is that event.
	group   int64
	groupOf string
	// resolved is the full resolved state when there are several
	// extremities (nil otherwise).
	resolved core.StateMap
	// known caches entries of the state after exts: an event ID, or ""
	// for a key known to be empty.
	known map[core.StateKey]string
}

// loadTip returns the room's tip: the cached one, or one read from
// storage. It returns an error wrapping core.ErrNotFound for a room with no
// events in its DAG here.
func (p *Pipeline) loadTip(ctx context.Context, roomID string, v *roomversion.Version) (*tip, error) {
	p.mu.Lock()
	t, _ := p.tips.Get(roomID)
	p.mu.Unlock()
	if t != nil {
		return t, nil
	}
	exts, err := p.stores.Timeline.ForwardExtremities(ctx, roomID, 0)
	if err != nil {
		return nil, err
	}
	if len(exts) == 0 {
		return nil, fmt.Errorf("room: %s has no events here: %w", roomID, core.ErrNotFound)
	}
	t = &tip{exts: exts, known: map[core.StateKey]string{}}
	if len(exts) == 1 {
		t.groupOf = exts[0].EventID
	} else {
		ids := make([]string, len(exts))
		for i, e := range exts {
			ids[i] = e.EventID
		}
		if t.resolved, err = p.resolveAt(ctx, v, ids); err != nil {
			return nil, err
		}
	}
	p.setTip(roomID, t)
	return t, nil
}

// InvalidateRoom drops what the pipeline caches of roomID's newest events
// and state. Code that persists events of a room other than through the
// pipeline must call it after committing, under no lock of the pipeline.
func (p *Pipeline) InvalidateRoom(roomID string) {
	unlock := p.lockRoom(roomID)
	defer unlock()
	p.setTip(roomID, nil)
}

// ForgetRoom drops everything the pipeline caches of roomID: its newest
// events and state, and its room version. An admin purge calls it once the
// room is gone from storage, so the room is unknown again (a join answers
// 404) rather than a room whose events are elsewhere.
func (p *Pipeline) ForgetRoom(roomID string) {
	unlock := p.lockRoom(roomID)
	defer unlock()
	p.setTip(roomID, nil)
	p.mu.Lock()
	p.versions.Remove(roomID)
	p.mu.Unlock()
}

// setTip keeps t as roomID's tip (nil drops it). Tips are bounded in
// bytes by their share of the cache budget, so a user who makes a room
// every few seconds does not keep the state of every room in memory: a
// dropped tip is read from storage again when its room is next written
// to, as after InvalidateRoom.
func (p *Pipeline) setTip(roomID string, t *tip) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t == nil {
		p.tips.Remove(roomID)
		return
	}
	p.tips.Put(roomID, t, lru.StringBytes(roomID)+tipBytes(t))
}

// tipBytes estimates the memory a tip holds when it is stored (its known
// entries grow as sends read them; each send stores its new tip, counted
// again).
func tipBytes(t *tip) int64 {
	n := int64(unsafe.Sizeof(*t)) + lru.StringBytes(t.groupOf)
	for _, e := range t.exts {
		n += lru.StringBytes(e.EventID) + 8
	}
	if t.resolved != nil {
		n += core.StateMapBytes(t.resolved)
	}
	if t.known != nil {
		n += core.StateMapBytes(t.known)
	}
	return n
}

// stateGroup returns the state group after the single extremity.
func (t *tip) stateGroup(ctx context.Context, p *Pipeline) (int64, error) {
	if t.group == 0 {
		g, err := p.stores.Groups.StateGroupOf(ctx, t.groupOf)
		if err != nil {
			return 0, err
		}
		t.group = g
	}
	return t.group, nil
}

// load makes sure the entries of keys are known.
func (t *tip) load(ctx context.Context, p *Pipeline, keys []core.StateKey) error {
	if t.resolved != nil {
		return nil
	}
	var missing []core.StateKey
	for _, k := range keys {
		if _, ok := t.known[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	g, err := t.stateGroup(ctx, p)
	if err != nil {
		return err
	}
	m, err := p.stores.Groups.StateAt(ctx, g, core.StateKeys(missing...))
	if err != nil {
		return err
	}
	for _, k := range missing {
		t.known[k] = m[k]
	}
	return nil
}

// eventID returns the event at key in the state after the tip ("" if none).
func (t *tip) eventID(ctx context.Context, p *Pipeline, key core.StateKey) (string, error) {
	if t.resolved != nil {
		return t.resolved[key], nil
	}
	if err := t.load(ctx, p, []core.StateKey{key}); err != nil {
		return "", err
	}
	return t.known[key], nil
}

// authEvents is the tip's state as eventauth reads it.
func (t *tip) authEvents(ctx context.Context, p *Pipeline) eventauth.AuthEvents {
	return func(k eventauth.StateKey) (*pdu.PDU, error) {
		id, err := t.eventID(ctx, p, core.StateKey(k))
		if err != nil || id == "" {
			return nil, err
		}
		m, err := p.pdus(ctx, []string{id})
		if err != nil {
			return nil, err
		}
		e := m[id]
		if e == nil {
			return nil, fmt.Errorf("room: state event %s is not stored", id)
		}
		return e, nil
	}
}

// fullState returns the whole state after the tip.
func (t *tip) fullState(ctx context.Context, p *Pipeline) (core.StateMap, error) {
	if t.resolved != nil {
		return maps.Clone(t.resolved), nil
	}
	g, err := t.stateGroup(ctx, p)
	if err != nil {
		return nil, err
	}
	return p.stores.Groups.StateAt(ctx, g, core.AllState)
}

// resolveAt returns the resolution of the states after the given events.
func (p *Pipeline) resolveAt(ctx context.Context, v *roomversion.Version, eventIDs []string) (core.StateMap, error) {
	sets := make([]stateres.StateMap, 0, len(eventIDs))
	for _, id := range eventIDs {
		m, err := p.stores.Groups.StateAtEvent(ctx, id, core.AllState)
		if err != nil {
			return nil, err
		}
		sets = append(sets, toResState(m))
	}
	return p.resolve(ctx, v, sets)
}

func (p *Pipeline) resolve(ctx context.Context, v *roomversion.Version, sets []stateres.StateMap) (core.StateMap, error) {
	if len(sets) == 1 {
		return fromResState(sets[0]), nil
	}
	r, err := stateres.Resolve(v, sets, stateres.FetchFunc(p.pduFunc(ctx)), p.resolveOptions(ctx))
	if err != nil {
		return nil, fmt.Errorf("room: resolving state: %w", err)
	}
	return fromResState(r), nil
}

func toResState(m core.StateMap) stateres.StateMap {
	out := make(stateres.StateMap, len(m))
	for k, id := range m {
		out[stateres.StateKey(k)] = id
	}
	return out
}

func fromResState(m stateres.StateMap) core.StateMap {
	out := make(core.StateMap, len(m))
	for k, id := range m {
		out[core.StateKey(k)] = id
	}
	return out
}

// diffState returns the changes that turn from into to ("" removes a key).
func diffState(from, to core.StateMap) core.StateMap {
	d := core.StateMap{}
	for k, id := range to {
		if from[k] != id {
			d[k] = id
		}
	}
	for k := range from {
		if _, ok := to[k]; !ok {
			d[k] = ""
		}
	}
	return d
}
