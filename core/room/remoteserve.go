package room

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

// Limits on what other servers may ask for in one request.
const (
	// MaxBackfill caps /backfill's limit.
	MaxBackfill = 100
	// MaxMissingEvents caps /get_missing_events' limit.
	MaxMissingEvents = 100
)

// Errors of the serving side.
var (
	errACLDenied = core.ErrForbidden.WithMessage("the room's server ACL denies your server")
	errNotInRoom = core.ErrForbidden.WithMessage("your server has no member in this room")
	errNoEvent   = core.ErrNotFound.WithMessage("event not found")
)

// allowOrigin checks that origin may ask about roomID: the room is known,
// its server ACL allows origin, and (unless worldReadableOK and the room
// is world-readable) origin has a member joined to it.
func (f *Federation) allowOrigin(ctx context.Context, origin, roomID string, worldReadableOK bool) error {
	if _, err := f.p.Version(ctx, roomID); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return core.ErrNotFound.WithMessage("unknown room")
		}
		return err
	}
	keyACL := core.StateKey{Type: TypeServerACL}
	st, err := f.p.stores.State.CurrentState(ctx, roomID, core.StateFilter{Types: map[string][]string{
		TypeServerACL: {""}, keyHistory.Type: {""}, eventauth.TypeMember: nil}})
	if err != nil {
		return err
	}
	acl, hv, err := f.p.pair(ctx, st[keyACL], st[keyHistory])
	if err != nil {
		return err
	}
	if acl != nil && !ServerAllowed(acl.Content, origin) {
		return errACLDenied
	}
	if worldReadableOK && historyVisibility(hv) == HistoryWorldReadable {
		return nil
	}
	for k := range st {
		if k.Type == eventauth.TypeMember && domainOf(k.StateKey) == origin {
			if m, err := f.p.pdus(ctx, []string{st[k]}); err == nil && m[st[k]] != nil &&
				contentString(m[st[k]].Content, "membership") == eventauth.MembershipJoin {
				return nil
			}
		}
	}
	return errNotInRoom
}

// aclAllows returns errACLDenied, wrapped as ErrPDUInvalid, when roomID's
// server ACL denies origin.
func (f *Federation) aclAllows(ctx context.Context, origin, roomID string) error {
	keyACL := core.StateKey{Type: TypeServerACL}
	st, err := f.p.stores.State.CurrentState(ctx, roomID, core.StateKeys(keyACL))
	if err != nil {
		return err
	}
	if st[keyACL] == "" {
		return nil
	}
	acl, _, err := f.p.pair(ctx, st[keyACL], "")
	if err != nil {
		return err
	}
	if acl != nil && !ServerAllowed(acl.Content, origin) {
		return fmt.Errorf("%w: %w", ErrPDUInvalid, errACLDenied)
	}
	return nil
}

// ServeTimestampToEvent answers GET /timestamp_to_event/{roomId}: the
// event of roomID nearest to ts in direction dir that origin may see.
// It returns M_NOT_FOUND when there is none.
func (f *Federation) ServeTimestampToEvent(ctx context.Context, origin, roomID string, ts int64, dir core.Direction) (string, int64, error) {
	if err := f.allowOrigin(ctx, origin, roomID, true); err != nil {
		return "", 0, err
	}
	if f.cfg.Timestamps == nil {
		return "", 0, core.ErrUnrecognized.WithMessage("timestamp lookups are not available")
	}
	const batch = 20
	stored, err := f.cfg.Timestamps.EventsNearTimestamp(ctx, roomID, ts, dir, batch)
	if err != nil {
		return "", 0, err
	}
	evs, err := f.p.Wrap(stored)
	if err != nil {
		return "", 0, err
	}
	for _, e := range evs {
		if ok, err := f.visibleTo(ctx, origin, e); err != nil {
			return "", 0, err
		} else if ok {
			return e.ID(), e.PDU.OriginServerTS, nil
		}
	}
	return "", 0, core.ErrNotFound.WithMessage("no event found near %d", ts)
}

// visibleTo reports whether origin may see e, by the history visibility
// at it (Synapse's filter_events_for_server): world_readable and shared
// events are visible to any server in the room; invited ones to servers
// with a member invited or joined then; joined ones to servers with a
// member joined then. Outliers (no state known) are visible to servers in
// the room.
func (f *Federation) visibleTo(ctx context.Context, origin string, e *Event) (bool, error) {
	if e.Stored.StateGroup == 0 {
		return true, nil
	}
	st, err := f.p.stores.Groups.StateAt(ctx, e.Stored.StateGroup, core.StateFilter{Types: map[string][]string{
		keyHistory.Type: {""}, eventauth.TypeMember: nil}})
	if err != nil {
		return false, err
	}
	hvEv, _, err := f.p.pair(ctx, st[keyHistory], "")
	if err != nil {
		return false, err
	}
	hv := historyVisibility(hvEv)
	if hv == HistoryWorldReadable || hv == HistoryShared {
		return true, nil
	}
	var ids []string
	for k, id := range st {
		if k.Type == eventauth.TypeMember && domainOf(k.StateKey) == origin {
			ids = append(ids, id)
		}
	}
	evs, err := f.p.pdus(ctx, ids)
	if err != nil {
		return false, err
	}
	for _, m := range evs {
		switch contentString(m.Content, "membership") {
		case eventauth.MembershipJoin:
			return true, nil
		case eventauth.MembershipInvite:
			if hv == HistoryInvited {
				return true, nil
			}
		}
	}
	return false, nil
}

