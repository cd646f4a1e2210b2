package room

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/stateres"
)

// before is the state before a received event, in one of three forms.
type before struct {
	// fast: the event's prev_events are exactly the room's forward
	// extremities, so the state before it is the tip's state.
	fast bool
	// group: the state after its one prev_event, a stored state group.
	group int64
	// full: the resolution of the states after its prev_events (some of
	// them fetched from other servers at a gap); base is a state group to
	// store it as a delta from (0 for none).
	full core.StateMap
	base int64
}

// receiveLocked applies the checks of receipt that need the room (4 to 6)
// to in and persists it, under the room's lock. The state at prev_events
// still missing is fetched with /state_ids unless prefetch got it.
func (f *Federation) receiveLocked(ctx context.Context, origin string, in *incoming) error {
	return f.receive(ctx, origin, in, nil)
}

// pendingRun is a run of accepted message events, each the child of the
// one before, that extend the room's single forward extremity without
// changing its state: they are persisted together, in one storage write,
// when the run ends (a transaction's PDUs of a busy room usually form
// one). The pipeline's tip and cache already include them.
type pendingRun struct {
	events []core.NewEvent
	group  int64  // their state group
	last   string // the newest, the room's forward extremity
	// failed holds the error of a flush that failed, for each event it
	// held.
	failed map[string]error
}

// flush persists the run's events.
func (f *Federation) flush(ctx context.Context, run *pendingRun, roomID string) error {
	if run == nil || len(run.events) == 0 {
		return nil
	}
	evs := run.events
	run.events, run.last = nil, ""
	if _, err := f.p.stores.Events.PersistEvents(ctx, evs, core.PersistOptions{}); err != nil {
		f.p.setTip(roomID, nil)
		if run.failed == nil {
			run.failed = map[string]error{}
		}
		for _, e := range evs {
			run.failed[e.EventID] = err
		}
		return err
	}
	return nil
}

// receive is receiveLocked, adding what it can to run (nil: persist at
// once).
func (f *Federation) receive(ctx context.Context, origin string, in *incoming, run *pendingRun) error {
	p, ev, v := f.p, in.ev, in.v
	extendsRun := run != nil && len(run.events) > 0 && len(ev.PrevEvents) == 1 && ev.PrevEvents[0] == run.last
	if !extendsRun {
		if err := f.flush(ctx, run, ev.RoomID); err != nil {
			return err
		}
	}
	stored, err := p.stores.Events.Events(ctx, append([]string{ev.EventID}, ev.PrevEvents...))
	if err != nil {
		return err
	}
	if se := stored[ev.EventID]; se != nil && !se.Outlier {
		return nil // seen before
	}
	if extendsRun {
		stored[run.last] = &core.StoredEvent{EventID: run.last, RoomID: ev.RoomID, StateGroup: run.group}
	}
	if err := f.ensureAuthEvents(ctx, origin, in); err != nil {
		return err
	}
	// 4. Passes authorization rules based on the event's auth events,
	// otherwise it is rejected.
	if err := eventauth.AuthorizeByAuthEvents(v, ev, p.pduFunc(ctx), nil); err != nil {
		if !errors.Is(err, eventauth.ErrUnauthorized) {
			return err
		}
		// Without the state before it, a rejected event is kept as an
		// outlier: it is never part of any state.
		if err := f.acceptOutliers(ctx, []*incoming{in}); err != nil {
			return err
		}
		return fmt.Errorf("%w: against its auth events: %w", ErrPDURejected, err)
	}

	missing := missingPrevs(ev, stored)
	t, err := p.loadTip(ctx, ev.RoomID, v)
	if err != nil {
		return err
	}
	b, err := f.stateBefore(ctx, origin, in, t, stored, missing)
	if err != nil {
		return err
	}
	keys := neededKeysOf(v, ev)
	beforeAuth := t.authEvents(ctx, p)
	if !b.fast {
		beforeAuth = f.lookupIn(ctx, b)
	} else if err := t.load(ctx, p, keys); err != nil {
		return err
	}
	var rejected, softFailed error
	// 5. Passes authorization rules based on the state before the event,
	// otherwise it is rejected.
	if err := eventauth.Authorize(v, ev, beforeAuth, nil); err != nil {
		if !errors.Is(err, eventauth.ErrUnauthorized) {
			return err
		}
		rejected = err
	} else if !b.fast && !in.backfilled {
		// 6. Passes authorization rules based on the current state of the
		// room, otherwise it is "soft failed". (With prev_events equal to
		// the forward extremities, this is check 5 again.)
		if err := t.load(ctx, p, keys); err != nil {
			return err
		}
		if err := eventauth.Authorize(v, ev, t.authEvents(ctx, p), nil); err != nil {
			if !errors.Is(err, eventauth.ErrUnauthorized) {
				return err
			}
			softFailed = err
		}
	}
	if rejected == nil && softFailed == nil && !in.backfilled {
		// The modules' spam check: a refused event is soft-failed, as
		// Synapse does; it stays in the DAG, out of clients' sight.
		if err := p.cfg.Modules.CheckEventForSpam(ctx, ev.EventID, in.js); err != nil {
			softFailed = fmt.Errorf("refused by the spam check: %w", err)
		}
	}
	if err := f.persistReceived(ctx, in, t, b, beforeAuth, rejected, softFailed, run); err != nil {
		return err
	}
	switch {
	case rejected != nil:
		return fmt.Errorf("%w: against the state before it: %w", ErrPDURejected, rejected)
	case softFailed != nil:
		return fmt.Errorf("%w: against the current state: %w", ErrPDUSoftFailed, softFailed)
	}
	return nil
}

