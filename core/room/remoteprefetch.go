package room

import (
	"context"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
)

// prefetch fetches from origin, without the room's lock, what the PDUs ins
// (of one room, oldest first) lack to be taken in: their auth events
// (stored as outliers), the events between the room's forward extremities
// and them (get_missing_events), and the state after each prev_event that
// is still missing (/state_ids and /event, the events stored as outliers).
// It returns ins with the events get_missing_events gave placed before the
// PDU they lead to, marked extra. Without askMissing (history taken in
// with /backfill, whose prev_events are older still), get_missing_events
// is not sent.
//
// What it fetches is what other servers' DAG holds, which no local write
// changes, so receive uses it under the lock after looking again at what
// is stored; only what prefetch could not foresee (an event expected
// before another that was then not accepted) is fetched under the lock.
// Errors are left for receive to meet and report.
func (f *Federation) prefetch(ctx context.Context, origin string, ins []*incoming, askMissing bool) []*incoming {
	out := make([]*incoming, 0, len(ins))
	if f.cfg.Client == nil {
		return append(out, ins...)
	}
	// One read for what is stored of all of them and their prev_events.
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ev.EventID)
		ids = append(ids, in.ev.PrevEvents...)
	}
	stored, err := f.p.stores.Events.Events(ctx, ids)
	if err != nil {
		return append(out, ins...) // receive meets the error again
	}
	coming := map[string]bool{} // events received before the next one
	for _, in := range ins {
		for _, m := range f.prefetchOne(ctx, origin, in, stored, coming, askMissing) {
			m.extra = true
			out = append(out, m)
			coming[m.ev.EventID] = true
		}
		out = append(out, in)
		coming[in.ev.EventID] = true
	}
	return out
}

// prefetchOne fetches what in lacks and returns the missing events that
// lead to it.
func (f *Federation) prefetchOne(ctx context.Context, origin string, in *incoming, stored map[string]*core.StoredEvent, coming map[string]bool, askMissing bool) []*incoming {
	ev := in.ev
	if se := stored[ev.EventID]; se != nil && !se.Outlier {
		return nil // seen before
	}
	if err := f.ensureAuthEvents(ctx, origin, in); err != nil {
		return nil
	}
	if len(f.missingOf(in, stored, coming)) == 0 {
		return nil
	}
	if !f.authorizedByAuthEvents(ctx, origin, in) {
		return nil // rejected whatever its prev_events: nothing more to fetch
	}
	var extra, fetched []*incoming
	if askMissing {
		fetched = f.missingEvents(ctx, origin, in)
	}
	for _, m := range fetched {
		if coming[m.ev.EventID] {
			continue
		}
		ms, err := f.p.stores.Events.Events(ctx, append([]string{m.ev.EventID}, m.ev.PrevEvents...))
		if err != nil {
			continue
		}
		if se := ms[m.ev.EventID]; se != nil && !se.Outlier {
			continue
		}
		if f.authorizedByAuthEvents(ctx, origin, m) {
			f.prefetchGaps(ctx, origin, m, ms, coming)
		}
		extra = append(extra, m)
		coming[m.ev.EventID] = true
	}
	f.prefetchGaps(ctx, origin, in, stored, coming)
	return extra
}

// authorizedByAuthEvents stores in's auth events (fetched when missing)
// and reports whether in passes the auth rules against them (check 4).
func (f *Federation) authorizedByAuthEvents(ctx context.Context, origin string, in *incoming) bool {
	if err := f.ensureAuthEvents(ctx, origin, in); err != nil {
		return false
	}
	err := eventauth.AuthorizeByAuthEvents(in.v, in.ev, f.p.pduFunc(ctx), nil)
	return err == nil
}

// missingOf returns the prev_events of in neither stored in the DAG nor
// coming before it.
func (f *Federation) missingOf(in *incoming, stored map[string]*core.StoredEvent, coming map[string]bool) []string {
	var out []string
	for _, id := range missingPrevs(in.ev, stored) {
		if !coming[id] {
			out = append(out, id)
		}
	}
	return out
}

// prefetchGaps fetches the state after each prev_event of in that is
// missing, for gapState.
func (f *Federation) prefetchGaps(ctx context.Context, origin string, in *incoming, stored map[string]*core.StoredEvent, coming map[string]bool) {
	// The events get_missing_events gave are stored by now only if they
	// were before: look again.
	fresh, err := f.p.stores.Events.Events(ctx, in.ev.PrevEvents)
	if err == nil {
		stored = fresh
	}
	for _, id := range f.missingOf(in, stored, coming) {
		st, err := f.stateAfterGap(ctx, origin, in, id)
		if err != nil {
			if in.gapErrs == nil {
				in.gapErrs = map[string]error{}
			}
			in.gapErrs[id] = err
			continue
		}
		if in.gaps == nil {
			in.gaps = map[string]core.StateMap{}
		}
		in.gaps[id] = st
	}
}

// gapState is the state after prevID, a prev_event of in missing from the
// DAG: what prefetch fetched, or (when it could not foresee the gap)
// fetched now.
func (f *Federation) gapState(ctx context.Context, origin string, in *incoming, prevID string) (core.StateMap, error) {
	if st, ok := in.gaps[prevID]; ok {
		return st, nil
	}
	if err, ok := in.gapErrs[prevID]; ok {
		return nil, err
	}
	return f.stateAfterGap(ctx, origin, in, prevID)
}
