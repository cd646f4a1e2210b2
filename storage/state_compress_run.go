package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"hearth.dev/hearth/core"
)

// StateCompressor runs state compression (state_compress.go) over rooms,
// in small transactions of the single writer, saving each room's progress
// with the groups it rewrites. It works while the server serves, from the
// server itself (the background job) or from `hearth db compress-state`
// beside it.
type StateCompressor struct {
	db    *DB
	cache *stateCache // read only: the states of groups to start from
	sizes []int

	// BatchGroups bounds the groups read and worked out at a time
	// (default 200), BatchRows the rows one transaction writes (default
	// 2,000): the writer is never held long.
	BatchGroups, BatchRows int
	// Pause, when set, is called after each transaction with the time the
	// batch took; the background job sleeps there to stay in the
	// background. An error stops the run.
	Pause func(ctx context.Context, took time.Duration) error
	// Progress, when set, is called after each transaction with the
	// counts so far.
	Progress func(CompressStats)
	// Force rewrites a room even when the tree takes as many rows as the
	// room has now, or more (its chains are then no longer than the levels
	// allow).
	Force bool
}

// CompressStats counts a run's work.
type CompressStats struct {
	Rooms, RoomsDone int
	// Unchanged counts the rooms left as they were because the tree
	// would not store them in fewer rows.
	Unchanged int
	// Groups is how many groups the run has to walk (as counted at its
	// start), GroupsDone how many it walked, Rewritten how many of those
	// it stored differently.
	Groups, GroupsDone, Rewritten int
	// RowsRemoved and RowsWritten count state_groups_state rows of the
	// rewritten groups.
	RowsRemoved, RowsWritten int64
	Room                     string // the room being worked on
}

// NewStateCompressor returns a compressor of db's state groups with the
// given level sizes (nil: DefaultStateCompressionLevels).
func NewStateCompressor(db *DB, sizes []int) *StateCompressor {
	if len(sizes) == 0 {
		sizes = DefaultStateCompressionLevels
	}
	return &StateCompressor{db: db, sizes: slices.Clone(sizes), BatchGroups: 200, BatchRows: 2000}
}

// NewStateCompressor returns a compressor that starts from the states in
// the store's state group cache when it can.
func (s *EventStore) NewStateCompressor(sizes []int) *StateCompressor {
	c := NewStateCompressor(s.db, sizes)
	c.cache = &s.states
	return c
}

// errCompressRaced: another compressor moved the room's progress.
var errCompressRaced = errors.New("storage: another state compression is working on the room")

// errCompressRoomGone: the room's groups went away (a purge) mid-run.
var errCompressRoomGone = errors.New("storage: the room's state groups are gone")

// StateGroupRows returns the number of rows in state_groups_state.
func (db *DB) StateGroupRows(ctx context.Context) (int64, error) {
	var n int64
	if err := db.reader.QueryRowContext(ctx, "SELECT count(*) FROM state_groups_state").Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: state group rows: %w", err)
	}
	return n, nil
}

// Run compresses the rooms given (all rooms with state groups when rooms
// is empty), each from where the last run left it. A room another
// compressor is working on, or whose groups go away meanwhile (a purge),
// is skipped. It
// stops at the first other error, or when ctx ends; what it committed
// stays.
func (c *StateCompressor) Run(ctx context.Context, rooms []string) (CompressStats, error) {
	var st CompressStats
	todo, err := c.pending(ctx, rooms)
	if err != nil {
		return st, err
	}
	st.Rooms = len(todo)
	for _, r := range todo {
		if !r.small {
			st.Groups += r.groups
		}
	}
	for _, r := range todo {
		st.Room = r.room
		err := errCompressNoGain
		if !r.small {
			err = c.compressRoom(ctx, r.room, &st)
		}
		switch {
		case errors.Is(err, errCompressNoGain):
			st.Unchanged++
			if !r.small {
				st.Groups -= r.groups
			}
		case errors.Is(err, errCompressRaced), errors.Is(err, errCompressRoomGone), errors.Is(err, core.ErrNotFound):
			c.db.log.Info("state compression skipped a room", "room", r.room, "reason", err)
		case err != nil:
			return st, fmt.Errorf("state compression of %s: %w", r.room, err)
		}
		st.RoomsDone++
		c.report(st)
	}
	st.Room = ""
	return st, nil
}

