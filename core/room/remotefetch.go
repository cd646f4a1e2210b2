package room

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// Federation API paths the PDU layer requests.
const (
	pathEvent            = "/_matrix/federation/v1/event/"
	pathEventAuth        = "/_matrix/federation/v1/event_auth/"
	pathStateIDs         = "/_matrix/federation/v1/state_ids/"
	pathState            = "/_matrix/federation/v1/state/"
	pathGetMissingEvents = "/_matrix/federation/v1/get_missing_events/"
)

// missingEventsLimit is how many events one get_missing_events asks for
// (Synapse asks for 10).
const missingEventsLimit = 10

// stateFetchThreshold is the number of unknown events at a gap above which
// the whole state is fetched with /state rather than event by event.
const stateFetchThreshold = 20

// outlierBatch is how many outliers one storage write takes.
const outlierBatch = 500

var errNoClient = errors.New("room: no federation client to fetch missing events with")

// ensureAuthEvents makes sure every auth event of in is stored, fetching
// the auth chain from origin (GET /event_auth) when some are not.
func (f *Federation) ensureAuthEvents(ctx context.Context, origin string, in *incoming) error {
	ids := in.ev.AuthEvents
	if len(ids) == 0 {
		return nil
	}
	have, err := f.p.pdus(ctx, ids)
	if err != nil {
		return err
	}
	if len(have) == len(ids) {
		return nil
	}
	if f.cfg.Client == nil {
		return errNoClient
	}
	var resp struct {
		AuthChain []json.RawMessage `json:"auth_chain"`
	}
	path := pathEventAuth + url.PathEscape(in.ev.RoomID) + "/" + url.PathEscape(in.ev.EventID)
	if err := f.cfg.Client.Request(ctx, origin, "GET", path, nil, &resp); err != nil {
		return fmt.Errorf("room: fetching the auth chain of %s from %s: %w", in.ev.EventID, origin, err)
	}
	if err := f.acceptOutliers(ctx, f.checkAll(ctx, in.v, in.ev.RoomID, resp.AuthChain)); err != nil {
		return err
	}
	if have, err = f.p.pdus(ctx, ids); err != nil {
		return err
	}
	for _, id := range ids {
		if have[id] == nil {
			return fmt.Errorf("room: auth event %s of %s could not be fetched from %s", id, in.ev.EventID, origin)
		}
	}
	return nil
}

// checkAll applies the stateless checks to events of roomID fetched from
// another server, dropping (and logging) those that fail them. The checks
// (a signature verification each, the bulk of a large join's work) run on
// every processor; the result keeps the order of raws.
func (f *Federation) checkAll(ctx context.Context, v *roomversion.Version, roomID string, raws []json.RawMessage) []*incoming {
	checked := make([]*incoming, len(raws))
	workers := min(runtime.GOMAXPROCS(0), (len(raws)+checkChunk-1)/checkChunk)
	if workers <= 1 {
		f.checkRange(ctx, v, roomID, raws, checked, 0, len(raws))
	} else {
		var wg sync.WaitGroup
		var next atomic.Int64
		for range workers {
			wg.Go(func() {
				for {
					lo := int(next.Add(checkChunk)) - checkChunk
					if lo >= len(raws) {
						return
					}
					f.checkRange(ctx, v, roomID, raws, checked, lo, min(lo+checkChunk, len(raws)))
				}
			})
		}
		wg.Wait()
	}
	out := checked[:0]
	for _, in := range checked {
		if in != nil {
			out = append(out, in)
		}
	}
	return out
}

// checkChunk is how many events a checkAll worker takes at a time.
const checkChunk = 64

// checkRange checks raws[lo:hi] into checked, leaving nil for those
// dropped.
func (f *Federation) checkRange(ctx context.Context, v *roomversion.Version, roomID string, raws []json.RawMessage, checked []*incoming, lo, hi int) {
	for i := lo; i < hi; i++ {
		in, err := f.checkIn(ctx, v, raws[i])
		if err == nil && in.roomID != roomID {
			err = fmt.Errorf("%w: event of room %s among those of %s", ErrPDUInvalid, in.roomID, roomID)
		}
		if err != nil {
			f.cfg.Logger.InfoContext(ctx, "fetched event dropped", "room_id", roomID, "err", err)
			continue
		}
		checked[i] = in
	}
}

