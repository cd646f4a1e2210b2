package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"hearth.dev/hearth/core"
)

var _ core.AuthChainStore = (*EventStore)(nil)

const sqlChainPositions = `
	SELECT e.event_id, c.chain_id, c.sequence_number
	FROM json_each(?) j CROSS JOIN events e ON e.event_id = j.value
	JOIN event_auth_chains c ON c.event_nid = e.event_nid`

// chainPositions returns the positions of ids, and false if one of them
// is not indexed. gen is the cache generation when the read began.
func (s *EventStore) chainPositions(ctx context.Context, q Queryer, gen uint64, ids []string) (map[string]chainPos, bool, error) {
	ids = uniq(ids)
	out := make(map[string]chainPos, len(ids))
	missing := s.db.chains.lookupPositions(ids, out)
	if len(missing) == 0 {
		return out, true, nil
	}
	js, _ := json.Marshal(missing)
	rows, err := q.QueryContext(ctx, sqlChainPositions, string(js))
	if err != nil {
		return nil, false, fmt.Errorf("storage: auth chain positions: %w", err)
	}
	defer rows.Close()
	found := make(map[string]chainPos, len(missing))
	for rows.Next() {
		var id string
		var p chainPos
		if err := rows.Scan(&id, &p.chain, &p.seq); err != nil {
			return nil, false, err
		}
		found[id] = p
		out[id] = p
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	s.db.chains.putPositions(gen, found)
	return out, len(out) == len(ids), nil
}

const sqlChainSetReach = `
	SELECT j.value ->> 0, j.value ->> 1, l.target_chain_id, max(l.target_sequence_number)
	FROM json_each(?) j CROSS JOIN event_auth_chain_links l
		ON l.origin_chain_id = j.value ->> 0 AND l.origin_sequence_number <= j.value ->> 1
	GROUP BY j.key, l.target_chain_id`

// setReach returns, per chain, the highest sequence number in the auth
// chain of the events at positions: below each event in its own chain, and
// what the links of its chain up to it reach.
//
// The events at positions in themselves are in the answer only if reached
// from another; those at inclusive are, as if cited.
func (s *EventStore) setReach(ctx context.Context, q Queryer, gen uint64, positions, inclusive []chainPos) (map[int64]int64, error) {
	top := map[int64]int64{}
	reach := map[int64]int64{}
	for _, p := range positions {
		top[p.chain] = max(top[p.chain], p.seq)
		if p.seq > 1 {
			reach[p.chain] = max(reach[p.chain], p.seq-1)
		}
	}
	for _, p := range inclusive {
		top[p.chain] = max(top[p.chain], p.seq)
		reach[p.chain] = max(reach[p.chain], p.seq)
	}
	tops := make([]chainPos, 0, len(top))
	for c, s := range top {
		tops = append(tops, chainPos{c, s})
	}
	known, missing := s.db.chains.lookupReaches(tops)
	if len(missing) > 0 {
		pairs := make([][2]int64, len(missing))
		fetched := make(map[chainPos]map[int64]int64, len(missing))
		for i, p := range missing {
			pairs[i] = [2]int64{p.chain, p.seq}
			fetched[p] = map[int64]int64{}
		}
		js, _ := json.Marshal(pairs)
		rows, err := q.QueryContext(ctx, sqlChainSetReach, string(js))
		if err != nil {
			return nil, fmt.Errorf("storage: auth chain links: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var p chainPos
			var c, s int64
			if err := rows.Scan(&p.chain, &p.seq, &c, &s); err != nil {
				return nil, err
			}
			fetched[p][c] = s
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		s.db.chains.putReaches(gen, fetched)
		for p, r := range fetched {
			known[p] = r
		}
	}
	for _, r := range known {
		for c, s := range r {
			if s > reach[c] {
				reach[c] = s
			}
		}
	}
	return reach, nil
}

const sqlChainRanges = `
	SELECT e.event_id
	FROM json_each(?) j CROSS JOIN event_auth_chains c
		ON c.chain_id = j.value ->> 0 AND c.sequence_number > j.value ->> 1 AND c.sequence_number <= j.value ->> 2
	JOIN events e ON e.event_nid = c.event_nid`

// chainRanges returns the IDs of the events at (chain, lo < seq ≤ hi)
// for each [chain, lo, hi].
func chainRanges(ctx context.Context, q Queryer, ranges [][3]int64) ([]string, error) {
	if len(ranges) == 0 {
		return []string{}, nil
	}
	js, _ := json.Marshal(ranges)
	rows, err := q.QueryContext(ctx, sqlChainRanges, string(js))
	if err != nil {
		return nil, fmt.Errorf("storage: auth chain events: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// AuthChain returns the union of the auth chains of eventIDs from the
// index; see core.AuthChainStore.
func (s *EventStore) AuthChain(ctx context.Context, eventIDs []string) ([]string, bool, error) {
	var out []string
	ok := false
	gen := s.db.chains.generation()
	err := s.db.Read(ctx, func(q Queryer) error {
		pos, all, err := s.chainPositions(ctx, q, gen, eventIDs)
		if err != nil || !all {
			return err
		}
		reach, err := s.setReach(ctx, q, gen, slices.Collect(maps.Values(pos)), nil)
		if err != nil {
			return err
		}
		ranges := make([][3]int64, 0, len(reach))
		for c, hi := range reach {
			ranges = append(ranges, [3]int64{c, 0, hi})
		}
		out, err = chainRanges(ctx, q, ranges)
		ok = err == nil
		return err
	})
	if err != nil || !ok {
		return nil, false, err
	}
	return out, true, nil
}

// AuthChainDifference returns the auth difference of the state sets from
// the index; see core.AuthChainStore.
func (s *EventStore) AuthChainDifference(ctx context.Context, sets []core.AuthChainSet) ([]string, bool, error) {
	if len(sets) == 0 {
		return []string{}, true, nil
	}
	var out []string
	ok := false
	gen := s.db.chains.generation()
	err := s.db.Read(ctx, func(q Queryer) error {
		var all []string
		for _, set := range sets {
			all = append(all, set.Events...)
			all = append(all, set.Chain...)
		}
		pos, complete, err := s.chainPositions(ctx, q, gen, all)
		if err != nil || !complete {
			return err
		}
		reaches := make([]map[int64]int64, len(sets))
		chains := map[int64]bool{}
		for i, set := range sets {
			ps := make([]chainPos, len(set.Events))
			for j, id := range set.Events {
				ps[j] = pos[id]
			}
			in := make([]chainPos, len(set.Chain))
			for j, id := range set.Chain {
				in[j] = pos[id]
			}
			if reaches[i], err = s.setReach(ctx, q, gen, ps, in); err != nil {
				return err
			}
			for c := range reaches[i] {
				chains[c] = true
			}
		}
		// In each chain, the events above the lowest reach of any set and
		// up to the highest are in some chains but not all.
		var ranges [][3]int64
		for c := range chains {
			lo, hi := reaches[0][c], reaches[0][c]
			for _, r := range reaches[1:] {
				lo, hi = min(lo, r[c]), max(hi, r[c])
			}
			if lo < hi {
				ranges = append(ranges, [3]int64{c, lo, hi})
			}
		}
		out, err = chainRanges(ctx, q, ranges)
		ok = err == nil
		return err
	})
	if err != nil || !ok {
		return nil, false, err
	}
	return out, true, nil
}
