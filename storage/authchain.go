package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"hearth.dev/hearth/core"
)

// The auth chain index is Synapse's chain cover index
// (docs/auth_chain_difference_algorithm.md in Synapse): every indexed event
// has a position (chain, sequence number), and
//
//   - an event reaches every event of its own chain with a lower sequence
//     number (a chain only grows by an event whose auth events hold the
//     chain's last event);
//   - an event at (c, s) reaches the events of chain t up to sequence m,
//     where m is the greatest target sequence number of the links from c at
//     an origin sequence number ≤ s.
//
// Links are kept transitively closed, so the auth chain of any set of
// events is two indexed queries, whatever its length. A new event extends
// the chain of an auth event of the same type and state key when that
// event is its chain's last (successive power levels, successive
// memberships of one user) in the same room, otherwise it starts a chain
// (so a chain never spans rooms, and purging a room takes its chains); it adds a link
// only for the chains it reaches further than its chain already did.
//
// We keep this rather than a closure table (one row per event and
// ancestor): a member event's auth chain holds every power levels and join
// rules event before it, so a closure table grows with members × power
// changes, while the chain cover stores about one row per event plus a few
// links per chain. And unlike walking auth_events, which decodes every
// event of the chains, it answers without reading any event JSON.
//
// Only state events are indexed, as in Synapse: auth events are state
// events, and a message's auth chain is its auth events' chains. An event
// whose auth events are not all indexed waits in
// event_auth_chain_to_calculate and is indexed in the write that indexes
// its last missing auth event.

// chainPos is an event's place in the index. chain 0 means not indexed.
type chainPos struct{ chain, seq int64 }

// chainEvent is an event to index.
type chainEvent struct {
	id       string
	nid      int64
	room     int64
	typ      string
	stateKey string
	auth     []string
	waiting  bool // it has a row in event_auth_chain_to_calculate
}

// knownEvent is what the indexer knows of an event the batch refers to.
type knownEvent struct {
	room     int64
	typ      string
	stateKey sql.NullString
	pos      chainPos
}

// chainIndexer indexes events inside one write transaction. Its caches
// live as long as the write, so a rolled back write leaves nothing behind.
type chainIndexer struct {
	ctx       context.Context
	q         Queryer
	known     map[string]knownEvent
	reach     map[chainPos]map[int64]int64
	last      map[int64]int64
	nextChain int64
	newChains bool          // chain IDs given out that flush has not recorded
	fresh     []*chainEvent // indexed since indexWaiting last looked
}

func newChainIndexer(ctx context.Context, q Queryer) *chainIndexer {
	return &chainIndexer{ctx: ctx, q: q, known: map[string]knownEvent{},
		reach: map[chainPos]map[int64]int64{}, last: map[int64]int64{}}
}

// authEventsOf returns the auth event IDs of an event's JSON: event ID
// strings, or (room versions 1 and 2) [event ID, hashes] pairs.
func authEventsOf(js []byte) ([]string, error) {
	var ev struct {
		AuthEvents []json.RawMessage `json:"auth_events"`
	}
	if err := json.Unmarshal(js, &ev); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ev.AuthEvents))
	for _, raw := range ev.AuthEvents {
		var id string
		if json.Unmarshal(raw, &id) != nil {
			var pair []json.RawMessage
			if json.Unmarshal(raw, &pair) != nil || len(pair) == 0 || json.Unmarshal(pair[0], &id) != nil {
				return nil, fmt.Errorf("auth_events entry %s is neither an event ID nor a reference", raw)
			}
		}
		out = append(out, id)
	}
	return out, nil
}

const sqlChainKnown = `
	SELECT e.event_id, e.room_nid, e.type, e.state_key, coalesce(c.chain_id, 0), coalesce(c.sequence_number, 0)
	FROM json_each(?) j CROSS JOIN events e ON e.event_id = j.value
	LEFT JOIN event_auth_chains c ON c.event_nid = e.event_nid`

