package storage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"hearth.dev/hearth/core"
)

// stateModel builds random rooms of state groups through StoreStateGroup
// and keeps each group's state in a plain map.
type stateModel struct {
	s      *EventStore
	rng    *rand.Rand
	mu     sync.Mutex
	states map[int64]core.StateMap
	rooms  map[string][]int64 // groups of each room, in creation order
	n      int
}

func newStateModel(t testing.TB, s *EventStore, seed uint64, rooms ...string) *stateModel {
	t.Helper()
	m := &stateModel{s: s, rng: rand.New(rand.NewPCG(seed, 7)), states: map[int64]core.StateMap{}, rooms: map[string][]int64{}}
	for _, r := range rooms {
		if err := s.StoreRoom(context.Background(), core.RoomInfo{RoomID: r, RoomVersion: "12"}); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// grow adds n groups to room: mostly on the newest group, often on an
// older one (a fork), now and then a fresh snapshot; each changes one to
// four keys, some of them removals, among users joining over time.
func (m *stateModel) grow(t testing.TB, room string, n int) {
	t.Helper()
	ctx := context.Background()
	types := []string{"m.room.member", "m.room.member", "m.room.member", "m.room.name", "m.room.power_levels", "x.custom"}
	for range n {
		m.mu.Lock()
		groups := m.rooms[room]
		var prev int64
		base := core.StateMap{}
		if len(groups) > 0 && m.rng.IntN(40) != 0 {
			switch r := m.rng.IntN(10); {
			case r < 2:
				prev = groups[max(0, len(groups)-1-m.rng.IntN(20))] // a recent fork
			case r < 3:
				prev = groups[m.rng.IntN(len(groups))] // anywhere
			default:
				prev = groups[len(groups)-1]
			}
			base = maps.Clone(m.states[prev])
		}
		m.n++
		i := m.n
		changes := core.StateMap{}
		users := 20 + i/3
		for range 1 + m.rng.IntN(4) {
			typ := types[m.rng.IntN(len(types))]
			sk := ""
			if typ == "m.room.member" || typ == "x.custom" {
				sk = fmt.Sprintf("@u%d:x", m.rng.IntN(users))
			}
			k := core.StateKey{Type: typ, StateKey: sk}
			if _, ok := base[k]; ok && m.rng.IntN(5) == 0 {
				changes[k] = ""
			} else {
				changes[k] = fmt.Sprintf("$e%d_%s", i, sk)
			}
		}
		m.mu.Unlock()
		g, err := m.s.StoreStateGroup(ctx, room, fmt.Sprint("$e", i), core.StateGroupDelta{Prev: prev, Changes: changes})
		if err != nil {
			t.Error(err)
			return
		}
		applyDelta(base, changes)
		m.mu.Lock()
		m.states[g] = base
		m.rooms[room] = append(m.rooms[room], g)
		m.mu.Unlock()
	}
}

// check reads every group's state from the database (no cache) and
// compares it with the model, for the whole state and for one filter.
func (m *stateModel) check(t testing.TB, db *DB) {
	t.Helper()
	ctx := context.Background()
	fresh := NewEventStore(db)
	fresh.states.maxBytes = 0
	m.mu.Lock()
	defer m.mu.Unlock()
	filter := core.StateKeys(core.StateKey{Type: "m.room.name"}, core.StateKey{Type: "m.room.member", StateKey: "@u3:x"})
	for g, want := range m.states {
		got, err := fresh.StateAt(ctx, g, core.AllState)
		if err != nil {
			t.Fatalf("StateAt(%d): %v", g, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("state of group %d (-model +stored):\n%s", g, diff)
		}
		got, err = fresh.StateAt(ctx, g, filter)
		if err != nil {
			t.Fatalf("StateAt(%d): %v", g, err)
		}
		wantPart := core.StateMap{}
		for k, v := range want {
			if filter.Match(k) {
				wantPart[k] = v
			}
		}
		if diff := cmp.Diff(wantPart, got); diff != "" {
			t.Fatalf("filtered state of group %d (-model +stored):\n%s", g, diff)
		}
	}
}

// longestChain returns the most hops from any group to its snapshot.
func longestChain(t testing.TB, db *DB) int {
	t.Helper()
	var n int
	err := db.Reader().QueryRow(`
		WITH RECURSIVE chain(g, n) AS (
			SELECT id, 0 FROM state_groups
			UNION ALL
			SELECT e.prev_state_group, c.n + 1 FROM chain c JOIN state_group_edges e ON e.state_group = c.g
		)
		SELECT coalesce(max(n), 0) FROM chain`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func stateRows(t testing.TB, db *DB) int64 {
	t.Helper()
	n, err := db.StateGroupRows(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStateCompressionKeepsStates is the property: random rooms with forks,
// removals and snapshots, compressed with several level sizes, in batches,
// while new groups are being added; every group's state is the same
// afterwards, the chains are no longer than the levels allow, and a second
// run after the last new groups walks only those.
func TestStateCompressionKeepsStates(t *testing.T) {
	// Under js/wasm (Node and the browser's workers run the storage suite
	// too) the rooms are a quarter the size: the same shapes, forks and
	// levels, at a cost those hosts can afford.
	n := func(k int) int { return k }
	if runtime.GOOS == "js" {
		n = func(k int) int { return max(1, k/4) }
	}
	for seed, sizes := range [][]int{{4, 3, 2}, {10, 5}, {3, 3, 3, 3}, {100, 50, 25}} {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			ctx := context.Background()
			s := newTestStore(t)
			s.MaxStateGroupHops = 12
			m := newStateModel(t, s, uint64(seed), "!a", "!b", "!c")
			m.grow(t, "!a", n(400))
			m.grow(t, "!b", n(150))
			m.grow(t, "!c", 1)

			c := s.NewStateCompressor(sizes)
			c.BatchGroups, c.BatchRows, c.Force = 37, 60, true
			// Groups keep arriving, and states are read (through the
			// store's cache and without one), while the compressor works.
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				m.grow(t, "!a", n(100))
				m.grow(t, "!b", n(50))
			}()
			stop := make(chan struct{})
			go func() {
				defer wg.Done()
				fresh := NewEventStore(s.db)
				fresh.states.maxBytes = 0
				rng := rand.New(rand.NewPCG(uint64(seed), 1))
				// A bounded number of reads, yielding between them: under
				// js/wasm goroutines share one thread without preemption,
				// and an endless reader would starve the compressor.
				for range 300 {
					select {
					case <-stop:
						return
					default:
					}
					runtime.Gosched()
					m.mu.Lock()
					groups := m.rooms["!a"]
					g := groups[rng.IntN(len(groups))]
					want := m.states[g]
					m.mu.Unlock()
					for _, r := range []*EventStore{s, fresh} {
						got, err := r.StateAt(ctx, g, core.AllState)
						if err != nil {
							t.Errorf("StateAt(%d) during compression: %v", g, err)
							return
						}
						if diff := cmp.Diff(want, got); diff != "" {
							t.Errorf("StateAt(%d) during compression (-model +read):\n%s", g, diff)
							return
						}
					}
				}
			}()
			_, err := c.Run(ctx, nil)
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			m.check(t, s.db)
			st, err := c.Run(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			m.check(t, s.db)
			if st.GroupsDone > 150 {
				t.Errorf("second run walked %d groups; want at most the 150 added during the first", st.GroupsDone)
			}
			if got, limit := longestChain(t, s.db), maxCompressedHops(sizes); got > limit {
				t.Errorf("longest chain %d hops after compression; levels %v allow %d", got, sizes, limit)
			}
			m.grow(t, "!a", 30)
			st, err = c.Run(ctx, []string{"!a"})
			if err != nil {
				t.Fatal(err)
			}
			if st.GroupsDone != 30 || st.Rooms != 1 {
				t.Errorf("run after 30 new groups in !a walked %d groups of %d rooms; want 30 of 1", st.GroupsDone, st.Rooms)
			}
			m.check(t, s.db)
		})
	}
}

// TestStateCompressionFewerRows: a chain of joins with snapshots every 100
// hops shrinks to its deltas.
func TestStateCompressionFewerRows(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	if err := s.StoreRoom(ctx, core.RoomInfo{RoomID: "!r", RoomVersion: "12"}); err != nil {
		t.Fatal(err)
	}
	var prev int64
	for i := range 1000 {
		k := core.StateKey{Type: "m.room.member", StateKey: fmt.Sprintf("@u%d:x", i)}
		g, err := s.StoreStateGroup(ctx, "!r", fmt.Sprint("$j", i), core.StateGroupDelta{Prev: prev, Changes: core.StateMap{k: fmt.Sprint("$j", i)}})
		if err != nil {
			t.Fatal(err)
		}
		prev = g
	}
	before := stateRows(t, s.db)
	st, err := NewStateCompressor(s.db, []int{100, 50, 25}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	after := stateRows(t, s.db)
	// Before: 991 one-row deltas and a snapshot every 101 groups (of 102,
	// 203, ... 910 members). After: one snapshot of one member, a row per
	// group on the lowest level, 100 on the next for each 100th group.
	if want := int64(991 + 101*45 + 9); before != want {
		t.Errorf("before compression %d rows; want %d", before, want)
	}
	if want := int64(1 + 990 + 9*100); after != want {
		t.Errorf("after compression %d rows; want %d", after, want)
	}
	if st.RowsRemoved-st.RowsWritten != before-after {
		t.Errorf("stats say %d rows removed, %d written; the table went from %d to %d", st.RowsRemoved, st.RowsWritten, before, after)
	}
}

// TestStateCompressionOnlyShrinks: a room whose state is small takes no
// fewer rows as a tree than with a snapshot every 100 hops, and is left as
// it is unless forced; a room with a large state is compressed.
func TestStateCompressionOnlyShrinks(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	for _, room := range []string{"!small", "!large"} {
		if err := s.StoreRoom(ctx, core.RoomInfo{RoomID: room, RoomVersion: "12"}); err != nil {
			t.Fatal(err)
		}
		var prev int64
		for i := range 1000 {
			k := core.StateKey{Type: "m.room.member", StateKey: fmt.Sprintf("@u%d:x", i)}
			if room == "!small" {
				k = core.StateKey{Type: "m.room.topic"} // the state stays one key
			}
			g, err := s.StoreStateGroup(ctx, room, fmt.Sprint("$", room, i), core.StateGroupDelta{Prev: prev, Changes: core.StateMap{k: fmt.Sprint("$", room, i)}})
			if err != nil {
				t.Fatal(err)
			}
			prev = g
		}
	}
	roomRows := func(room string) int {
		return queryInt(t, s, "SELECT count(*) FROM state_groups_state WHERE room_id = ?", room)
	}
	small, large := roomRows("!small"), roomRows("!large")
	st, err := NewStateCompressor(s.db, []int{8, 8, 8}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Unchanged != 1 || st.RoomsDone != 2 {
		t.Errorf("run: %d rooms done, %d unchanged; want 2 and 1", st.RoomsDone, st.Unchanged)
	}
	if got := roomRows("!small"); got != small {
		t.Errorf("the small room went from %d to %d rows; want it left as it was", small, got)
	}
	if got := roomRows("!large"); got >= large {
		t.Errorf("the large room went from %d to %d rows; want fewer", large, got)
	}
	c := NewStateCompressor(s.db, []int{8, 8, 8})
	c.Force = true
	if _, err := c.Run(ctx, []string{"!small"}); err != nil {
		t.Fatal(err)
	}
	if got := roomRows("!small"); got != small {
		t.Errorf("forced, the small room went from %d to %d rows; want as many (one per group)", small, got)
	}
	if got, limit := longestChain(t, s.db), maxCompressedHops([]int{8, 8, 8}); got > limit {
		t.Errorf("longest chain %d hops; want at most %d", got, limit)
	}
}

// TestStateCompressionStopAndResume stops the compressor after a few
// transactions (as a kill would), reopens the database, checks every state,
// and finishes the work from the saved progress.
func TestStateCompressionStopAndResume(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	db, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	s := NewEventStore(db)
	s.MaxStateGroupHops = 10
	m := newStateModel(t, s, 42, "!a", "!b")
	m.grow(t, "!a", 300)
	m.grow(t, "!b", 300)

	cctx, cancel := context.WithCancel(ctx)
	c := NewStateCompressor(db, []int{5, 4, 3})
	c.BatchGroups, c.BatchRows, c.Force = 50, 40, true
	writes := 0
	c.Progress = func(CompressStats) {
		writes++
		if writes == 7 {
			cancel()
		}
	}
	st, err := c.Run(cctx, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run stopped with %v; want context.Canceled", err)
	}
	if st.GroupsDone == 0 || st.GroupsDone >= 600 {
		t.Fatalf("stopped after %d groups; want some, not all", st.GroupsDone)
	}
	done := st.GroupsDone
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = mustOpenWith(t, o)
	m.s = NewEventStore(db)
	m.check(t, db)
	var saved int
	if err := db.Reader().QueryRow("SELECT count(*) FROM state_compressor_progress").Scan(&saved); err != nil || saved == 0 {
		t.Fatalf("progress rows after the stop: %d, %v", saved, err)
	}
	c = NewStateCompressor(db, []int{5, 4, 3})
	c.Force = true
	st, err = c.Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.GroupsDone+done != 600 {
		t.Errorf("resumed run walked %d groups after %d; want the remaining of 600", st.GroupsDone, done)
	}
	m.check(t, db)
	if got, limit := longestChain(t, db), maxCompressedHops([]int{5, 4, 3}); got > limit {
		t.Errorf("longest chain %d hops; want at most %d", got, limit)
	}

	// Other level sizes start the rooms again.
	c = NewStateCompressor(db, []int{8, 8})
	c.Force = true
	st, err = c.Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.GroupsDone != 600 {
		t.Errorf("run with new levels walked %d groups; want all 600", st.GroupsDone)
	}
	m.check(t, db)
}

// TestStateCompressionEveryStop stops a run after each possible number of
// transactions in turn, on a copy of the same room, and checks the states
// each time: no transaction boundary leaves a group changed.
func TestStateCompressionEveryStop(t *testing.T) {
	ctx := context.Background()
	for stop := 1; stop <= 12; stop += 3 {
		s := newTestStore(t)
		s.MaxStateGroupHops = 6
		m := newStateModel(t, s, 9, "!r")
		m.grow(t, "!r", 120)
		cctx, cancel := context.WithCancel(ctx)
		c := NewStateCompressor(s.db, []int{3, 3})
		c.BatchGroups, c.BatchRows, c.Force = 20, 10, true
		n := 0
		c.Progress = func(CompressStats) {
			if n++; n == stop {
				cancel()
			}
		}
		_, err := c.Run(cctx, nil)
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		m.check(t, s.db)
	}
}

// TestStateCompressionPurgedRoom: a room purged between runs leaves no
// progress behind, and a run skips a room whose groups went away.
func TestStateCompressionPurgedRoom(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "gone")
	r.persist(core.PersistOptions{}, r.msg("a", 1))
	forced := NewStateCompressor(s.db, []int{2, 2})
	forced.Force = true
	if _, err := forced.Run(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.Reader().QueryRow("SELECT count(*) FROM state_compressor_progress").Scan(&n); err != nil || n != 1 {
		t.Fatalf("progress rows before the purge: %d, %v; want 1", n, err)
	}
	if _, err := NewAdminRoomStore(s.db, testServer).PurgeRoom(ctx, r.id); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Reader().QueryRow("SELECT count(*) FROM state_compressor_progress").Scan(&n); err != nil || n != 0 {
		t.Errorf("progress rows after the purge: %d, %v; want 0", n, err)
	}

	// A run that read groups which a purge then removed writes nothing.
	m := newStateModel(t, s, 3, "!p")
	m.grow(t, "!p", 30)
	c := NewStateCompressor(s.db, []int{2, 2})
	run, err := c.startRoom(ctx, "!p")
	if err != nil {
		t.Fatal(err)
	}
	groups, err := c.nextBatch(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Write(ctx, func(q Queryer) error { return execAll(ctx, q, sqlPurgeStateGroups, "!p") }); err != nil {
		t.Fatal(err)
	}
	if err := c.write(ctx, run, groups); !errors.Is(err, errCompressRoomGone) {
		t.Errorf("write after the purge: %v; want errCompressRoomGone", err)
	}
	if err := s.db.Reader().QueryRow(
		"SELECT count(*) FROM state_groups_state WHERE state_group NOT IN (SELECT id FROM state_groups)").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows of no group: %d, %v; want 0", n, err)
	}
}

// TestStateCompressionRace: two compressors on one room; the one whose
// saved progress moved under it stops without writing.
func TestStateCompressionRace(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	m := newStateModel(t, s, 5, "!r")
	m.grow(t, "!r", 50)
	a, b := NewStateCompressor(s.db, []int{3, 3}), NewStateCompressor(s.db, []int{3, 3})
	b.Force = true
	runA, err := a.startRoom(ctx, "!r")
	if err != nil {
		t.Fatal(err)
	}
	groupsA, err := a.nextBatch(ctx, runA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Run(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.write(ctx, runA, groupsA); !errors.Is(err, errCompressRaced) {
		t.Errorf("write of the slower compressor: %v; want errCompressRaced", err)
	}
	m.check(t, s.db)
}

func TestParseStateCompressionLevels(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []int
		ok   bool
	}{
		{"100,50,25", []int{100, 50, 25}, true},
		{" 8 , 4 ", []int{8, 4}, true},
		{"5", []int{5}, true},
		{"", nil, false},
		{"100,,25", nil, false},
		{"0,5", nil, false},
		{"a", nil, false},
		{"1,1,1,1,1,1,1,1,1,1,1", nil, false},
	} {
		got, err := ParseStateCompressionLevels(tt.in)
		if (err == nil) != tt.ok || !cmp.Equal(got, tt.want) {
			t.Errorf("ParseStateCompressionLevels(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestStateCompressorProgressMigrates: a database made at schema version 1
// gains state_compressor_progress (state delta 2/40) and compresses.
func TestStateCompressorProgressMigrates(t *testing.T) {
	ctx := context.Background()
	path := testPath(t, "v1.db")
	old := &SchemaTree{FS: hearthSchema.FS, Version: 1, CompatVersion: 1, GoDeltas: hearthSchema.GoDeltas}
	db, err := openWith(ctx, Options{Path: path, Logger: quietLog}, old)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := newTestStoreWith(t, Options{Path: path, Logger: quietLog})
	m := newStateModel(t, s, 1, "!r")
	m.grow(t, "!r", 40)
	if _, err := NewStateCompressor(s.db, []int{4, 4}).Run(ctx, nil); err != nil {
		t.Fatal(err)
	}
	m.check(t, s.db)
}

// TestStateCompressionTwoFiles: with the state database in a file of its
// own, the compressor's tables and rows are in that file.
func TestStateCompressionTwoFiles(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	o.StatePath = testPath(t, "state.db")
	s := newTestStoreWith(t, o)
	m := newStateModel(t, s, 11, "!r")
	m.grow(t, "!r", 200)
	c := NewStateCompressor(s.db, []int{6, 6})
	c.Force = true
	if _, err := c.Run(ctx, nil); err != nil {
		t.Fatal(err)
	}
	m.check(t, s.db)
	var n int
	if err := s.db.Reader().QueryRow("SELECT count(*) FROM main.state_compressor_progress").Scan(&n); err != nil || n != 1 {
		t.Errorf("progress rows in the state file: %d, %v; want 1", n, err)
	}
}

// FuzzParseStateCompressionLevels: what parses is 1 to 10 sizes from 1 to
// 100,000, and writing them back parses to the same.
func FuzzParseStateCompressionLevels(f *testing.F) {
	for _, s := range []string{"100,50,25", "32,32,32", " 8 , 4 ", "0", "1,,2", "-5", "99999999999999999999", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sizes, err := ParseStateCompressionLevels(s)
		if err != nil {
			return
		}
		if len(sizes) == 0 || len(sizes) > 10 {
			t.Fatalf("%q parsed to %d levels", s, len(sizes))
		}
		parts := make([]string, len(sizes))
		for i, n := range sizes {
			if n < 1 || n > 100_000 {
				t.Fatalf("%q parsed to size %d", s, n)
			}
			parts[i] = fmt.Sprint(n)
		}
		again, err := ParseStateCompressionLevels(strings.Join(parts, ","))
		if err != nil || !cmp.Equal(again, sizes) {
			t.Fatalf("%q: %v written back parses to %v, %v", s, sizes, again, err)
		}
	})
}

// FuzzDecodeLevels: the levels column, whatever it holds, never panics,
// and what encodeLevels writes decodes to the same.
func FuzzDecodeLevels(f *testing.F) {
	f.Add(`[[32,5,1234],[32,1,1200],[32,2,1]]`)
	f.Add(`[]`)
	f.Add(`[[1,2]]`)
	f.Add(`{"a":1}`)
	f.Fuzz(func(t *testing.T, s string) {
		levels, err := decodeLevels(s)
		if err != nil {
			return
		}
		again, err := decodeLevels(encodeLevels(levels))
		if err != nil || len(again) != len(levels) {
			t.Fatalf("%q: %v re-encoded decodes to %v, %v", s, levels, again, err)
		}
		for i := range levels {
			if again[i] != levels[i] {
				t.Fatalf("%q: level %d %+v re-encoded is %+v", s, i, levels[i], again[i])
			}
		}
		sameSizes(s, encodeLevels(levels))
	})
}