// missingPrevs returns the prev_events of ev not stored as non-outliers.
func missingPrevs(ev *pdu.PDU, stored map[string]*core.StoredEvent) []string {
	var out []string
	for _, id := range ev.PrevEvents {
		if se := stored[id]; se == nil || se.Outlier {
			out = append(out, id)
		}
	}
	return out
}

// neededKeysOf returns the state keys the auth rules read for ev: its auth
// events selection, the create event and its own key.
func neededKeysOf(v *roomversion.Version, ev *pdu.PDU) []core.StateKey {
	sel := eventauth.AuthEventsNeeded(v, ev)
	keys := make([]core.StateKey, 0, len(sel)+2)
	keys = append(keys, keyCreate)
	for _, k := range sel {
		keys = append(keys, core.StateKey(k))
	}
	if ev.StateKey != nil {
		keys = append(keys, core.StateKey{Type: ev.Type, StateKey: *ev.StateKey})
	}
	return keys
}

// stateBefore works out the state before in: the tip's state when its
// prev_events are the forward extremities, the state group of its single
// stored prev_event, or the resolution of the states after each prev_event
// (fetched from origin for those missing).
func (f *Federation) stateBefore(ctx context.Context, origin string, in *incoming, t *tip, stored map[string]*core.StoredEvent, missing []string) (*before, error) {
	ev := in.ev
	prevs := slices.Compact(slices.Sorted(slices.Values(ev.PrevEvents)))
	if len(missing) == 0 && len(prevs) == len(t.exts) && !in.backfilled {
		same := true
		for _, e := range t.exts {
			if _, ok := slices.BinarySearch(prevs, e.EventID); !ok {
				same = false
				break
			}
		}
		if same {
			return &before{fast: true}, nil
		}
	}
	if len(missing) == 0 && len(prevs) == 1 {
		return &before{group: stored[prevs[0]].StateGroup}, nil
	}
	b := &before{}
	sets := make([]stateres.StateMap, 0, len(prevs))
	var baseDepth int64
	for _, id := range prevs {
		var m core.StateMap
		var err error
		if slices.Contains(missing, id) {
			m, err = f.gapState(ctx, origin, in, id)
		} else {
			se := stored[id]
			if m, err = f.p.stores.Groups.StateAt(ctx, se.StateGroup, core.AllState); err == nil && (b.base == 0 || se.Depth > baseDepth) {
				b.base, baseDepth = se.StateGroup, se.Depth
			}
		}
		if err != nil {
			return nil, err
		}
		sets = append(sets, toResState(m))
	}
	var err error
	if b.full, err = f.p.resolve(ctx, in.v, sets); err != nil {
		return nil, err
	}
	return b, nil
}