// acceptOutliers stores events as outliers: in the order of their auth
// events, each is checked against its own auth events (check 4; the
// others need state an outlier does not have) and stored, rejected if it
// fails. Events already stored are skipped.
func (f *Federation) acceptOutliers(ctx context.Context, ins []*incoming) error {
	if len(ins) == 0 {
		return nil
	}
	byID := make(map[string]*incoming, len(ins))
	ids := make([]string, 0, len(ins))
	for _, in := range ins {
		if _, dup := byID[in.ev.EventID]; !dup {
			byID[in.ev.EventID] = in
			ids = append(ids, in.ev.EventID)
		}
	}
	stored, err := f.p.stores.Events.Events(ctx, ids)
	if err != nil {
		return err
	}
	for id := range stored {
		delete(byID, id)
	}
	batch := make([]core.NewEvent, 0, min(len(byID), outlierBatch))
	var done []*pdu.PDU
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := f.p.stores.Events.PersistEvents(ctx, batch, core.PersistOptions{}); err != nil {
			return err
		}
		for _, e := range done {
			f.p.cache.put(e)
		}
		batch, done = batch[:0], done[:0]
		return nil
	}
	accepted := make(map[string]*pdu.PDU, len(byID))
	fetch := func(id string) (*pdu.PDU, error) {
		if e := accepted[id]; e != nil {
			return e, nil
		}
		m, err := f.p.pdus(ctx, []string{id})
		if err != nil {
			return nil, err
		}
		return m[id], nil
	}
	for _, in := range authOrder(byID) {
		ev := in.ev
		ev.Internal.Outlier = true
		if err := eventauth.AuthorizeByAuthEvents(in.v, ev, fetch, nil); err != nil {
			if !errors.Is(err, eventauth.ErrUnauthorized) && !errors.Is(err, eventauth.ErrAuthEventNotFound) {
				return err
			}
			ev.Internal.Rejected = err.Error()
		}
		accepted[ev.EventID] = ev
		ne := newEvent(in.v, ev, in.js, Metadata{}, f.p.now())
		ne.RoomID = in.roomID
		ne.Outlier = true
		ne.Rejected = ev.Internal.Rejected
		batch = append(batch, ne)
		done = append(done, ev)
		if len(batch) == outlierBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// authOrder returns the events of byID with each after the auth events it
// names among them (ties and cycles broken by depth, then ID).
func authOrder(byID map[string]*incoming) []*incoming {
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		return cmp.Or(cmp.Compare(byID[a].ev.Depth, byID[b].ev.Depth), cmp.Compare(a, b))
	})
	out := make([]*incoming, 0, len(ids))
	state := make(map[string]int, len(ids)) // 1 visiting, 2 done
	var visit func(id string)
	visit = func(id string) {
		in := byID[id]
		if in == nil || state[id] != 0 {
			return
		}
		state[id] = 1
		for _, a := range in.ev.AuthEvents {
			visit(a)
		}
		state[id] = 2
		out = append(out, in)
	}
	for _, id := range ids {
		visit(id)
	}
	return out
}

// missingEvents asks origin for the events between the room's forward
// extremities and in (POST /get_missing_events) and returns those that pass
// the stateless checks, oldest first, in left out. Failures are logged:
// what is still missing is then treated as a gap.
func (f *Federation) missingEvents(ctx context.Context, origin string, in *incoming) []*incoming {
	if f.cfg.Client == nil {
		return nil
	}
	exts, err := f.p.stores.Timeline.ForwardExtremities(ctx, in.ev.RoomID, maxPrevEvents)
	if err != nil {
		f.cfg.Logger.InfoContext(ctx, "get_missing_events not sent", "event_id", in.ev.EventID, "err", err)
		return nil
	}
	earliest := make([]string, len(exts))
	for i, e := range exts {
		earliest[i] = e.EventID
	}
	body := map[string]any{
		"earliest_events": earliest,
		"latest_events":   []string{in.ev.EventID},
		"limit":           missingEventsLimit,
		"min_depth":       0,
	}
	var resp struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := f.cfg.Client.Request(ctx, origin, "POST", pathGetMissingEvents+url.PathEscape(in.ev.RoomID), body, &resp); err != nil {
		f.cfg.Logger.InfoContext(ctx, "get_missing_events failed", "origin", origin, "event_id", in.ev.EventID, "err", err)
		return nil
	}
	got := f.checkAll(ctx, in.v, in.ev.RoomID, resp.Events)
	got = slices.DeleteFunc(got, func(m *incoming) bool { return m.ev.EventID == in.ev.EventID })
	slices.SortStableFunc(got, func(a, b *incoming) int { return cmp.Compare(a.ev.Depth, b.ev.Depth) })
	return got
}