func (c *StateCompressor) report(st CompressStats) {
	if c.Progress != nil {
		c.Progress(st)
	}
}

type pendingRoom struct {
	room   string
	groups int
	small  bool // too few snapshot rows to gain from a tree
}

// pending lists the rooms with groups newer than their progress (all of a
// room's groups when its levels differ from c's), how many, and whether
// the room is too small to gain (its groups have almost no more rows than
// there are groups, so they hold almost no snapshots).
func (c *StateCompressor) pending(ctx context.Context, only []string) ([]pendingRoom, error) {
	want := map[string]bool{}
	for _, r := range only {
		want[r] = true
	}
	levels := encodeLevels(newTreeBuilder(c.sizes).levels)
	var out []pendingRoom
	err := c.db.Read(ctx, func(q Queryer) error {
		rows, err := q.QueryContext(ctx, `
			SELECT g.room_id, coalesce(p.last_group, 0), coalesce(p.levels, ''), count(*)
			FROM state_groups g LEFT JOIN state_compressor_progress p ON p.room_id = g.room_id
			GROUP BY g.room_id
			ORDER BY g.room_id`)
		if err != nil {
			return err
		}
		type roomRow struct {
			room   string
			last   int64
			levels string
			all    int
		}
		var rs []roomRow
		for rows.Next() {
			var r roomRow
			if err := rows.Scan(&r.room, &r.last, &r.levels, &r.all); err != nil {
				rows.Close()
				return err
			}
			if len(want) == 0 || want[r.room] {
				rs = append(rs, r)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range rs {
			from := r.last
			if !sameSizes(r.levels, levels) {
				from = 0
			}
			var n, rows int
			if err := q.QueryRowContext(ctx, `
				SELECT count(*), coalesce(sum((SELECT count(*) FROM state_groups_state s WHERE s.state_group = g.id)), 0)
				FROM state_groups g WHERE g.room_id = ? AND g.id > ?`, r.room, from).Scan(&n, &rows); err != nil {
				return err
			}
			if n > 0 {
				// At most a tenth more rows than groups: the snapshots, all a
				// tree could save, are too few to be worth a walk.
				small := !c.Force && rows*10 <= n*11
				out = append(out, pendingRoom{room: r.room, groups: n, small: small})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: rooms to compress: %w", err)
	}
	return out, nil
}

// sameSizes reports whether two encoded level lists have the same sizes.
func sameSizes(a, b string) bool {
	la, err1 := decodeLevels(a)
	lb, err2 := decodeLevels(b)
	if err1 != nil || err2 != nil || len(la) != len(lb) {
		return false
	}
	for i := range la {
		if la[i].max != lb[i].max {
			return false
		}
	}
	return true
}

// roomRun is one room's run: its tree and the progress row it expects to
// find (another compressor changing it stops this one).
type roomRun struct {
	room      string
	tree      *treeBuilder
	savedLast int64
	saved     string // the levels column as last read or written; "" for no row
}

// errCompressNoGain: the tree would not store the room in fewer rows.
var errCompressNoGain = errors.New("storage: the room's state is stored in no more rows as it is")

func (c *StateCompressor) compressRoom(ctx context.Context, room string, st *CompressStats) error {
	// A tree of n levels stores about n rows per group where the state
	// changes new keys; snapshots every 100 hops cost a hundredth of the
	// state per group. In a room whose state is small the tree would take
	// more rows, so a first walk counts them, and the room is rewritten
	// only if it shrinks.
	if !c.Force {
		if gain, err := c.shrinks(ctx, room); err != nil {
			return err
		} else if !gain {
			return errCompressNoGain
		}
	}
	run, err := c.startRoom(ctx, room)
	if err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		groups, err := c.nextBatch(ctx, run)
		if err != nil {
			return err
		}
		if len(groups) == 0 {
			return nil
		}
		// One transaction per BatchRows rows written.
		for len(groups) > 0 {
			n, rows := 0, 0
			for n < len(groups) {
				w := 0
				if groups[n].changed {
					w = len(groups[n].rows)
				}
				if n > 0 && rows+w > c.BatchRows {
					break
				}
				rows += w
				n++
			}
			start := time.Now()
			if err := c.write(ctx, run, groups[:n]); err != nil {
				return err
			}
			for _, g := range groups[:n] {
				st.GroupsDone++
				if g.changed {
					st.Rewritten++
					st.RowsRemoved += int64(g.oldRows)
					st.RowsWritten += int64(len(g.rows))
				}
			}
			groups = groups[n:]
			c.report(*st)
			if c.Pause != nil {
				if err := c.Pause(ctx, time.Since(start)); err != nil {
					return err
				}
			}
		}
	}
}

// shrinks walks the room's groups as compressRoom would, without writing,
// and reports whether the tree would store them in fewer rows.
func (c *StateCompressor) shrinks(ctx context.Context, room string) (bool, error) {
	run, err := c.startRoom(ctx, room)
	if err != nil {
		return false, err
	}
	var before, after int
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		groups, err := c.nextBatch(ctx, run)
		if err != nil {
			return false, err
		}
		if len(groups) == 0 {
			return after < before, nil
		}
		for _, g := range groups {
			if g.changed {
				before += g.oldRows
				after += len(g.rows)
			}
		}
	}
}

// startRoom reads the room's progress and builds the tree to continue
// from: from scratch when there is none, when it was made with other level
// sizes, or when a group it names is gone.
func (c *StateCompressor) startRoom(ctx context.Context, room string) (*roomRun, error) {
	run := &roomRun{room: room, tree: newTreeBuilder(c.sizes)}
	err := c.db.Read(ctx, func(q Queryer) error {
		err := q.QueryRowContext(ctx, "SELECT last_group, levels FROM state_compressor_progress WHERE room_id = ?", room).
			Scan(&run.savedLast, &run.saved)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		levels, err := decodeLevels(run.saved)
		if err != nil || !sameSizes(run.saved, encodeLevels(run.tree.levels)) {
			return nil // start again with these sizes
		}
		r := reader{ctx: ctx, q: q}
		cur, err := c.stateOf(r, room, run.savedLast)
		if err != nil {
			if errors.Is(err, core.ErrNotFound) {
				return nil
			}
			return err
		}
		heads := make([]core.StateMap, len(levels))
		for i, l := range levels {
			if l.head == 0 {
				return nil
			}
			if heads[i], err = c.stateOf(r, room, l.head); err != nil {
				if errors.Is(err, core.ErrNotFound) {
					return nil
				}
				return err
			}
		}
		run.tree.resume(levels, run.savedLast, cur, heads)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: state compression progress of %s: %w", room, err)
	}
	return run, nil
}

// stateOf reads the whole state of group, which must be of room.
func (c *StateCompressor) stateOf(r reader, room string, group int64) (core.StateMap, error) {
	got, err := stateGroupRoom(r, group)
	if err != nil {
		return nil, err
	}
	if got != room {
		return nil, notFound("state group %d of room %s", group, room)
	}
	query, args := stateAtSQL(core.AllState)
	return stateAt(r, c.cache, group, core.AllState, query, args)
}

const (
	sqlCompressGroups = `
		SELECT g.id, coalesce(e.prev_state_group, 0) FROM state_groups g
		LEFT JOIN state_group_edges e ON e.state_group = g.id
		WHERE g.room_id = ? AND g.id > ? ORDER BY g.id LIMIT ?`
	sqlCompressRows = `
		SELECT state_group, type, state_key, event_id FROM state_groups_state
		WHERE state_group IN (SELECT value FROM json_each(?))`
)

// nextBatch reads the groups after the tree's last one and places them in
// the tree.
func (c *StateCompressor) nextBatch(ctx context.Context, run *roomRun) ([]newGroup, error) {
	var out []newGroup
	err := c.db.Read(ctx, func(q Queryer) error {
		rows, err := q.QueryContext(ctx, sqlCompressGroups, run.room, run.tree.last, max(c.BatchGroups, 1))
		if err != nil {
			return err
		}
		var groups []origGroup
		byID := map[int64]int{}
		for rows.Next() {
			var g origGroup
			if err := rows.Scan(&g.id, &g.prev); err != nil {
				rows.Close()
				return err
			}
			g.rows = core.StateMap{}
			byID[g.id] = len(groups)
			groups = append(groups, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(groups) == 0 {
			return err
		}
		ids, _ := json.Marshal(slices.Collect(maps.Keys(byID)))
		rows, err = q.QueryContext(ctx, sqlCompressRows, string(ids))
		if err != nil {
			return err
		}
		for rows.Next() {
			var g int64
			var k core.StateKey
			var ev string
			if err := rows.Scan(&g, &k.Type, &k.StateKey, &ev); err != nil {
				rows.Close()
				return err
			}
			groups[byID[g]].rows[k] = ev
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		r := reader{ctx: ctx, q: q}
		load := func(g int64) (core.StateMap, error) { return c.stateOf(r, run.room, g) }
		for _, g := range groups {
			ng, err := run.tree.add(g, load)
			if err != nil {
				return err
			}
			out = append(out, ng)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: state groups of %s: %w", run.room, err)
	}
	return out, nil
}

// write stores groups (in ID order) as the tree has them, and the room's
// progress after the last, in one transaction.
func (c *StateCompressor) write(ctx context.Context, run *roomRun, groups []newGroup) error {
	last := groups[len(groups)-1]
	err := c.db.Write(ctx, func(q Queryer) error {
		var savedLast int64
		var saved string
		err := q.QueryRowContext(ctx, "SELECT last_group, levels FROM state_compressor_progress WHERE room_id = ?", run.room).
			Scan(&savedLast, &saved)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if savedLast != run.savedLast || saved != run.saved {
			return errCompressRaced
		}
		// Every group written and every group named as a predecessor must
		// still be there (a purge of the room removes them all).
		need := map[int64]bool{}
		for _, g := range groups {
			if g.changed {
				need[g.id] = true
				if g.prev != 0 {
					need[g.prev] = true
				}
			}
		}
		need[last.id] = true
		ids, _ := json.Marshal(slices.Collect(maps.Keys(need)))
		var found int
		if err := q.QueryRowContext(ctx,
			"SELECT count(*) FROM state_groups WHERE room_id = ? AND id IN (SELECT value FROM json_each(?))",
			run.room, string(ids)).Scan(&found); err != nil {
			return err
		}
		if found != len(need) {
			return errCompressRoomGone
		}
		for _, g := range groups {
			if g.changed {
				if err := rewriteGroup(ctx, q, run.room, g); err != nil {
					return err
				}
			}
		}
		_, err = q.ExecContext(ctx, `
			INSERT INTO state_compressor_progress (room_id, last_group, levels) VALUES (?, ?, ?)
			ON CONFLICT (room_id) DO UPDATE SET last_group = excluded.last_group, levels = excluded.levels`,
			run.room, last.id, last.levels)
		return err
	})
	if err != nil {
		return err
	}
	run.savedLast, run.saved = last.id, last.levels
	return nil
}

// rewriteGroup replaces g's edge and rows.
func rewriteGroup(ctx context.Context, q Queryer, room string, g newGroup) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM state_groups_state WHERE state_group = ?", g.id); err != nil {
		return fmt.Errorf("storage: rewrite state group %d: %w", g.id, err)
	}
	if _, err := q.ExecContext(ctx, "DELETE FROM state_group_edges WHERE state_group = ?", g.id); err != nil {
		return fmt.Errorf("storage: rewrite state group %d: %w", g.id, err)
	}
	if g.prev != 0 {
		if _, err := q.ExecContext(ctx,
			"INSERT INTO state_group_edges (state_group, prev_state_group) VALUES (?, ?)", g.id, g.prev); err != nil {
			return fmt.Errorf("storage: rewrite state group %d: %w", g.id, err)
		}
	}
	return insertStateRows(ctx, q, room, g.id, g.rows, g.prev == 0)
}
