package room

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/stateres"
)

// Send builds the event pr in roomID on the room's forward extremities
// (at most 10, deepest first, as prev_events), authorises it against the
// state before it, and persists it with its state group and the change of
// the room's current state in one storage write. Sends to one room are
// serialised, so every event is built on the state its predecessor left.
//
// With txn set, the send is idempotent: a transaction already seen in this
// room returns the event it sent, and nothing new is stored.
//
// It returns the event's ID, or a *core.Error: M_FORBIDDEN for an event
// the auth rules reject (the message names the rule), M_TOO_LARGE,
// M_BAD_JSON or M_INVALID_PARAM for an event that cannot be built, and an
// error wrapping core.ErrNotFound for a room the server has no events of.
func (p *Pipeline) Send(ctx context.Context, roomID string, pr Proto, txn *core.TxnID) (string, error) {
	v, err := p.Version(ctx, roomID)
	if err != nil {
		return "", err
	}
	unlock := p.lockRoom(roomID)
	defer unlock()
	ev, err := p.sendLocked(ctx, v, roomID, pr, txn)
	if err != nil {
		// A transaction seen before: storage refuses to record it twice
		// (core.ErrTxnUsed), or the event would no longer be allowed. Either
		// way, the first event is the answer. Looking it up only on failure
		// keeps the common send free of the read.
		if txn != nil {
			if id, lerr := p.stores.Events.EventIDForTxn(ctx, roomID, *txn); lerr == nil {
				return id, nil
			} else if !errors.Is(lerr, core.ErrNotFound) {
				return "", lerr
			}
		}
		return "", err
	}
	p.notify()
	return ev.EventID, nil
}

// sendLocked is Send under the room's lock.
func (p *Pipeline) sendLocked(ctx context.Context, v *roomversion.Version, roomID string, pr Proto, txn *core.TxnID) (*pdu.PDU, error) {
	t, err := p.loadTip(ctx, roomID, v)
	if err != nil {
		return nil, err
	}
	if err := checkProto(v, &pr); err != nil {
		return nil, err
	}
	if pr.dedupe && pr.StateKey != nil {
		cur, err := p.sameAsCurrent(ctx, t, pr)
		if err != nil || cur != nil {
			return cur, err
		}
	}
	prevRefs := t.exts[:min(len(t.exts), maxPrevEvents)]
	keys := neededKeys(v, roomID, &pr)
	if err := t.load(ctx, p, keys); err != nil {
		return nil, err
	}
	got, err := p.pdus(ctx, sendEventIDs(ctx, p, t, prevRefs, keys, pr.StateKey != nil))
	if err != nil {
		return nil, err
	}
	prevs := make([]*pdu.PDU, len(prevRefs))
	for i, r := range prevRefs {
		if prevs[i] = got[r.EventID]; prevs[i] == nil {
			return nil, fmt.Errorf("room: forward extremity %s is not stored", r.EventID)
		}
	}
	ev, js, err := p.build(v, roomID, pr, prevs, t.authEvents(ctx, p))
	if err != nil {
		return nil, err
	}
	if pr.countersign != nil {
		if ev, js, err = pr.countersign(ctx, v, ev, js); err != nil {
			return nil, err
		}
	}
	// The modules' spam check sees the event as it would be stored; a
	// refusal stores nothing. As in Synapse, a local membership is left to
	// user_may_invite and user_may_join_room: a failing module must not
	// keep a user from leaving.
	if pr.Type != eventauth.TypeMember {
		if err := p.cfg.Modules.CheckEventForSpam(ctx, ev.EventID, js); err != nil {
			return nil, err
		}
	}
	// The client transaction goes to storage as ne.Txn: storage keeps it
	// and puts it into the metadata as the event is read, so it is not
	// encoded here only to be taken out again.
	var meta Metadata
	if pr.StateKey != nil {
		if meta.ReplacesState, err = t.eventID(ctx, p, pr.key()); err != nil {
			return nil, err
		}
	}
	ne := newEvent(v, ev, js, meta, p.now())
	ne.Txn = txn
	ne.Built = true // just built here: storage need not look for it
	delta, next, err := p.placeEvent(ctx, v, t, len(prevRefs), ev, &ne)
	if err != nil {
		return nil, err
	}
	opts := core.PersistOptions{}
	if len(delta) > 0 {
		opts.CurrentState = []core.CurrentStateDelta{{RoomID: roomID, Changes: delta}}
	}
	if _, err := p.stores.Events.PersistEvents(ctx, []core.NewEvent{ne}, opts); err != nil {
		if !errors.Is(err, core.ErrTxnUsed) {
			p.setTip(roomID, nil) // nothing was stored, but reread to be safe
		}
		return nil, err
	}
	p.cache.put(ev)
	p.setTip(roomID, next)
	return ev, nil
}

