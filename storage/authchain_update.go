package storage

import (
	"context"
	"encoding/json"
	"fmt"
)

// updateAuthChains is the background update that indexes the state events
// stored before the auth chain index existed (delta 2/32), in event_nid
// order, which is the order they were stored in, so auth events mostly
// come first; an event whose auth events are not indexed yet waits and is
// indexed with the batch that indexes them.
const updateAuthChains = "event_auth_chains"

// builtinUpdates are the background updates storage's own deltas schedule;
// every runner has them.
var builtinUpdates = map[string]BackgroundUpdate{
	updateAuthChains: indexStoredAuthChains,
}

const sqlUnindexedStateEvents = `
	SELECT e.event_nid, e.event_id, e.room_nid, e.type, e.state_key,
		coalesce('{"auth_events":' || aset.auth_events || '}', j.json)
	FROM events e JOIN event_json j ON j.event_nid = e.event_nid` + eventJSONJoin + `
	WHERE e.event_nid > ? AND e.state_key IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM event_auth_chains c WHERE c.event_nid = e.event_nid)
		AND NOT EXISTS (SELECT 1 FROM event_auth_chain_to_calculate t WHERE t.event_nid = e.event_nid)
	ORDER BY e.event_nid LIMIT ?`

func indexStoredAuthChains(ctx context.Context, q Queryer, progress json.RawMessage, batchSize int) (json.RawMessage, int, bool, error) {
	var p struct {
		Last int64 `json:"last_event_nid"`
	}
	if err := json.Unmarshal(progress, &p); err != nil {
		return nil, 0, false, fmt.Errorf("progress %s: %w", progress, err)
	}
	rows, err := q.QueryContext(ctx, sqlUnindexedStateEvents, p.Last, batchSize)
	if err != nil {
		return nil, 0, false, err
	}
	var evs []*chainEvent
	for rows.Next() {
		e := &chainEvent{}
		var js []byte
		if err := rows.Scan(&e.nid, &e.id, &e.room, &e.typ, &e.stateKey, &js); err != nil {
			rows.Close()
			return nil, 0, false, err
		}
		p.Last = e.nid
		if e.auth, err = authEventsOf(js); err != nil {
			continue // not an event the index can take: asked about, it answers "not indexed"
		}
		evs = append(evs, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, false, err
	}
	x := newChainIndexer(ctx, q)
	if _, err := x.index(evs); err != nil {
		return nil, 0, false, err
	}
	if err := x.indexWaiting(); err != nil {
		return nil, 0, false, err
	}
	if err := x.flush(); err != nil {
		return nil, 0, false, err
	}
	next, _ := json.Marshal(p)
	return next, len(evs), len(evs) < batchSize, nil
}
