package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"hearth.dev/hearth/core"
)

// State groups (seed 003) live in the logical database "state":
//
//	state_groups        id, room_id, event_id: one row per group
//	state_group_edges   state_group -> prev_state_group for a delta group
//	state_groups_state  the rows of a group: its full state when it has no
//	                    edge (a snapshot), else its changes from the
//	                    previous group, an empty event_id removing a key
//
// The state of a group is found by walking its chain of edges to a
// snapshot; for each key the entry nearest the group wins. A chain never
// grows past MaxStateGroupHops edges: the group that would exceed it is
// stored as a snapshot.

// StoreStateGroup records a new state group; see core.StateGroupStore.
func (s *EventStore) StoreStateGroup(ctx context.Context, roomID, eventID string, delta core.StateGroupDelta) (int64, error) {
	var id int64
	var created newGroupState
	err := s.db.Write(ctx, func(q Queryer) error {
		var err error
		id, created, err = storeStateGroup(ctx, q, &s.states, roomID, eventID, delta, s.maxHops())
		return err
	})
	if err != nil {
		return 0, err
	}
	s.states.remember([]newGroupState{created})
	return id, nil
}

// StateAt returns part of the state of group; see core.StateGroupStore.
func (s *EventStore) StateAt(ctx context.Context, group int64, filter core.StateFilter) (core.StateMap, error) {
	if state, ok := s.states.lookup(group, filter); ok {
		return state, nil
	}
	query, args := stateAtSQL(filter)
	var m core.StateMap
	err := s.read(ctx, []string{sqlStateGroupRoom, sqlStateChain, query}, func(r reader) error {
		var err error
		m, err = stateAt(r, &s.states, group, filter, query, args)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cacheFull(group, filter, m)
	return m, nil
}

// StatesAt returns the states of several groups in one read; see
// core.StateGroupStore.
func (s *EventStore) StatesAt(ctx context.Context, groups []int64, filter core.StateFilter) (map[int64]core.StateMap, error) {
	out := make(map[int64]core.StateMap, len(groups))
	var missing []int64
	for _, g := range groups {
		if _, done := out[g]; done {
			continue
		}
		if state, ok := s.states.lookup(g, filter); ok {
			out[g] = state
		} else {
			out[g] = nil
			missing = append(missing, g)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	query, args := stateRowsSQL(filter)
	err := s.read(ctx, []string{sqlStateChains, query}, func(r reader) error {
		states, err := statesAt(r, &s.states, missing, filter, query, args)
		maps.Copy(out, states)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, g := range missing {
		s.cacheFull(g, filter, out[g])
	}
	return out, nil
}

// cacheFull caches state as the state of group if it is the whole state.
func (s *EventStore) cacheFull(group int64, filter core.StateFilter, state core.StateMap) {
	if filter.Types == nil {
		s.states.put(group, maps.Clone(state))
	}
}

// StateGroupOf returns the state group after eventID; see
// core.StateGroupStore.
func (s *EventStore) StateGroupOf(ctx context.Context, eventID string) (int64, error) {
	var group int64
	err := s.read(ctx, []string{sqlStateGroupOf}, func(r reader) error {
		var err error
		group, err = stateGroupOf(r, eventID)
		return err
	})
	return group, err
}

// StateAtEvent returns part of the state after eventID; see
// core.StateGroupStore.
func (s *EventStore) StateAtEvent(ctx context.Context, eventID string, filter core.StateFilter) (core.StateMap, error) {
	query, args := stateAtSQL(filter)
	var m core.StateMap
	var group int64
	err := s.read(ctx, []string{sqlStateGroupOf, sqlStateGroupRoom, sqlStateChain, query}, func(r reader) error {
		var err error
		if group, err = stateGroupOf(r, eventID); err != nil {
			return err
		}
		m, err = stateAt(r, &s.states, group, filter, query, args)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cacheFull(group, filter, m)
	return m, nil
}

// StateGroupsOf returns the state groups of the events among eventIDs that
// have one, keyed by event ID.
func (s *EventStore) StateGroupsOf(ctx context.Context, eventIDs []string) (map[string]int64, error) {
	out := make(map[string]int64, len(eventIDs))
	ids, err := json.Marshal(eventIDs)
	if err != nil {
		return nil, fmt.Errorf("storage: state groups of events: %w", err)
	}
	const query = `
		SELECT e.event_id, g.state_group FROM events e
		JOIN event_to_state_groups g ON g.event_nid = e.event_nid
		WHERE e.event_id IN (SELECT value FROM json_each(?))`
	err = s.read(ctx, []string{query}, func(r reader) error {
		rows, err := r.query(query, string(ids))
		if err != nil {
			return fmt.Errorf("storage: state groups of events: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var g int64
			if err := rows.Scan(&id, &g); err != nil {
				return err
			}
			out[id] = g
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

const sqlStateGroupOf = `
	SELECT g.state_group FROM events e
	LEFT JOIN event_to_state_groups g ON g.event_nid = e.event_nid
	WHERE e.event_id = ?`

func stateGroupOf(r reader, eventID string) (int64, error) {
	var group sql.NullInt64
	err := r.queryRow(sqlStateGroupOf, eventID).Scan(&group)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, notFound("event %s", eventID)
	case err != nil:
		return 0, fmt.Errorf("storage: state group of %s: %w", eventID, err)
	case !group.Valid:
		return 0, notFound("state group of event %s (an outlier)", eventID)
	}
	return group.Int64, nil
}

// stateGroupRoom returns the room of group, or an error wrapping
// core.ErrNotFound.
const sqlStateGroupRoom = "SELECT room_id FROM state_groups WHERE id = ?"

func stateGroupRoom(r reader, group int64) (string, error) {
	var room string
	err := r.queryRow(sqlStateGroupRoom, group).Scan(&room)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("state group %d", group)
	}
	if err != nil {
		return "", fmt.Errorf("storage: state group %d: %w", group, err)
	}
	return room, nil
}

// maxChainWalk guards the recursive walks against a cycle that only a
// corrupted database could hold.
const maxChainWalk = 1 << 20

// stateGroupHops returns how many edges lead from group to its snapshot.
func stateGroupHops(r reader, group int64) (int, error) {
	var hops int
	err := r.queryRow(`
		WITH RECURSIVE chain(g, n) AS (
			SELECT ?, 0
			UNION ALL
			SELECT e.prev_state_group, c.n + 1 FROM chain c
			JOIN state_group_edges e ON e.state_group = c.g
			WHERE c.n < ?
		)
		SELECT max(n) FROM chain`, group, maxChainWalk).Scan(&hops)
	if err != nil {
		return 0, fmt.Errorf("storage: chain of state group %d: %w", group, err)
	}
	return hops, nil
}

// storeStateGroup writes a new group inside the writer's transaction, and
// returns it with what to cache once the transaction is committed. cache may
// be nil.
func storeStateGroup(ctx context.Context, q Queryer, cache *stateCache, roomID, eventID string, delta core.StateGroupDelta, maxHops int) (int64, newGroupState, error) {
	none := newGroupState{}
	if roomID == "" || eventID == "" {
		return 0, none, invalid("state group needs a room and an event")
	}
	rows := delta.Changes
	prev := delta.Prev
	r := reader{ctx: ctx, q: q}
	if prev != 0 {
		room, err := stateGroupRoom(r, prev)
		if err != nil {
			return 0, none, err
		}
		if room != roomID {
			return 0, none, invalid("state group %d belongs to room %s, not %s", prev, room, roomID)
		}
		hops, err := stateGroupHops(r, prev)
		if err != nil {
			return 0, none, err
		}
		if hops+1 > maxHops {
			query, args := stateAtSQL(core.AllState)
			full, err := stateAt(r, cache, prev, core.AllState, query, args)
			if err != nil {
				return 0, none, err
			}
			maps.Copy(full, delta.Changes)
			rows, prev = full, 0
		}
	}
	var id int64
	if err := q.QueryRowContext(ctx,
		"INSERT INTO state_groups (room_id, event_id) VALUES (?, ?) RETURNING id", roomID, eventID).Scan(&id); err != nil {
		return 0, none, fmt.Errorf("storage: new state group: %w", err)
	}
	if prev != 0 {
		if _, err := q.ExecContext(ctx,
			"INSERT INTO state_group_edges (state_group, prev_state_group) VALUES (?, ?)", id, prev); err != nil {
			return 0, none, fmt.Errorf("storage: state group edge: %w", err)
		}
	}
	// A snapshot lists what is there; removals have nothing to remove.
	if err := insertStateRows(ctx, q, roomID, id, rows, prev == 0); err != nil {
		return 0, none, err
	}
	return id, newGroupState{group: id, prev: prev, state: rows}, nil
}

// insertStateRows writes the rows of group, in key order; dropRemovals
// leaves out the keys rows removes (for a snapshot).
func insertStateRows(ctx context.Context, q Queryer, roomID string, group int64, rows core.StateMap, dropRemovals bool) error {
	keys := slices.SortedFunc(maps.Keys(rows), compareStateKeys)
	if dropRemovals {
		keys = slices.DeleteFunc(keys, func(k core.StateKey) bool { return rows[k] == "" })
	}
	const perStatement = 150 // 5 parameters a row
	for chunk := range slices.Chunk(keys, perStatement) {
		args := make([]any, 0, 5*len(chunk))
		for _, k := range chunk {
			args = append(args, group, roomID, k.Type, k.StateKey, rows[k])
		}
		_, err := q.ExecContext(ctx,
			"INSERT INTO state_groups_state (state_group, room_id, type, state_key, event_id) VALUES "+
				repeatJoin("(?, ?, ?, ?, ?)", len(chunk)), args...)
		if err != nil {
			return fmt.Errorf("storage: state group %d rows: %w", group, err)
		}
	}
	return nil
}

func compareStateKeys(a, b core.StateKey) int {
	if c := strings.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	return strings.Compare(a.StateKey, b.StateKey)
}

// sqlStateChain lists the groups from ?1 to its snapshot, nearest first.
const sqlStateChain = `
	WITH RECURSIVE chain(g, n) AS (
		SELECT ?, 0
		UNION ALL
		SELECT e.prev_state_group, c.n + 1 FROM chain c
		JOIN state_group_edges e ON e.state_group = c.g
		WHERE c.n < ?
	)
	SELECT g FROM chain ORDER BY n`

// stateAtSQL returns the query that reads the rows of a list of groups
// (?1, a JSON array, nearest first) selected by filter, and the filter's
// arguments. For each key the entry of the nearest group wins: SQLite takes
// the bare columns of an aggregate query with one min() from the row that
// has the minimum.
func stateAtSQL(filter core.StateFilter) (string, []any) {
	where, args := stateFilterSQL(filter, "s.type", "s.state_key")
	return `
		WITH chain(g, n) AS (SELECT value, key FROM json_each(?1))
		SELECT s.type, s.state_key, s.event_id, min(c.n)
		FROM chain c JOIN state_groups_state s ON s.state_group = c.g
		WHERE ` + where + `
		GROUP BY s.type, s.state_key`, args
}

// stateAt returns the part of group's state selected by filter, reading the
// rows (with query and args from stateAtSQL) of the groups nearer than the
// nearest one whose state is cached.
func stateAt(r reader, cache *stateCache, group int64, filter core.StateFilter, query string, args []any) (core.StateMap, error) {
	if state, ok := cache.lookup(group, filter); ok {
		return state, nil
	}
	if _, err := stateGroupRoom(r, group); err != nil {
		return nil, err
	}
	rows, err := r.query(sqlStateChain, group, maxChainWalk)
	if err != nil {
		return nil, fmt.Errorf("storage: chain of state group %d: %w", group, err)
	}
	var chain []int64
	base := core.StateMap{}
	for rows.Next() {
		var g int64
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return nil, fmt.Errorf("storage: chain of state group %d: %w", group, err)
		}
		if state, ok := cache.lookup(g, filter); ok {
			base = state
			break
		}
		chain = append(chain, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: chain of state group %d: %w", group, err)
	}
	groups, err := json.Marshal(chain)
	if err != nil {
		return nil, err
	}
	rows, err = r.query(query, append([]any{string(groups)}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("storage: state of group %d: %w", group, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k core.StateKey
		var eventID string
		var n int
		if err := rows.Scan(&k.Type, &k.StateKey, &eventID, &n); err != nil {
			return nil, fmt.Errorf("storage: state of group %d: %w", group, err)
		}
		if eventID == "" {
			delete(base, k)
		} else {
			base[k] = eventID
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: state of group %d: %w", group, err)
	}
	return base, nil
}

// stateFilterSQL turns filter into a boolean SQL expression over the given
// type and state_key columns, with its arguments.
func stateFilterSQL(f core.StateFilter, typeCol, keyCol string) (string, []any) {
	if f.Types == nil {
		return "1", nil
	}
	types := slices.Sorted(maps.Keys(f.Types))
	var parts []string
	var args []any
	for _, t := range types {
		keys := f.Types[t]
		switch {
		case keys == nil:
			parts = append(parts, typeCol+" = ?")
			args = append(args, t)
		case len(keys) > 0:
			parts = append(parts, "("+typeCol+" = ? AND "+keyCol+" IN ("+placeholders(len(keys))+"))")
			args = append(args, t)
			args = append(args, anySlice(keys)...)
		}
	}
	if f.IncludeOthers {
		if len(types) == 0 {
			return "1", nil
		}
		parts = append(parts, typeCol+" NOT IN ("+placeholders(len(types))+")")
		args = append(args, anySlice(types)...)
	}
	if len(parts) == 0 {
		return "0", nil
	}
	return "(" + strings.Join(parts, " OR ") + ")", args
}

// placeholders returns "?, ?, ..." with n marks.
func placeholders(n int) string { return repeatJoin("?", n) }

func repeatJoin(s string, n int) string {
	if n <= 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(n * (len(s) + 2))
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
	}
	return b.String()
}

func anySlice[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
