package storage

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"hearth.dev/hearth/core"
)

// State compression rewrites the state groups of a room into a tree of
// deltas with several levels, as rust-synapse-compress-state does for
// Synapse on PostgreSQL. A group written by StoreStateGroup is a delta from
// the group it was built on, and every DefaultMaxStateGroupHops hops a full
// snapshot: in a room whose state is large, the snapshots are nearly all of
// state_groups_state.
//
// The compressor walks a room's groups in ID order and gives each a new
// predecessor from a set of levels (sizes such as 100,50,25, lowest
// first). A group goes into the lowest level whose chain is not full,
// based on that level's newest group (its head); every full level below it
// starts a new chain at the group. When every level is full the group is
// a snapshot. So with levels 100,50,25 a group is a delta from the group
// just before it, every 100th from the one 100 before, every 5,000th from
// the one 5,000 before, and a snapshot comes once in 125,000 groups; no
// chain is longer than the sum of the level sizes less one each. A group's new delta is recomputed
// from the states of the two groups, whatever it was built on before, so
// forks cost only their differences.
//
// A group's state never changes: only which group it is stored against and
// the rows of its delta. So concurrent reads (one read transaction sees a
// group's edge and rows from the same commit), new groups (built on any
// existing group, whose state is the same before and after) and the state
// group cache (which keeps states, not rows) all stay right, and a group is
// rewritten together with its edge in one transaction of the single
// writer: a crash leaves each group either as it was or as rewritten.

// DefaultStateCompressionLevels are the level sizes the compressor uses
// unless told otherwise. rust-synapse-compress-state's default, 100,50,25,
// makes chains of up to 172 hops, past the 100 after which StoreStateGroup
// makes a snapshot, so every group added on a long chain after a run
// would be a snapshot again; three levels of 32 keep every chain under 94
// hops, take a snapshot once in 32,768 groups, and store about as many
// rows (BenchmarkStateCompression: 28,146 against 27,054 rows for 10,000
// state changes, and shorter reads of a few keys).
var DefaultStateCompressionLevels = []int{32, 32, 32}

// ParseStateCompressionLevels parses level sizes written "100,50,25",
// lowest level first.
func ParseStateCompressionLevels(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 || n > 100_000 {
			return nil, fmt.Errorf("state compression levels %q: %q is not a size from 1 to 100000", s, part)
		}
		out = append(out, n)
	}
	if len(out) > 10 {
		return nil, fmt.Errorf("state compression levels %q: at most 10 levels", s)
	}
	return out, nil
}

// maxCompressedHops is the longest chain a tree with levels sizes has.
func maxCompressedHops(sizes []int) int {
	n := 0
	for _, s := range sizes {
		n += s - 1
	}
	return n
}

// compressLevel is one level of the tree: its size, the length of its
// current chain (counting the group that started it, whose predecessor is
// on a higher level) and that chain's newest group (0 before the first).
type compressLevel struct {
	max, len int
	head     int64
}

// encodeLevels writes levels as JSON [[max, len, head], ...].
func encodeLevels(levels []compressLevel) string {
	rows := make([][3]int64, len(levels))
	for i, l := range levels {
		rows[i] = [3]int64{int64(l.max), int64(l.len), l.head}
	}
	b, _ := json.Marshal(rows)
	return string(b)
}

// decodeLevels reads what encodeLevels wrote.
func decodeLevels(s string) ([]compressLevel, error) {
	var rows [][3]int64
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		return nil, err
	}
	out := make([]compressLevel, len(rows))
	for i, r := range rows {
		out[i] = compressLevel{max: int(r[0]), len: int(r[1]), head: r[2]}
	}
	return out, nil
}

// origGroup is a group as stored before this run rewrote it: its
// predecessor (0 for a snapshot) and its rows.
type origGroup struct {
	id, prev int64
	rows     core.StateMap
}

// newGroup is a group as the tree stores it.
type newGroup struct {
	id, prev int64
	rows     core.StateMap
	// changed is false when the group is stored this way already.
	changed bool
	// oldRows is how many rows the group had.
	oldRows int
	// levels are the levels once the group is in the tree, saved as the
	// room's progress with the transaction that writes the group.
	levels string
}

// undoEntry records the values a group's state replaced in the state of
// the group before it in ID order ("" for a key that was absent).
type undoEntry struct {
	group int64
	old   core.StateMap
}

// undoWindow is how many groups back a fork's base may be and still be
// rebuilt from the undo log instead of read from the database.
const undoWindow = 512

// treeBuilder holds what the walk over one room's groups needs: the state
// of the last group walked, the levels, and for each level the keys that
// changed since its head (with their values at the head), from which a
// group's delta against that head follows without comparing whole states.
type treeBuilder struct {
	levels []compressLevel
	last   int64         // the last group walked, 0 before the first
	cur    core.StateMap // its state
	// changed[i] maps each key changed since levels[i].head to its value
	// there ("" when absent).
	changed []core.StateMap
	undo    []undoEntry
	undoAt  map[int64]int // group -> index in undo
}