// lookupIn is the state b (not fast) as the auth rules read it.
func (f *Federation) lookupIn(ctx context.Context, b *before) eventauth.AuthEvents {
	return func(k eventauth.StateKey) (*pdu.PDU, error) {
		var id string
		if b.full != nil {
			id = b.full[core.StateKey(k)]
		} else {
			m, err := f.p.stores.Groups.StateAt(ctx, b.group, core.StateKeys(core.StateKey(k)))
			if err != nil {
				return nil, err
			}
			id = m[core.StateKey(k)]
		}
		if id == "" {
			return nil, nil
		}
		m, err := f.p.pdus(ctx, []string{id})
		if err != nil {
			return nil, err
		}
		if m[id] == nil {
			return nil, fmt.Errorf("room: state event %s is not stored", id)
		}
		return m[id], nil
	}
}

// fullState returns the whole state b.
func (f *Federation) fullState(ctx context.Context, t *tip, b *before) (core.StateMap, error) {
	switch {
	case b.fast:
		return t.fullState(ctx, f.p)
	case b.full != nil:
		return maps.Clone(b.full), nil
	}
	return f.p.stores.Groups.StateAt(ctx, b.group, core.AllState)
}

// persistReceived stores the checked event in with its state group, and
// the change it makes to the room's current state, then updates the
// pipeline's cache and tip.
func (f *Federation) persistReceived(ctx context.Context, in *incoming, t *tip, b *before, beforeAuth eventauth.AuthEvents, rejected, softFailed error, run *pendingRun) error {
	p, ev, v := f.p, in.ev, in.v
	var meta Metadata
	if ev.StateKey != nil {
		prev, err := beforeAuth(eventauth.StateKey{Type: ev.Type, StateKey: *ev.StateKey})
		if err != nil {
			return err
		}
		if prev != nil {
			meta.ReplacesState = prev.EventID
		}
	}
	ne := newEvent(v, ev, in.js, meta, p.now())
	if rejected != nil {
		ne.Rejected = rejected.Error()
	}
	ne.SoftFailed = softFailed != nil
	counted := rejected == nil && softFailed == nil

	// Backfilled history takes negative stream orderings and changes
	// neither the room's extremities nor its current state.
	opts := core.PersistOptions{Backfilled: in.backfilled}
	var next *tip
	keepTip := !counted || in.backfilled
	var change core.StateMap
	if counted && ev.StateKey != nil {
		change = core.StateMap{{Type: ev.Type, StateKey: *ev.StateKey}: ev.EventID}
	}
	switch {
	case b.fast && counted && t.resolved == nil && !in.backfilled:
		// The common case: the event extends the room's one forward
		// extremity, as a local event does.
		delta, nt, err := p.placeEvent(ctx, v, t, len(t.exts), ev, &ne)
		if err != nil {
			return err
		}
		next = nt
		if len(delta) > 0 {
			opts.CurrentState = []core.CurrentStateDelta{{RoomID: ev.RoomID, Changes: delta}}
		}
	default:
		if err := f.setGroup(ctx, t, b, change, &ne); err != nil {
			return err
		}
		if counted && !in.backfilled {
			delta, history, err := f.currentAfter(ctx, in, t, b, change)
			if err != nil {
				return err
			}
			keepTip = history
			if len(delta) > 0 {
				opts.CurrentState = []core.CurrentStateDelta{{RoomID: ev.RoomID, Changes: delta}}
			}
		}
	}
	if run != nil && next != nil && ne.NewStateGroup == nil && ne.StateGroup != 0 && len(opts.CurrentState) == 0 &&
		ev.StateKey == nil && ev.Type != eventauth.TypeRedaction {
		// A message extending the single extremity: it joins the run.
		run.events = append(run.events, ne)
		run.group, run.last = ne.StateGroup, ev.EventID
		p.cache.put(ev)
		p.setTip(ev.RoomID, next)
		return nil
	}
	if err := f.flush(ctx, run, ev.RoomID); err != nil {
		return err
	}
	if _, err := p.stores.Events.PersistEvents(ctx, []core.NewEvent{ne}, opts); err != nil {
		p.setTip(ev.RoomID, nil)
		return err
	}
	ev.Internal.Outlier = false
	ev.Internal.Rejected = ne.Rejected
	ev.Internal.SoftFailed = ne.SoftFailed
	p.cache.put(ev)
	if !keepTip {
		p.setTip(ev.RoomID, next)
	}
	return nil
}