// served returns e as another server gets it: redacted when a redaction
// applies to it or origin may not see it.
func (f *Federation) served(ctx context.Context, origin string, e *Event) (json.RawMessage, error) {
	redact := false
	if len(e.Stored.RedactedBy) > 0 {
		reds, err := f.p.Events(ctx, e.Stored.RedactedBy)
		if err != nil {
			return nil, err
		}
		for _, r := range reds {
			if ok, err := f.p.RedactionApplies(ctx, e, r); err != nil {
				return nil, err
			} else if ok {
				redact = true
				break
			}
		}
	}
	if !redact {
		ok, err := f.visibleTo(ctx, origin, e)
		if err != nil {
			return nil, err
		}
		redact = !ok
	}
	if !redact {
		return json.RawMessage(e.Stored.JSON), nil
	}
	js, err := pdu.RedactJSON(e.Version, e.Stored.JSON)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(js), nil
}

// ServeEvent answers GET /event/{eventId}: the event, if origin may ask
// about its room; redacted when origin may not see it. Rejected and
// soft-failed events are not served. It returns a *core.Error:
// M_NOT_FOUND, or M_FORBIDDEN (server ACL, or origin not in the room).
func (f *Federation) ServeEvent(ctx context.Context, origin, eventID string) (json.RawMessage, error) {
	e, err := f.p.Event(ctx, eventID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, errNoEvent
	}
	if err != nil {
		return nil, err
	}
	if e.Stored.Rejected != "" || e.Stored.SoftFailed {
		return nil, errNoEvent
	}
	if err := f.allowOrigin(ctx, origin, e.Stored.RoomID, true); err != nil {
		return nil, err
	}
	return f.served(ctx, origin, e)
}

// stateBeforeEvent returns the state before the stored non-outlier e: the
// state after it, with its own key set back to what it replaced.
func stateBeforeEvent(ctx context.Context, p *Pipeline, e *Event) (core.StateMap, error) {
	if e.Stored.StateGroup == 0 {
		return nil, core.ErrNotFound.WithMessage("the server does not know the state at %s", e.ID())
	}
	st, err := p.stores.Groups.StateAt(ctx, e.Stored.StateGroup, core.AllState)
	if err != nil {
		return nil, err
	}
	if e.PDU.StateKey != nil && e.Stored.Rejected == "" {
		k := core.StateKey{Type: e.PDU.Type, StateKey: *e.PDU.StateKey}
		if st[k] == e.ID() {
			if prev := ParseMetadata(e.Stored.InternalMetadata).ReplacesState; prev != "" {
				st[k] = prev
			} else {
				delete(st, k)
			}
		}
	}
	return st, nil
}

// ServeStateIDs answers GET /state_ids/{roomId}?event_id=: the IDs of the
// state before eventID and of its auth chain.
func (f *Federation) ServeStateIDs(ctx context.Context, origin, roomID, eventID string) (pduIDs, authChainIDs []string, err error) {
	st, err := f.stateFor(ctx, origin, roomID, eventID)
	if err != nil {
		return nil, nil, err
	}
	pduIDs = make([]string, 0, len(st))
	for _, id := range st {
		pduIDs = append(pduIDs, id)
	}
	slices.Sort(pduIDs)
	chain, err := f.p.authChainEvents(ctx, nil, pduIDs)
	if err != nil {
		return nil, nil, err
	}
	authChainIDs = make([]string, len(chain))
	for i, e := range chain {
		authChainIDs[i] = e.EventID
	}
	return pduIDs, authChainIDs, nil
}

// ServeState answers GET /state/{roomId}?event_id=: the events of the
// state before eventID and of its auth chain.
func (f *Federation) ServeState(ctx context.Context, origin, roomID, eventID string) (pdus, authChain []json.RawMessage, err error) {
	ids, chainIDs, err := f.ServeStateIDs(ctx, origin, roomID, eventID)
	if err != nil {
		return nil, nil, err
	}
	if pdus, err = f.rawEvents(ctx, ids); err != nil {
		return nil, nil, err
	}
	if authChain, err = f.rawEvents(ctx, chainIDs); err != nil {
		return nil, nil, err
	}
	return pdus, authChain, nil
}

// stateFor checks origin and eventID and returns the state before it.
func (f *Federation) stateFor(ctx context.Context, origin, roomID, eventID string) (core.StateMap, error) {
	if err := f.allowOrigin(ctx, origin, roomID, false); err != nil {
		return nil, err
	}
	e, err := f.p.Event(ctx, eventID)
	if errors.Is(err, core.ErrNotFound) || err == nil && e.Stored.RoomID != roomID {
		return nil, errNoEvent
	}
	if err != nil {
		return nil, err
	}
	return stateBeforeEvent(ctx, f.p, e)
}