// newTreeBuilder starts a room from scratch with levels of the given sizes.
func newTreeBuilder(sizes []int) *treeBuilder {
	t := &treeBuilder{cur: core.StateMap{}, undoAt: map[int64]int{}}
	for _, s := range sizes {
		t.levels = append(t.levels, compressLevel{max: s})
		t.changed = append(t.changed, core.StateMap{})
	}
	return t
}

// resume continues a tree whose last group is last (with state cur) and
// whose heads have the states heads[i].
func (t *treeBuilder) resume(levels []compressLevel, last int64, cur core.StateMap, heads []core.StateMap) {
	t.levels, t.last, t.cur = levels, last, cur
	t.changed = make([]core.StateMap, len(levels))
	for i := range levels {
		t.changed[i] = diffStates(heads[i], cur)
		for k := range t.changed[i] {
			t.changed[i][k] = heads[i][k]
		}
	}
}

// add walks group g: it works out g's state from its stored form (load
// reads the state of a group the undo log cannot rebuild), places g in the
// tree and returns its new form.
func (t *treeBuilder) add(g origGroup, load func(int64) (core.StateMap, error)) (newGroup, error) {
	// d: the changes from the state of t.last to the state of g.
	var d core.StateMap
	switch _, inLog := t.undoAt[g.prev]; {
	case g.prev == 0:
		d = diffStates(t.cur, g.rows)
	case g.prev == t.last || inLog:
		d = t.forkDiff(g.prev, g.rows)
	default:
		base, err := load(g.prev)
		if err != nil {
			return newGroup{}, err
		}
		applyDelta(base, g.rows)
		d = diffStates(t.cur, base)
	}
	old := make(core.StateMap, len(d))
	for k := range d {
		old[k] = t.cur[k]
	}
	for _, ch := range t.changed {
		for k, v := range old {
			if _, ok := ch[k]; !ok {
				ch[k] = v
			}
		}
	}
	applyDelta(t.cur, d)
	t.pushUndo(undoEntry{group: g.id, old: old})
	t.last = g.id

	// The lowest level with room takes g on its chain; the full ones below
	// it start new chains at g.
	at := -1
	for i, l := range t.levels {
		if l.len < l.max && l.head != 0 {
			at = i
			break
		}
	}
	out := newGroup{id: g.id, oldRows: len(g.rows)}
	if at < 0 {
		// Every level full (or the room's first group): a snapshot, and
		// every level starts again at g.
		out.rows = maps.Clone(t.cur)
		for i := range t.levels {
			t.levels[i].head, t.levels[i].len = g.id, 1
			t.changed[i] = core.StateMap{}
		}
	} else {
		out.prev = t.levels[at].head
		out.rows = core.StateMap{}
		for k, was := range t.changed[at] {
			if now := t.cur[k]; now != was {
				out.rows[k] = now
			}
		}
		for i := range at {
			t.levels[i].head, t.levels[i].len = g.id, 1
			t.changed[i] = core.StateMap{}
		}
		t.levels[at].head = g.id
		t.levels[at].len++
		t.changed[at] = core.StateMap{}
	}
	out.changed = out.prev != g.prev || !maps.Equal(out.rows, g.rows)
	out.levels = encodeLevels(t.levels)
	return out, nil
}

// forkDiff returns the changes from the state of t.last to the state of a
// group stored as rows on top of base, base being t.last or a group in the
// undo log.
func (t *treeBuilder) forkDiff(base int64, rows core.StateMap) core.StateMap {
	// The values at base of the keys changed after it: walking the log
	// back to base, the earliest change after base wins.
	atBase := core.StateMap{}
	if i, ok := t.undoAt[base]; ok && base != t.last {
		for j := len(t.undo) - 1; j > i; j-- {
			maps.Copy(atBase, t.undo[j].old)
		}
	}
	d := core.StateMap{}
	for k, v := range atBase {
		if _, ok := rows[k]; ok {
			continue
		}
		if v != t.cur[k] {
			d[k] = v
		}
	}
	for k, v := range rows {
		if v != t.cur[k] {
			d[k] = v
		}
	}
	return d
}

func (t *treeBuilder) pushUndo(e undoEntry) {
	if len(t.undo) >= undoWindow {
		keep := undoWindow / 2
		for _, old := range t.undo[:len(t.undo)-keep] {
			delete(t.undoAt, old.group)
		}
		t.undo = append(t.undo[:0], t.undo[len(t.undo)-keep:]...)
		for i, e := range t.undo {
			t.undoAt[e.group] = i
		}
	}
	t.undoAt[e.group] = len(t.undo)
	t.undo = append(t.undo, e)
}

// diffStates returns the changes that turn state a into state b (both
// without removal entries): b's differing values, "" for keys only a has.
func diffStates(a, b core.StateMap) core.StateMap {
	d := core.StateMap{}
	for k, v := range b {
		if v != "" && a[k] != v {
			d[k] = v
		}
	}
	for k := range a {
		if v, ok := b[k]; !ok || v == "" {
			d[k] = ""
		}
	}
	return d
}

// applyDelta applies changes (an empty event ID removing a key) to state.
func applyDelta(state, changes core.StateMap) {
	for k, v := range changes {
		if v == "" {
			delete(state, k)
		} else {
			state[k] = v
		}
	}
}