// stateAfterGap returns the state after prevID, a prev_event of in the
// server does not have in its DAG: the state before it from origin (GET
// /state_ids, the events not stored fetched with /event or /state and
// stored as outliers), with prevID itself (fetched too) when it is an
// accepted state event.
func (f *Federation) stateAfterGap(ctx context.Context, origin string, in *incoming, prevID string) (core.StateMap, error) {
	if f.cfg.Client == nil {
		return nil, errNoClient
	}
	roomID := in.ev.RoomID
	query := "?event_id=" + url.QueryEscape(prevID)
	var ids struct {
		PDUIDs       []string `json:"pdu_ids"`
		AuthChainIDs []string `json:"auth_chain_ids"`
	}
	if err := f.cfg.Client.Request(ctx, origin, "GET", pathStateIDs+url.PathEscape(roomID)+query, nil, &ids); err != nil {
		return nil, fmt.Errorf("room: fetching the state at %s from %s: %w", prevID, origin, err)
	}
	want := slices.Concat(ids.AuthChainIDs, ids.PDUIDs, []string{prevID})
	have, err := f.p.stores.Events.Events(ctx, want)
	if err != nil {
		return nil, err
	}
	var unknown []string
	for _, id := range slices.Compact(slices.Sorted(slices.Values(want))) {
		if have[id] == nil {
			unknown = append(unknown, id)
		}
	}
	var fetched []*incoming
	if len(unknown) > stateFetchThreshold {
		var st struct {
			PDUs      []json.RawMessage `json:"pdus"`
			AuthChain []json.RawMessage `json:"auth_chain"`
		}
		if err := f.cfg.Client.Request(ctx, origin, "GET", pathState+url.PathEscape(roomID)+query, nil, &st); err != nil {
			return nil, fmt.Errorf("room: fetching the state at %s from %s: %w", prevID, origin, err)
		}
		fetched = f.checkAll(ctx, in.v, roomID, slices.Concat(st.AuthChain, st.PDUs))
		unknown = slices.DeleteFunc(unknown, func(id string) bool {
			return slices.ContainsFunc(fetched, func(x *incoming) bool { return x.ev.EventID == id })
		})
	}
	for _, id := range unknown {
		e, err := f.fetchEvent(ctx, origin, in.v, roomID, id)
		if err != nil {
			f.cfg.Logger.InfoContext(ctx, "event at a gap not fetched", "origin", origin, "event_id", id, "err", err)
			continue
		}
		fetched = append(fetched, e)
	}
	if err := f.acceptOutliers(ctx, fetched); err != nil {
		return nil, err
	}
	evs, err := f.p.pdus(ctx, append(ids.PDUIDs, prevID))
	if err != nil {
		return nil, err
	}
	state := make(core.StateMap, len(ids.PDUIDs)+1)
	for _, id := range ids.PDUIDs {
		e := evs[id]
		if e == nil || e.StateKey == nil || roomIDOf(in.v, e) != roomID || e.Internal.Rejected != "" {
			continue
		}
		state[core.StateKey{Type: e.Type, StateKey: *e.StateKey}] = id
	}
	prev := evs[prevID]
	if prev == nil {
		return nil, fmt.Errorf("room: prev_event %s of %s could not be fetched from %s", prevID, in.ev.EventID, origin)
	}
	if prev.StateKey != nil && prev.Internal.Rejected == "" {
		state[core.StateKey{Type: prev.Type, StateKey: *prev.StateKey}] = prevID
	}
	if state[keyCreate] == "" {
		return nil, fmt.Errorf("room: the state at %s from %s has no m.room.create", prevID, origin)
	}
	return state, nil
}

// fetchEvent fetches one event of roomID from destination (GET /event) and
// applies the stateless checks to it.
func (f *Federation) fetchEvent(ctx context.Context, destination string, v *roomversion.Version, roomID, eventID string) (*incoming, error) {
	var resp struct {
		PDUs []json.RawMessage `json:"pdus"`
	}
	if err := f.cfg.Client.Request(ctx, destination, "GET", pathEvent+url.PathEscape(eventID), nil, &resp); err != nil {
		return nil, err
	}
	if len(resp.PDUs) != 1 {
		return nil, fmt.Errorf("%w: /event answered with %d PDUs", ErrPDUInvalid, len(resp.PDUs))
	}
	in, err := f.checkIn(ctx, v, resp.PDUs[0])
	if err != nil {
		return nil, err
	}
	if in.ev.EventID != eventID || in.roomID != roomID {
		return nil, fmt.Errorf("%w: asked for %s of %s, got %s of %s", ErrPDUInvalid, eventID, roomID, in.ev.EventID, in.roomID)
	}
	return in, nil
}