// ServeEventAuth answers GET /event_auth/{roomId}/{eventId}: the auth
// chain of the event.
func (f *Federation) ServeEventAuth(ctx context.Context, origin, roomID, eventID string) ([]json.RawMessage, error) {
	if err := f.allowOrigin(ctx, origin, roomID, false); err != nil {
		return nil, err
	}
	e, err := f.p.Event(ctx, eventID)
	if errors.Is(err, core.ErrNotFound) || err == nil && e.Stored.RoomID != roomID {
		return nil, errNoEvent
	}
	if err != nil {
		return nil, err
	}
	chain, err := f.p.authChainEvents(ctx, nil, e.PDU.AuthEvents)
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, len(chain))
	for i, c := range chain {
		out[i] = c.JSON
	}
	return out, nil
}

// rawEvents returns the stored JSON of the events among ids, in order.
func (f *Federation) rawEvents(ctx context.Context, ids []string) ([]json.RawMessage, error) {
	stored, err := f.p.stores.Events.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, len(ids))
	for _, id := range ids {
		if se := stored[id]; se != nil {
			out = append(out, json.RawMessage(se.JSON))
		}
	}
	return out, nil
}

// ServeBackfill answers GET /backfill/{roomId}?v=...&limit=: at most limit
// events (capped at MaxBackfill) of roomID reached by walking prev_events
// back from the events from (those included), newest (deepest) first,
// each as origin may see it.
func (f *Federation) ServeBackfill(ctx context.Context, origin, roomID string, from []string, limit int) ([]json.RawMessage, error) {
	if err := f.allowOrigin(ctx, origin, roomID, false); err != nil {
		return nil, err
	}
	limit = min(max(limit, 0), MaxBackfill)
	evs, err := f.walkBack(ctx, roomID, from, nil, limit, 0, true)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(evs, func(a, b *Event) int { return cmp.Compare(b.PDU.Depth, a.PDU.Depth) })
	return f.servedAll(ctx, origin, evs)
}

// ServeMissingEvents answers POST /get_missing_events/{roomId}: at most
// limit events (capped at MaxMissingEvents) of depth >= minDepth reached by
// walking prev_events back from latest, stopping at earliest (neither
// latest nor earliest included), oldest first, each as origin may see it.
func (f *Federation) ServeMissingEvents(ctx context.Context, origin, roomID string, earliest, latest []string, limit int, minDepth int64) ([]json.RawMessage, error) {
	if err := f.allowOrigin(ctx, origin, roomID, false); err != nil {
		return nil, err
	}
	limit = min(max(limit, 0), MaxMissingEvents)
	stop := make(map[string]bool, len(earliest)+len(latest))
	for _, id := range earliest {
		stop[id] = true
	}
	evs, err := f.walkBack(ctx, roomID, latest, stop, limit, minDepth, false)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(evs, func(a, b *Event) int { return cmp.Compare(a.PDU.Depth, b.PDU.Depth) })
	return f.servedAll(ctx, origin, evs)
}

// walkBack walks roomID's DAG breadth-first through prev_events from
// start (included when withStart), never into stop, collecting at most
// limit accepted events of depth >= minDepth.
func (f *Federation) walkBack(ctx context.Context, roomID string, start []string, stop map[string]bool, limit int, minDepth int64, withStart bool) ([]*Event, error) {
	seen := map[string]bool{}
	var out []*Event
	var frontier []string
	if withStart {
		frontier = slices.Clone(start)
	} else {
		starts, err := f.p.Events(ctx, start)
		if err != nil {
			return nil, err
		}
		for _, id := range start {
			seen[id] = true
			if e := starts[id]; e != nil && e.Stored.RoomID == roomID {
				frontier = append(frontier, e.PDU.PrevEvents...)
			}
		}
	}
	for len(frontier) > 0 && len(out) < limit {
		var want []string
		for _, id := range frontier {
			if !seen[id] && !stop[id] {
				seen[id] = true
				want = append(want, id)
			}
		}
		got, err := f.p.Events(ctx, want)
		if err != nil {
			return nil, err
		}
		frontier = frontier[:0]
		for _, id := range want {
			e := got[id]
			if e == nil || e.Stored.RoomID != roomID || e.Stored.Outlier || e.Stored.Rejected != "" || e.Stored.SoftFailed {
				continue
			}
			if e.PDU.Depth < minDepth {
				continue
			}
			if len(out) < limit {
				out = append(out, e)
			}
			frontier = append(frontier, e.PDU.PrevEvents...)
		}
	}
	return out, nil
}

func (f *Federation) servedAll(ctx context.Context, origin string, evs []*Event) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(evs))
	for _, e := range evs {
		js, err := f.served(ctx, origin, e)
		if err != nil {
			return nil, err
		}
		out = append(out, js)
	}
	return out, nil
}