// sendEventIDs lists the events a send reads: the prev events and the
// auth events of the state after the tip (keys, as neededKeys makes them,
// whose last is the event's own key when ownKey; it is an auth event only
// where it is among the others), each once. Read together they are one
// read of storage for those not cached; build asked for them one by one,
// and a send into a room whose tip and events the caches no longer held
// read four times (the mixed load's rooms, most of them cold).
func sendEventIDs(ctx context.Context, p *Pipeline, t *tip, prevs []core.EventRef, keys []core.StateKey, ownKey bool) []string {
	if ownKey {
		keys = keys[:len(keys)-1]
	}
	ids := make([]string, 0, len(prevs)+len(keys))
	for _, r := range prevs {
		ids = append(ids, r.EventID)
	}
	for _, k := range keys {
		// Known once t.load ran: no read, and no error to report here (an
		// error shows again where build reads the key).
		if id, err := t.eventID(ctx, p, k); err == nil && id != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// sameAsCurrent returns the room's current event of the state event pr's
// (type, state_key) when it has pr's sender and content (compared in
// canonical form), else nil.
func (p *Pipeline) sameAsCurrent(ctx context.Context, t *tip, pr Proto) (*pdu.PDU, error) {
	curID, err := t.eventID(ctx, p, pr.key())
	if err != nil || curID == "" {
		return nil, err
	}
	got, err := p.pdus(ctx, []string{curID})
	if err != nil {
		return nil, err
	}
	cur := got[curID]
	if cur == nil || cur.Sender != pr.Sender {
		return nil, nil
	}
	content := pr.Content
	if len(content) == 0 {
		content = json.RawMessage("{}")
	}
	a, aerr := canonicaljson.Canonicalize(cur.Content, canonicaljson.Lenient)
	b, berr := canonicaljson.Canonicalize(content, canonicaljson.Lenient)
	if aerr != nil || berr != nil || !bytes.Equal(a, b) {
		return nil, nil
	}
	return cur, nil
}

// placeEvent sets the state group of the event ev built on t (whose first
// nPrev extremities it references), and returns the change it makes to the
// room's current state and the room's tip after it (nil when the next send
// must recompute it).
func (p *Pipeline) placeEvent(ctx context.Context, v *roomversion.Version, t *tip, nPrev int, ev *pdu.PDU, ne *core.NewEvent) (core.StateMap, *tip, error) {
	var change core.StateMap
	if ev.StateKey != nil {
		change = core.StateMap{{Type: ev.Type, StateKey: *ev.StateKey}: ev.EventID}
	}
	ref := core.EventRef{EventID: ev.EventID, Depth: ev.Depth}
	remaining := t.exts[nPrev:]
	next := &tip{exts: []core.EventRef{ref}, groupOf: ev.EventID}

	// The state after the event, and its group.
	var after core.StateMap // full state after; only computed when needed
	if t.resolved == nil {
		g, err := t.stateGroup(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		if change == nil {
			ne.StateGroup = g
			next.group, next.known = g, t.known
		} else {
			ne.NewStateGroup = &core.StateGroupDelta{Prev: g, Changes: change}
			next.known = maps.Clone(t.known)
			maps.Copy(next.known, change)
		}
	} else {
		// Several extremities: the state before is their resolution, which
		// has no group yet; store it as a delta from the deepest one's.
		after = maps.Clone(t.resolved)
		maps.Copy(after, change)
		base := t.exts[0].EventID
		g, err := p.stores.Groups.StateGroupOf(ctx, base)
		if err != nil {
			return nil, nil, err
		}
		baseState, err := p.stores.Groups.StateAt(ctx, g, core.AllState)
		if err != nil {
			return nil, nil, err
		}
		ne.NewStateGroup = &core.StateGroupDelta{Prev: g, Changes: diffState(baseState, after)}
		next.known = maps.Clone(after)
	}

	// The current state is the resolution of the states at the forward
	// extremities after the event: the event itself and those it did not
	// reference.
	if len(remaining) == 0 && t.resolved == nil {
		return change, next, nil
	}
	if after == nil {
		full, err := t.fullState(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		after = full
		maps.Copy(after, change)
	}
	newCurrent := after
	if len(remaining) > 0 {
		sets := []stateres.StateMap{toResState(after)}
		for _, r := range remaining {
			m, err := p.stores.Groups.StateAtEvent(ctx, r.EventID, core.AllState)
			if err != nil {
				return nil, nil, err
			}
			sets = append(sets, toResState(m))
		}
		var err error
		if newCurrent, err = p.resolve(ctx, v, sets); err != nil {
			return nil, nil, err
		}
		next = nil
	}
	old, err := p.stores.State.CurrentState(ctx, ev.RoomID, core.AllState)
	if err != nil {
		return nil, nil, err
	}
	return diffState(old, newCurrent), next, nil
}

// errBadAlias is M_BAD_ALIAS: an alias in m.room.canonical_alias does not
// point to the room.
var errBadAlias = &core.Error{ErrCode: "M_BAD_ALIAS", Status: 400, Message: "Bad alias"}

// SendState sends the state event pr (its StateKey must be set) as PUT
// /rooms/{roomId}/state/{eventType}/{stateKey} does: for
// m.room.canonical_alias, every alias the event adds must be valid
// (M_INVALID_PARAM) and, if it is this server's, point to the room
// (M_BAD_ALIAS). Otherwise it is Send without a transaction, except that
// an event with the sender and content of the current one returns the
// current event's ID and sends nothing (as Synapse).
func (p *Pipeline) SendState(ctx context.Context, roomID string, pr Proto) (string, error) {
	if pr.StateKey == nil {
		return "", core.ErrInvalidParam.WithMessage("a state event needs a state key")
	}
	if pr.Type == keyAlias.Type && *pr.StateKey == "" {
		if err := p.checkCanonicalAlias(ctx, roomID, pr.Content); err != nil {
			return "", err
		}
	}
	// The same content from the same sender again: the current event.
	pr.dedupe = true
	id, err := p.Send(ctx, roomID, pr, nil)
	return id, forbiddenIfUnknown(err, roomID)
}

type canonicalAlias struct {
	Alias      *string  `json:"alias"`
	AltAliases []string `json:"alt_aliases"`
}

func (c canonicalAlias) all() []string {
	out := append([]string(nil), c.AltAliases...)
	if c.Alias != nil && *c.Alias != "" {
		out = append(out, *c.Alias)
	}
	return out
}

func (p *Pipeline) checkCanonicalAlias(ctx context.Context, roomID string, content json.RawMessage) error {
	var next canonicalAlias
	if err := json.Unmarshal(content, &next); err != nil {
		return core.ErrBadJSON.WithMessage("m.room.canonical_alias: alias must be a string and alt_aliases a list of strings")
	}
	var current canonicalAlias
	st, err := p.stores.State.CurrentState(ctx, roomID, core.StateKeys(keyAlias))
	if err != nil {
		return forbiddenIfUnknown(err, roomID)
	}
	if id := st[keyAlias]; id != "" {
		evs, err := p.pdus(ctx, []string{id})
		if err != nil {
			return err
		}
		if e := evs[id]; e != nil {
			_ = json.Unmarshal(e.Content, &current)
		}
	}
	old := current.all()
	for _, a := range next.all() {
		if slices.Contains(old, a) {
			continue
		}
		parsed, err := id.ParseRoomAlias(a)
		if err != nil {
			return core.ErrInvalidParam.WithMessage("%q is not a room alias", a)
		}
		if string(parsed.ServerName()) != p.cfg.ServerName || p.stores.Directory == nil {
			continue // another server's alias cannot be checked without federation
		}
		target, _, err := p.stores.Directory.ResolveAlias(ctx, a)
		if errors.Is(err, core.ErrNotFound) || err == nil && target != roomID {
			return errBadAlias.WithMessage("the alias %s does not point to this room", a)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