// setGroup sets the state group of ne: the state before b plus change.
func (f *Federation) setGroup(ctx context.Context, t *tip, b *before, change core.StateMap, ne *core.NewEvent) error {
	group := b.group
	if b.fast && t.resolved == nil {
		g, err := t.stateGroup(ctx, f.p)
		if err != nil {
			return err
		}
		group = g
	}
	if group != 0 {
		if len(change) == 0 {
			ne.StateGroup = group
		} else {
			ne.NewStateGroup = &core.StateGroupDelta{Prev: group, Changes: change}
		}
		return nil
	}
	full := b.full
	base := b.base
	if b.fast {
		// Several extremities: store their resolution as a delta from the
		// deepest one's group.
		full = t.resolved
		g, err := f.p.stores.Groups.StateGroupOf(ctx, t.exts[0].EventID)
		if err != nil {
			return err
		}
		base = g
	}
	after := maps.Clone(full)
	maps.Copy(after, change)
	if base == 0 {
		ne.NewStateGroup = &core.StateGroupDelta{Changes: after}
		return nil
	}
	baseState, err := f.p.stores.Groups.StateAt(ctx, base, core.AllState)
	if err != nil {
		return err
	}
	ne.NewStateGroup = &core.StateGroupDelta{Prev: base, Changes: diffState(baseState, after)}
	return nil
}

// currentAfter returns the change to the room's current state once the
// accepted event in is a forward extremity: the resolution of the state
// after it with the states at the extremities it does not reference.
// history is true for an event that a stored event already references
// (the server had a gap there): it changes neither the extremities nor the
// current state.
func (f *Federation) currentAfter(ctx context.Context, in *incoming, t *tip, b *before, change core.StateMap) (delta core.StateMap, history bool, err error) {
	p, ev := f.p, in.ev
	backward, err := p.stores.Timeline.BackwardExtremities(ctx, ev.RoomID)
	if err != nil {
		return nil, false, err
	}
	if slices.Contains(backward, ev.EventID) {
		return nil, true, nil
	}
	after, err := f.fullState(ctx, t, b)
	if err != nil {
		return nil, false, err
	}
	maps.Copy(after, change)
	sets := []stateres.StateMap{toResState(after)}
	for _, e := range t.exts {
		if slices.Contains(ev.PrevEvents, e.EventID) {
			continue
		}
		m, err := p.stores.Groups.StateAtEvent(ctx, e.EventID, core.AllState)
		if err != nil {
			return nil, false, err
		}
		sets = append(sets, toResState(m))
	}
	// The event is not stored yet: resolution finds it here.
	fetch := p.pduFunc(ctx)
	current, err := stateres.Resolve(in.v, sets, func(id string) (*pdu.PDU, error) {
		if id == ev.EventID {
			return ev, nil
		}
		return fetch(id)
	}, p.resolveOptions(ctx, ev))
	if err != nil {
		return nil, false, fmt.Errorf("room: resolving state: %w", err)
	}
	old, err := p.stores.State.CurrentState(ctx, ev.RoomID, core.AllState)
	if err != nil {
		return nil, false, err
	}
	return diffState(old, fromResState(current)), false, nil
}
