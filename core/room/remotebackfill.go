package room

import (
	"cmp"
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
)

// maxBackfillFrom is how many backward extremities one /backfill request
// starts from (Synapse sends at most 5).
const maxBackfillFrom = 5

const pathBackfill = "/_matrix/federation/v1/backfill/"

// Backfill fetches history of roomID from before the events the server
// has (its backward extremities, seed 004) from the other servers in the
// room, one after another until one gives something: GET /backfill, each
// event checked as on receipt (except against the current state) and
// persisted with a negative stream ordering, so /sync never sees it and
// /messages finds it before what it had. It returns how many events were
// added. Servers that fail are logged and skipped; having no backward
// extremity, no other server or no federation client adds nothing.
func (f *Federation) Backfill(ctx context.Context, roomID string, limit int) (int, error) {
	if f.cfg.Client == nil {
		return 0, nil
	}
	v, err := f.p.Version(ctx, roomID)
	if err != nil {
		return 0, err
	}
	from, err := f.p.stores.Timeline.BackwardExtremities(ctx, roomID)
	if err != nil || len(from) == 0 {
		return 0, err
	}
	from = from[:min(len(from), maxBackfillFrom)]
	servers, err := f.serversInRoom(ctx, roomID)
	if err != nil {
		return 0, err
	}
	limit = min(max(limit, 1), MaxBackfill)
	q := url.Values{"v": from, "limit": {strconv.Itoa(limit)}}
	path := pathBackfill + url.PathEscape(roomID) + "?" + q.Encode()
	for _, server := range servers {
		var resp struct {
			PDUs []json.RawMessage `json:"pdus"`
		}
		if err := f.cfg.Client.Request(ctx, server, "GET", path, nil, &resp); err != nil {
			f.cfg.Logger.InfoContext(ctx, "backfill failed", "server", server, "room_id", roomID, "err", err)
			continue
		}
		got := f.checkAll(ctx, v, roomID, resp.PDUs)
		slices.SortStableFunc(got, func(a, b *incoming) int { return cmp.Compare(a.ev.Depth, b.ev.Depth) })
		n, err := f.takeBackfilled(ctx, server, roomID, got)
		if err != nil {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, nil
}

// takeBackfilled takes in backfilled events, oldest first, under the
// room's lock, and returns how many were added. What they lack is fetched
// from server before the lock is taken (prefetch).
func (f *Federation) takeBackfilled(ctx context.Context, server, roomID string, ins []*incoming) (int, error) {
	for _, in := range ins {
		in.backfilled = true
	}
	ins = f.prefetch(ctx, server, ins, false)
	unlock := f.p.lockRoom(roomID)
	defer unlock()
	// Read what the lock's last holder committed.
	core.ReleaseReads(ctx)
	ids := make([]string, len(ins))
	for i, in := range ins {
		ids[i] = in.ev.EventID
	}
	stored, err := f.p.stores.Events.Events(ctx, ids)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, in := range ins {
		if se := stored[in.ev.EventID]; se != nil && !se.Outlier {
			continue
		}
		if err := f.receive(ctx, server, in, nil); err != nil {
			f.cfg.Logger.InfoContext(ctx, "backfilled event not accepted", "server", server, "event_id", in.ev.EventID, "err", err)
			continue
		}
		n++
	}
	return n, nil
}

// ServersInRoom returns the other servers with a member joined to roomID
// in its current state, sorted: where its events and EDUs go.
func (f *Federation) ServersInRoom(ctx context.Context, roomID string) ([]string, error) {
	return f.serversInRoom(ctx, roomID)
}

// serversInRoom is ServersInRoom.
func (f *Federation) serversInRoom(ctx context.Context, roomID string) ([]string, error) {
	st, err := f.p.stores.State.CurrentState(ctx, roomID, core.StateTypes(eventauth.TypeMember))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(st))
	for _, id := range st {
		ids = append(ids, id)
	}
	evs, err := f.p.pdus(ctx, ids)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for k, id := range st {
		d := domainOf(k.StateKey)
		if d == "" || d == f.p.cfg.ServerName || seen[d] {
			continue
		}
		if e := evs[id]; e != nil && contentString(e.Content, "membership") == eventauth.MembershipJoin {
			seen[d] = true
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out, nil
}