// load learns what is stored of ids not known yet.
func (x *chainIndexer) load(ids []string) error {
	var want []string
	for _, id := range ids {
		if _, ok := x.known[id]; !ok {
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		return nil
	}
	js, _ := json.Marshal(want)
	rows, err := x.q.QueryContext(x.ctx, sqlChainKnown, string(js))
	if err != nil {
		return fmt.Errorf("storage: auth chain positions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var k knownEvent
		if err := rows.Scan(&id, &k.room, &k.typ, &k.stateKey, &k.pos.chain, &k.pos.seq); err != nil {
			return err
		}
		x.known[id] = k
	}
	return rows.Err()
}

const sqlChainReach = `
	SELECT target_chain_id, max(target_sequence_number) FROM event_auth_chain_links
	WHERE origin_chain_id = ? AND origin_sequence_number <= ? GROUP BY target_chain_id`

// reachOf returns, for each other chain, the highest sequence number the
// event at pos reaches.
func (x *chainIndexer) reachOf(pos chainPos) (map[int64]int64, error) {
	if r, ok := x.reach[pos]; ok {
		return r, nil
	}
	rows, err := x.q.QueryContext(x.ctx, sqlChainReach, pos.chain, pos.seq)
	if err != nil {
		return nil, fmt.Errorf("storage: auth chain links: %w", err)
	}
	defer rows.Close()
	r := map[int64]int64{}
	for rows.Next() {
		var c, s int64
		if err := rows.Scan(&c, &s); err != nil {
			return nil, err
		}
		r[c] = s
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	x.reach[pos] = r
	return r, nil
}

// lastSeq returns the highest sequence number of chain.
func (x *chainIndexer) lastSeq(chain int64) (int64, error) {
	if s, ok := x.last[chain]; ok {
		return s, nil
	}
	var s int64
	err := x.q.QueryRowContext(x.ctx,
		"SELECT coalesce(max(sequence_number), 0) FROM event_auth_chains WHERE chain_id = ?", chain).Scan(&s)
	if err != nil {
		return 0, fmt.Errorf("storage: auth chain %d: %w", chain, err)
	}
	x.last[chain] = s
	return s, nil
}

// newChain gives out a chain ID. IDs are never given twice, not even after
// a purge took a chain's events: the last one given out is kept in
// stream_positions ('auth_chains'), written by flush.
func (x *chainIndexer) newChain() (int64, error) {
	if x.nextChain == 0 {
		if err := x.q.QueryRowContext(x.ctx, `
			SELECT max(coalesce((SELECT stream_id FROM stream_positions WHERE stream_name = 'auth_chains'), 0),
				coalesce((SELECT max(chain_id) FROM event_auth_chains), 0)) + 1`).Scan(&x.nextChain); err != nil {
			return 0, fmt.Errorf("storage: new auth chain: %w", err)
		}
	}
	c := x.nextChain
	x.nextChain++
	x.newChains = true
	return c, nil
}

// flush records the chain IDs given out.
func (x *chainIndexer) flush() error {
	if !x.newChains {
		return nil
	}
	_, err := x.q.ExecContext(x.ctx, `
		INSERT INTO stream_positions (stream_name, stream_id) VALUES ('auth_chains', ?)
		ON CONFLICT (stream_name) DO UPDATE SET stream_id = excluded.stream_id`, x.nextChain-1)
	if err != nil {
		return fmt.Errorf("storage: auth chain IDs: %w", err)
	}
	x.newChains = false
	return nil
}

// index indexes the events whose auth events are indexed or among evs,
// in an order where auth events come first, and records the others as
// waiting. It returns how many it indexed.
func (x *chainIndexer) index(evs []*chainEvent) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	inBatch := make(map[string]*chainEvent, len(evs))
	var refs []string
	for _, e := range evs {
		inBatch[e.id] = e
	}
	for _, e := range evs {
		for _, a := range e.auth {
			if inBatch[a] == nil {
				refs = append(refs, a)
			}
		}
	}
	if err := x.load(refs); err != nil {
		return 0, err
	}
	// Kahn's algorithm over the batch: pending counts the auth events in
	// the batch not indexed yet; an event with an auth event outside the
	// batch that is not indexed waits.
	pending := make(map[*chainEvent]int, len(evs))
	dependents := map[string][]*chainEvent{}
	blocked := map[*chainEvent]bool{}
	var ready []*chainEvent
	for _, e := range evs {
		for _, a := range uniq(e.auth) {
			switch {
			case inBatch[a] != nil && a != e.id:
				pending[e]++
				dependents[a] = append(dependents[a], e)
			case x.known[a].pos.chain == 0:
				blocked[e] = true
			}
		}
		if pending[e] == 0 && !blocked[e] {
			ready = append(ready, e)
		}
	}
	done := 0
	for len(ready) > 0 {
		e := ready[0]
		ready = ready[1:]
		if err := x.assign(e); err != nil {
			return done, err
		}
		done++
		for _, d := range dependents[e.id] {
			pending[d]--
			if pending[d] == 0 && !blocked[d] {
				ready = append(ready, d)
			}
		}
	}
	for _, e := range evs {
		if x.known[e.id].pos.chain != 0 || e.waiting {
			continue
		}
		auth, _ := json.Marshal(e.auth)
		if _, err := x.q.ExecContext(x.ctx, `
			INSERT INTO event_auth_chain_to_calculate (event_nid, room_nid, auth_event_ids) VALUES (?, ?, ?)
			ON CONFLICT (event_nid) DO NOTHING`, e.nid, e.room, string(auth)); err != nil {
			return done, fmt.Errorf("storage: auth chain of %s: %w", e.id, err)
		}
		e.waiting = true
	}
	return done, nil
}

func uniq(ids []string) []string {
	if len(ids) < 2 {
		return ids
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// assign gives e its position and links; its auth events are indexed.
func (x *chainIndexer) assign(e *chainEvent) error {
	reach := map[int64]int64{}
	raise := func(c, s int64) {
		if s > reach[c] {
			reach[c] = s
		}
	}
	var extend chainPos
	for _, a := range uniq(e.auth) {
		k := x.known[a]
		raise(k.pos.chain, k.pos.seq)
		r, err := x.reachOf(k.pos)
		if err != nil {
			return err
		}
		for c, s := range r {
			raise(c, s)
		}
		if extend.chain == 0 && k.room == e.room && k.typ == e.typ && k.stateKey.Valid && k.stateKey.String == e.stateKey {
			last, err := x.lastSeq(k.pos.chain)
			if err != nil {
				return err
			}
			if last == k.pos.seq {
				extend = k.pos
			}
		}
	}
	var pos chainPos
	base := map[int64]int64{}
	if extend.chain != 0 {
		pos = chainPos{extend.chain, extend.seq + 1}
		var err error
		if base, err = x.reachOf(extend); err != nil {
			return err
		}
	} else {
		c, err := x.newChain()
		if err != nil {
			return err
		}
		pos = chainPos{c, 1}
	}
	if _, err := x.q.ExecContext(x.ctx,
		"INSERT INTO event_auth_chains (event_nid, chain_id, sequence_number) VALUES (?, ?, ?)",
		e.nid, pos.chain, pos.seq); err != nil {
		return fmt.Errorf("storage: auth chain of %s: %w", e.id, err)
	}
	own := make(map[int64]int64, len(reach))
	for c, s := range reach {
		if c == pos.chain {
			continue
		}
		own[c] = s
		if s <= base[c] {
			continue // the chain already reaches that far below e
		}
		if _, err := x.q.ExecContext(x.ctx, `
			INSERT INTO event_auth_chain_links (origin_chain_id, origin_sequence_number, target_chain_id, target_sequence_number)
			VALUES (?, ?, ?, ?)`, pos.chain, pos.seq, c, s); err != nil {
			return fmt.Errorf("storage: auth chain links of %s: %w", e.id, err)
		}
	}
	if e.waiting {
		if _, err := x.q.ExecContext(x.ctx,
			"DELETE FROM event_auth_chain_to_calculate WHERE event_nid = ?", e.nid); err != nil {
			return fmt.Errorf("storage: auth chain of %s: %w", e.id, err)
		}
		e.waiting = false
	}
	x.reach[pos] = own
	x.last[pos.chain] = pos.seq
	x.fresh = append(x.fresh, e)
	x.known[e.id] = knownEvent{room: e.room, typ: e.typ, stateKey: sql.NullString{String: e.stateKey, Valid: true}, pos: pos}
	return nil
}

const sqlChainWaiting = `
	SELECT t.event_nid, e.event_id, t.room_nid, e.type, coalesce(e.state_key, ''), t.auth_event_ids
	FROM event_auth_chain_to_calculate t JOIN events e ON e.event_nid = t.event_nid
	WHERE t.room_nid IN (SELECT value FROM json_each(?1))
		AND EXISTS (SELECT 1 FROM json_each(t.auth_event_ids) a WHERE a.value IN (SELECT value FROM json_each(?2)))`

// indexWaiting indexes the waiting events that cite an event this indexer
// has just indexed, round after round while that makes progress.
func (x *chainIndexer) indexWaiting() error {
	for len(x.fresh) > 0 {
		fresh := x.fresh
		x.fresh = nil
		rooms := map[int64]bool{}
		ids := make([]string, len(fresh))
		for i, e := range fresh {
			rooms[e.room] = true
			ids[i] = e.id
		}
		evs, err := x.waitingOn(slices.Collect(maps.Keys(rooms)), ids)
		if err != nil {
			return err
		}
		if _, err := x.index(evs); err != nil {
			return err
		}
	}
	return nil
}

func (x *chainIndexer) waitingOn(rooms []int64, ids []string) ([]*chainEvent, error) {
	rjs, _ := json.Marshal(rooms)
	ijs, _ := json.Marshal(ids)
	rows, err := x.q.QueryContext(x.ctx, sqlChainWaiting, string(rjs), string(ijs))
	if err != nil {
		return nil, fmt.Errorf("storage: events waiting for the auth chain index: %w", err)
	}
	defer rows.Close()
	var out []*chainEvent
	for rows.Next() {
		e := &chainEvent{waiting: true}
		var auth string
		if err := rows.Scan(&e.nid, &e.id, &e.room, &e.typ, &e.stateKey, &auth); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(auth), &e.auth); err != nil {
			return nil, fmt.Errorf("storage: auth events of %s: %w", e.id, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// indexNew indexes the state events a write stored; see the comment at
// the top of this file.
func (x *chainIndexer) indexNew(evs []*chainEvent) error {
	if len(evs) == 0 {
		return nil
	}
	if _, err := x.index(evs); err != nil {
		return err
	}
	if err := x.indexWaiting(); err != nil {
		return err
	}
	return x.flush()
}

// chain queues a newly stored state event for the auth chain index, which
// the write indexes after its last event.
func (p *persister) chain(ev *core.NewEvent, room, nid int64) error {
	if ev.StateKey == nil {
		return nil
	}
	auth := ev.AuthEvents
	if auth == nil {
		var err error
		if auth, err = authEventsOf(ev.JSON); err != nil {
			return nil // left out of the index: asked about, it answers "not indexed"
		}
	}
	p.chained = append(p.chained, &chainEvent{id: ev.EventID, nid: nid, room: room,
		typ: ev.Type, stateKey: *ev.StateKey, auth: auth})
	return nil
}
