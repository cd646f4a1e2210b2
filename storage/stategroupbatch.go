package storage

// Reading the states of many groups at once: StatesAt walks the chains of
// all the groups it is asked about in one statement and reads the rows of
// every group on them in another, where a group at a time takes three
// statements (room, chain, rows). A /sync checks the history visibility of
// the events of tens of rooms, each at its own group.

import (
	"encoding/json"
	"fmt"

	"hearth.dev/hearth/core"
)

// sqlStateChains lists, for each group of a JSON array that exists (?1),
// the groups from it to its snapshot, nearest first.
const sqlStateChains = `
	WITH RECURSIVE chain(start, g, n) AS (
		SELECT id, id, 0 FROM state_groups WHERE id IN (SELECT value FROM json_each(?1))
		UNION ALL
		SELECT c.start, e.prev_state_group, c.n + 1 FROM chain c
		JOIN state_group_edges e ON e.state_group = c.g
		WHERE c.n < ?2
	)
	SELECT start, g FROM chain ORDER BY start, n`

// stateRowsSQL returns the query that reads the rows selected by filter of
// the groups of a JSON array of distinct groups (?1), with the filter's
// arguments. (The CROSS JOIN keeps SQLite looking each group up: with an
// OR of types it would otherwise scan the table for the types.)
func stateRowsSQL(filter core.StateFilter) (string, []any) {
	where, args := stateFilterSQL(filter, "s.type", "s.state_key")
	return `
		SELECT s.state_group, s.type, s.state_key, s.event_id
		FROM json_each(?1) j CROSS JOIN state_groups_state s ON s.state_group = j.value
		WHERE ` + where, args
}

// stateRow is one row of state_groups_state.
type stateRow struct {
	key     core.StateKey
	eventID string
}

// statesAt returns the part selected by filter of the state of each of
// groups (none cached whole): one statement walks all their chains, each
// cut at its nearest group in the cache, and one reads the rows of the
// groups left on them. It returns an error wrapping core.ErrNotFound for a
// group that does not exist.
func statesAt(r reader, cache *stateCache, groups []int64, filter core.StateFilter, rowsQuery string, args []any) (map[int64]core.StateMap, error) {
	ids, err := json.Marshal(groups)
	if err != nil {
		return nil, err
	}
	rows, err := r.query(sqlStateChains, string(ids), maxChainWalk)
	if err != nil {
		return nil, fmt.Errorf("storage: chains of state groups: %w", err)
	}
	// chains[start] are the groups whose rows make start's state over
	// base[start], nearest first.
	chains := make(map[int64][]int64, len(groups))
	base := make(map[int64]core.StateMap, len(groups))
	cut := map[int64]bool{} // the chain reached a cached group
	for rows.Next() {
		var start, g int64
		if err := rows.Scan(&start, &g); err != nil {
			rows.Close()
			return nil, fmt.Errorf("storage: chains of state groups: %w", err)
		}
		if cut[start] {
			continue
		}
		if state, ok := cache.lookup(g, filter); ok {
			base[start] = state
			cut[start] = true
			continue
		}
		chains[start] = append(chains[start], g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: chains of state groups: %w", err)
	}
	need := map[int64]bool{}
	var list []int64
	for _, g := range groups {
		if _, ok := chains[g]; !ok && !cut[g] {
			return nil, notFound("state group %d", g)
		}
		for _, c := range chains[g] {
			if !need[c] {
				need[c] = true
				list = append(list, c)
			}
		}
	}
	byGroup := map[int64][]stateRow{}
	if len(list) > 0 {
		if ids, err = json.Marshal(list); err != nil {
			return nil, err
		}
		rows, err := r.query(rowsQuery, append([]any{string(ids)}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("storage: state of groups: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var g int64
			var row stateRow
			if err := rows.Scan(&g, &row.key.Type, &row.key.StateKey, &row.eventID); err != nil {
				return nil, fmt.Errorf("storage: state of groups: %w", err)
			}
			byGroup[g] = append(byGroup[g], row)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("storage: state of groups: %w", err)
		}
	}
	out := make(map[int64]core.StateMap, len(groups))
	for _, g := range groups {
		if _, done := out[g]; done {
			continue
		}
		state := base[g] // a map of its own (lookup's), or nil
		if state == nil {
			state = core.StateMap{}
		}
		chain := chains[g]
		// From the group farthest from g to g: the nearest entry wins.
		for i := len(chain) - 1; i >= 0; i-- {
			for _, row := range byGroup[chain[i]] {
				if row.eventID == "" {
					delete(state, row.key)
				} else {
					state[row.key] = row.eventID
				}
			}
		}
		out[g] = state
	}
	return out, nil
}
