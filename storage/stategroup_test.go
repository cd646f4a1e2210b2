package storage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"hearth.dev/hearth/core"
)

func TestStateGroups(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	s.MaxStateGroupHops = 3
	room := "!r"
	if err := s.StoreRoom(ctx, core.RoomInfo{RoomID: room, RoomVersion: "12"}); err != nil {
		t.Fatal(err)
	}
	k := func(typ, sk string) core.StateKey { return core.StateKey{Type: typ, StateKey: sk} }
	create, name, alice := k("m.room.create", ""), k("m.room.name", ""), k("m.room.member", "@a:x")

	g1, err := s.StoreStateGroup(ctx, room, "$1", core.StateGroupDelta{Changes: core.StateMap{create: "$1"}})
	if err != nil {
		t.Fatal(err)
	}
	g2, err := s.StoreStateGroup(ctx, room, "$2", core.StateGroupDelta{Prev: g1, Changes: core.StateMap{alice: "$2"}})
	if err != nil {
		t.Fatal(err)
	}
	g3, err := s.StoreStateGroup(ctx, room, "$3", core.StateGroupDelta{Prev: g2, Changes: core.StateMap{name: "$3"}})
	if err != nil {
		t.Fatal(err)
	}
	// A delta removing a key (as state resolution may do).
	g4, err := s.StoreStateGroup(ctx, room, "$4", core.StateGroupDelta{Prev: g3, Changes: core.StateMap{name: ""}})
	if err != nil {
		t.Fatal(err)
	}
	// Hop 4 > 3: a snapshot.
	g5, err := s.StoreStateGroup(ctx, room, "$5", core.StateGroupDelta{Prev: g4, Changes: core.StateMap{alice: "$5"}})
	if err != nil {
		t.Fatal(err)
	}
	// A branch off g2.
	g6, err := s.StoreStateGroup(ctx, room, "$6", core.StateGroupDelta{Prev: g2, Changes: core.StateMap{alice: "$6", name: "$6n"}})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		group  int64
		filter core.StateFilter
		want   core.StateMap
	}{
		{g1, core.AllState, core.StateMap{create: "$1"}},
		{g2, core.AllState, core.StateMap{create: "$1", alice: "$2"}},
		{g3, core.AllState, core.StateMap{create: "$1", alice: "$2", name: "$3"}},
		{g4, core.AllState, core.StateMap{create: "$1", alice: "$2"}},
		{g5, core.AllState, core.StateMap{create: "$1", alice: "$5"}},
		{g6, core.AllState, core.StateMap{create: "$1", alice: "$6", name: "$6n"}},
		{g3, core.StateTypes("m.room.name"), core.StateMap{name: "$3"}},
		{g4, core.StateTypes("m.room.name"), core.StateMap{}},
		{g6, core.StateKeys(alice), core.StateMap{alice: "$6"}},
		{g6, core.StateFilter{Types: map[string][]string{"m.room.member": {"@b:x"}}, IncludeOthers: true},
			core.StateMap{create: "$1", name: "$6n"}},
	}
	for _, tt := range tests {
		got, err := s.StateAt(ctx, tt.group, tt.filter)
		if err != nil {
			t.Fatalf("StateAt(%d): %v", tt.group, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("StateAt(%d, %+v) mismatch (-want +got):\n%s", tt.group, tt.filter, diff)
		}
	}

	hops := map[int64]int{}
	err = s.db.Read(ctx, func(q Queryer) error {
		for _, g := range []int64{g1, g2, g3, g4, g5, g6} {
			h, err := stateGroupHops(reader{ctx: ctx, q: q}, g)
			if err != nil {
				return err
			}
			hops[g] = h
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantHops := map[int64]int{g1: 0, g2: 1, g3: 2, g4: 3, g5: 0, g6: 2}
	if diff := cmp.Diff(wantHops, hops); diff != "" {
		t.Errorf("chain lengths mismatch (-want +got):\n%s", diff)
	}
	// The snapshot holds the full state, without the removed key.
	if n := queryInt(t, s, "SELECT count(*) FROM state_groups_state WHERE state_group = ?", g5); n != 2 {
		t.Errorf("snapshot g5 has %d rows, want 2", n)
	}
}

func queryInt(tb testing.TB, s *EventStore, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := s.db.Reader().QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestStateGroupErrors(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	other := newTestRoom(t, s, "other")
	out := r.msg("out", 1)
	out.Outlier, out.StateGroup = true, 0
	r.persist(core.PersistOptions{}, out)

	_, err := s.StateAt(ctx, 12345, core.AllState)
	wantErrIs(t, "StateAt(unknown group)", err, core.ErrNotFound)
	_, err = s.StoreStateGroup(ctx, r.id, "$x", core.StateGroupDelta{Prev: 12345})
	wantErrIs(t, "StoreStateGroup(unknown prev)", err, core.ErrNotFound)
	_, err = s.StoreStateGroup(ctx, r.id, "$x", core.StateGroupDelta{Prev: other.base})
	wantErrIs(t, "StoreStateGroup(prev of another room)", err, core.ErrInvalidParam)
	_, err = s.StoreStateGroup(ctx, "", "$x", core.StateGroupDelta{})
	wantErrIs(t, "StoreStateGroup(no room)", err, core.ErrInvalidParam)
	_, err = s.StateAtEvent(ctx, eventID("nope"), core.AllState)
	wantErrIs(t, "StateAtEvent(unknown event)", err, core.ErrNotFound)
	_, err = s.StateAtEvent(ctx, out.EventID, core.AllState)
	wantErrIs(t, "StateAtEvent(outlier)", err, core.ErrNotFound)
	_, err = s.StateGroupOf(ctx, eventID("nope"))
	wantErrIs(t, "StateGroupOf(unknown event)", err, core.ErrNotFound)

	r.persist(core.PersistOptions{}, r.msg("a", 1))
	groups, err := s.StateGroupsOf(ctx, eventIDs("a", "out", "nope"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int64{eventID("a"): r.base}, groups); diff != "" {
		t.Errorf("StateGroupsOf mismatch (-want +got):\n%s", diff)
	}
}

// TestStateGroupsMatchModel stores random state changes on random forks
// and checks every group's state against a plain map of the same changes.
func TestStateGroupsMatchModel(t *testing.T) {
	for seed := range uint64(6) {
		// Without a cache, with one too small for much, with the default.
		cacheBytes := []int64{0, 4000, core.DefaultCacheBudget.StateGroups()}[seed%3]
		t.Run(fmt.Sprintf("seed %d cache %d", seed, cacheBytes), func(t *testing.T) {
			ctx := context.Background()
			s := newTestStore(t)
			s.MaxStateGroupHops = 5
			s.states.maxBytes = cacheBytes
			room := "!r"
			if err := s.StoreRoom(ctx, core.RoomInfo{RoomID: room, RoomVersion: "12"}); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(seed, 99))
			types := []string{"m.room.member", "m.room.name", "m.room.power_levels", "x.custom"}
			randKey := func() core.StateKey {
				typ := types[rng.IntN(len(types))]
				sk := ""
				if typ == "m.room.member" || typ == "x.custom" {
					sk = fmt.Sprintf("@u%d:x", rng.IntN(12))
				}
				return core.StateKey{Type: typ, StateKey: sk}
			}
			model := map[int64]core.StateMap{}
			var groups []int64
			for i := range 300 {
				var prev int64
				base := core.StateMap{}
				if len(groups) > 0 && rng.IntN(10) != 0 {
					// Usually the newest group, often an older one (a fork).
					if rng.IntN(3) == 0 {
						prev = groups[rng.IntN(len(groups))]
					} else {
						prev = groups[len(groups)-1]
					}
					base = maps.Clone(model[prev])
				}
				changes := core.StateMap{}
				for range 1 + rng.IntN(4) {
					k := randKey()
					if _, ok := base[k]; ok && rng.IntN(4) == 0 {
						changes[k] = "" // remove
					} else {
						changes[k] = fmt.Sprintf("$e%d_%s_%s", i, k.Type, k.StateKey)
					}
				}
				g, err := s.StoreStateGroup(ctx, room, fmt.Sprint("$e", i), core.StateGroupDelta{Prev: prev, Changes: changes})
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range changes {
					if v == "" {
						delete(base, k)
					} else {
						base[k] = v
					}
				}
				model[g] = base
				groups = append(groups, g)
			}
			filters := []core.StateFilter{
				core.AllState,
				core.StateTypes("m.room.member"),
				core.StateKeys(core.StateKey{Type: "m.room.name"}, core.StateKey{Type: "x.custom", StateKey: "@u3:x"}),
				{Types: map[string][]string{"m.room.member": {"@u1:x", "@u2:x"}}, IncludeOthers: true},
			}
			// Many groups at once (StatesAt), with the cache as the
			// single reads leave it and before them.
			batches := func() {
				t.Helper()
				for range 12 {
					var batch []int64
					for range 1 + rng.IntN(40) {
						batch = append(batch, groups[rng.IntN(len(groups))])
					}
					batch = append(batch, batch[0]) // twice
					for _, f := range filters {
						got, err := s.StatesAt(ctx, batch, f)
						if err != nil {
							t.Fatal(err)
						}
						want := map[int64]core.StateMap{}
						for _, g := range batch {
							want[g] = core.StateMap{}
							for k, v := range model[g] {
								if f.Match(k) {
									want[g][k] = v
								}
							}
						}
						if diff := cmp.Diff(want, got); diff != "" {
							t.Fatalf("StatesAt(%v, %+v) mismatch (-model +stored):\n%s", batch, f, diff)
						}
					}
				}
			}
			batches()
			maxHops := 0
			order := rng.Perm(len(groups))
			for _, i := range order {
				g := groups[i]
				for _, f := range filters {
					got, err := s.StateAt(ctx, g, f)
					if err != nil {
						t.Fatal(err)
					}
					want := core.StateMap{}
					for k, v := range model[g] {
						if f.Match(k) {
							want[k] = v
						}
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Fatalf("StateAt(%d, %+v) mismatch (-model +stored):\n%s", g, f, diff)
					}
				}
				var h int
				err := s.db.Read(ctx, func(q Queryer) error {
					var err error
					h, err = stateGroupHops(reader{ctx: ctx, q: q}, g)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				maxHops = max(maxHops, h)
			}
			batches()
			if _, err := s.StatesAt(ctx, []int64{groups[0], groups[len(groups)-1] + 1000}, core.AllState); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("StatesAt with a group that does not exist: %v, want core.ErrNotFound", err)
			}
			if maxHops != 5 {
				t.Errorf("longest chain %d hops, want exactly the limit 5", maxHops)
			}
		})
	}
}

func TestStateGroupsTwoFiles(t *testing.T) {
	// With "state" in a file of its own, the state group tables are in that
	// file, the event mapping stays in main, and reads join them.
	ctx := context.Background()
	o := testOptions(t)
	o.StatePath = testPath(t, "state.db")
	s := newTestStoreWith(t, o)
	r := newTestRoom(t, s, "r")
	topic := r.state("topic", 1, "m.room.topic", "", `{"topic":"t"}`)
	r.persist(core.PersistOptions{}, topic)
	got, err := s.StateAtEvent(ctx, topic.EventID, core.AllState)
	if err != nil {
		t.Fatal(err)
	}
	want := core.StateMap{{Type: "m.room.create"}: eventID("r create"), {Type: "m.room.topic"}: topic.EventID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("StateAtEvent mismatch (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		schema, table string
		want          int
	}{
		// The state file is the connections' primary ("main"), hearth.db
		// is attached as "hearth".
		{"hearth", "event_to_state_groups", 1},
		{"hearth", "state_groups", 0},
		{"main", "state_groups", 1},
		{"main", "state_groups_state", 1},
		{"main", "event_to_state_groups", 0},
	} {
		n := queryInt(t, s, "SELECT count(*) FROM "+tt.schema+".sqlite_schema WHERE type = 'table' AND name = ?", tt.table)
		if n != tt.want {
			t.Errorf("%s.%s exists %d times, want %d", tt.schema, tt.table, n, tt.want)
		}
	}
}

// TestStateGroupChainedInBatch checks StateGroupDelta.PrevEvent: events of
// one batch each based on the group of the one before get one delta row
// each and the right state, the base may also be a stored event, and a
// base that is neither refuses the whole batch.
func TestStateGroupChainedInBatch(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "chain")
	rowsBefore := countRows(t, s.db, "state_groups_state")
	var batch []core.NewEvent
	prev := ""
	for i := range 5 {
		ev := r.member(fmt.Sprintf("m%d", i), int64(i+2), fmt.Sprintf("@u%d:x", i), "invite")
		if prev != "" {
			ev.PrevEvents = []string{prev}
			ev.NewStateGroup = &core.StateGroupDelta{PrevEvent: prev, Changes: ev.NewStateGroup.Changes}
		}
		batch = append(batch, ev)
		prev = ev.EventID
	}
	r.persist(core.PersistOptions{}, batch...)
	if got := countRows(t, s.db, "state_groups_state") - rowsBefore; got != 5 {
		t.Errorf("5 chained state events stored %d state_groups_state rows, want 5", got)
	}
	want := core.StateMap{{Type: "m.room.create"}: eventID("chain create")}
	for i := range 5 {
		want[core.StateKey{Type: "m.room.member", StateKey: fmt.Sprintf("@u%d:x", i)}] = eventID(fmt.Sprintf("m%d", i))
	}
	got, err := s.StateAtEvent(ctx, prev, core.AllState)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state at the last chained event (-want +got):\n%s", diff)
	}

	// Based on an event stored by an earlier batch.
	ev := r.state("topic", 10, "m.room.topic", "", `{"topic":"t"}`, prev)
	ev.NewStateGroup = &core.StateGroupDelta{PrevEvent: prev, Changes: ev.NewStateGroup.Changes}
	r.persist(core.PersistOptions{}, ev)
	got, err = s.StateAtEvent(ctx, ev.EventID, core.AllState)
	if err != nil {
		t.Fatal(err)
	}
	want[core.StateKey{Type: "m.room.topic"}] = ev.EventID
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state at an event based on a stored one (-want +got):\n%s", diff)
	}

	// Based on an unknown event: nothing of the batch is stored.
	a := r.state("a", 11, "m.room.name", "", `{"name":"a"}`, ev.EventID)
	b := r.state("b", 12, "m.room.name", "", `{"name":"b"}`, a.EventID)
	b.NewStateGroup = &core.StateGroupDelta{PrevEvent: eventID("nowhere"), Changes: b.NewStateGroup.Changes}
	_, err = s.PersistEvents(ctx, []core.NewEvent{a, b}, core.PersistOptions{})
	wantErrIs(t, "PersistEvents based on an unknown event", err, core.ErrNotFound)
	if _, err := s.StateGroupOf(ctx, a.EventID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("after the refused batch, StateGroupOf(a) = %v, want not found", err)
	}
}

// TestStateCacheDeltaChain: a long run of groups, each on the one before
// (as joins to a room make them), is cached as deltas, cut into a whole
// state every maxDeltaDepth; every group's state read from the cache,
// whole or by keys, is the model's.
func TestStateCacheDeltaChain(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	s.MaxStateGroupHops = 1000
	room := "!r"
	if err := s.StoreRoom(ctx, core.RoomInfo{RoomID: room, RoomVersion: "12"}); err != nil {
		t.Fatal(err)
	}
	model := map[int64]core.StateMap{}
	var groups []int64
	var prev int64
	state := core.StateMap{}
	n := 3*maxDeltaDepth + 5
	for i := range n {
		changes := core.StateMap{{Type: "m.room.member", StateKey: fmt.Sprintf("@u%d:x", i)}: fmt.Sprint("$join", i)}
		if i%7 == 6 { // someone leaves the state now and then
			changes[core.StateKey{Type: "m.room.member", StateKey: fmt.Sprintf("@u%d:x", i-3)}] = ""
		}
		g, err := s.StoreStateGroup(ctx, room, fmt.Sprint("$e", i), core.StateGroupDelta{Prev: prev, Changes: changes})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range changes {
			if v == "" {
				delete(state, k)
			} else {
				state[k] = v
			}
		}
		model[g] = maps.Clone(state)
		groups = append(groups, g)
		prev = g
	}
	keys := core.StateKeys(core.StateKey{Type: "m.room.member", StateKey: "@u3:x"},
		core.StateKey{Type: "m.room.member", StateKey: "@u40:x"}, core.StateKey{Type: "m.room.member", StateKey: "@u99:x"})
	// Newest first, so the key reads walk the deltas before a whole read
	// builds any of them.
	for _, f := range []core.StateFilter{keys, core.AllState} {
		for i := len(groups) - 1; i >= 0; i-- {
			g := groups[i]
			got, ok := s.states.lookup(g, f)
			if !ok {
				t.Fatalf("group %d (%d of %d) is not cached", g, i, n)
			}
			want := core.StateMap{}
			for k, v := range model[g] {
				if f.Match(k) {
					want[k] = v
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("cached state of group %d, filter %+v (-model +cached):\n%s", g, f, diff)
			}
		}
	}
}
