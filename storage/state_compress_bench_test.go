package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"hearth.dev/hearth/core"
)

// forkedStateRoom stores a room with n state changes the way a busy public
// room makes them: mostly joins of new users, some leaves and profile
// changes of members, now and then the power levels, name or topic; and
// every 25th change a fork, two changes made on the same group (events
// sent at once on two servers) and a group merging them (the resolved
// state, stored as a delta from one side). Chains follow the default hop
// limit, so a snapshot comes every 100 hops. It returns the groups.
func forkedStateRoom(b *testing.B, s *EventStore, room string, n int) []int64 {
	ctx := context.Background()
	if err := s.StoreRoom(ctx, core.RoomInfo{RoomID: room, RoomVersion: "12"}); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	users := 0
	member := func(i int) core.StateKey {
		return core.StateKey{Type: "m.room.member", StateKey: fmt.Sprintf("@user%d:remote.test", i)}
	}
	change := func(i int) core.StateMap {
		eid := eventID(fmt.Sprint("state", i))
		switch r := rng.IntN(100); {
		case r < 70 || users < 10:
			users++
			return core.StateMap{member(users): eid}
		case r < 90:
			return core.StateMap{member(1 + rng.IntN(users)): eid}
		case r < 95:
			return core.StateMap{{Type: "m.room.power_levels"}: eid}
		default:
			return core.StateMap{{Type: []string{"m.room.name", "m.room.topic"}[rng.IntN(2)]}: eid}
		}
	}
	groups := make([]int64, 0, n+n/25)
	var prev int64
	store := func(q Queryer, i int, delta core.StateGroupDelta) (int64, error) {
		g, _, err := storeStateGroup(ctx, q, nil, room, eventID(fmt.Sprint("group", i)), delta, s.maxHops())
		groups = append(groups, g)
		return g, err
	}
	for start := 0; start < n; start += 500 {
		err := s.db.Write(ctx, func(q Queryer) error {
			for i := start; i < min(start+500, n); i++ {
				c := change(i)
				if i%25 != 24 {
					g, err := store(q, i, core.StateGroupDelta{Prev: prev, Changes: c})
					if err != nil {
						return err
					}
					prev = g
					continue
				}
				// A fork: this change and the next made on prev at once,
				// then merged.
				i++
				other := change(i)
				left, err := store(q, i-1, core.StateGroupDelta{Prev: prev, Changes: c})
				if err != nil {
					return err
				}
				if _, err := store(q, i, core.StateGroupDelta{Prev: prev, Changes: other}); err != nil {
					return err
				}
				if prev, err = store(q, -i, core.StateGroupDelta{Prev: left, Changes: other}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return groups
}

// BenchmarkStateCompression compresses a room with 10,000 state changes
// and forks, and reads state from the database (no cache) in a copy left
// as it was ("before") and in the compressed one ("after"): the whole
// state, and the few keys an auth check reads. The "rows" sub-benchmark
// reports the state_groups_state rows before and after, the compression's
// time, and the time of reads after as a multiple of the time before, from
// reads of the two databases taken in turn so that the load of the machine
// weighs on both alike. HEARTH_COMPRESS_LEVELS picks other level sizes.
func BenchmarkStateCompression(b *testing.B) {
	ctx := context.Background()
	sizes := DefaultStateCompressionLevels
	if v := os.Getenv("HEARTH_COMPRESS_LEVELS"); v != "" {
		var err error
		if sizes, err = ParseStateCompressionLevels(v); err != nil {
			b.Fatal(err)
		}
	}
	plain, packed := newTestStore(b), newTestStore(b)
	groups := forkedStateRoom(b, plain, "!big", 10_000)
	if again := forkedStateRoom(b, packed, "!big", 10_000); len(again) != len(groups) || again[len(again)-1] != groups[len(groups)-1] {
		b.Fatal("the two copies of the room differ")
	}
	rowsBefore := stateRows(b, packed.db)
	chainBefore := longestChain(b, packed.db)
	start := time.Now()
	st, err := NewStateCompressor(packed.db, sizes).Run(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	compress := time.Since(start)
	rowsAfter := stateRows(b, packed.db)
	chainAfter := longestChain(b, packed.db)

	rng := rand.New(rand.NewPCG(3, 4))
	sample := make([]int64, 64)
	for i := range sample {
		sample[i] = groups[rng.IntN(len(groups))]
	}
	sample[0] = groups[len(groups)-1]
	reads := []struct {
		name, metric string
		filter       core.StateFilter
	}{
		{"full", "x_read_full", core.AllState},
		{"auth keys", "x_read_keys", core.StateKeys(core.StateKey{Type: "m.room.create"}, core.StateKey{Type: "m.room.power_levels"},
			core.StateKey{Type: "m.room.join_rules"}, core.StateKey{Type: "m.room.member", StateKey: "@user7:remote.test"})},
	}
	uncached := func(s *EventStore) *EventStore {
		fresh := NewEventStore(s.db)
		fresh.states.maxBytes = 0
		return fresh
	}
	for _, phase := range []struct {
		name string
		s    *EventStore
	}{{"before", plain}, {"after", packed}} {
		for _, r := range reads {
			b.Run(phase.name+"/"+r.name, func(b *testing.B) {
				s := uncached(phase.s)
				i, keys := 0, 0
				for b.Loop() {
					m, err := s.StateAt(ctx, sample[i%len(sample)], r.filter)
					if err != nil {
						b.Fatal(err)
					}
					keys += len(m)
					i++
				}
				b.ReportMetric(float64(keys)/float64(i), "keys/read")
			})
		}
	}

	b.Run("rows", func(b *testing.B) {
		for b.Loop() {
			if _, err := packed.db.StateGroupRows(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rowsBefore), "rows_before")
		b.ReportMetric(float64(rowsAfter), "rows_after")
		b.ReportMetric(float64(rowsBefore)/float64(rowsAfter), "x_fewer_rows")
		b.ReportMetric(float64(compress.Milliseconds()), "compress_ms")
		b.ReportMetric(float64(chainBefore), "hops_before")
		b.ReportMetric(float64(chainAfter), "hops_after")
		// The same reads of both databases in turn.
		before, after := uncached(plain), uncached(packed)
		for _, r := range reads {
			var tb, ta time.Duration
			for range 3 {
				for _, g := range sample {
					t0 := time.Now()
					if _, err := before.StateAt(ctx, g, r.filter); err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					if _, err := after.StateAt(ctx, g, r.filter); err != nil {
						b.Fatal(err)
					}
					tb, ta = tb+t1.Sub(t0), ta+time.Since(t1)
				}
			}
			b.ReportMetric(float64(ta)/float64(tb), r.metric)
		}
	})
	b.Logf("levels %v: %d groups, %d rewritten in %v; state_groups_state %d rows before, %d after (%.1fx fewer); longest chain %d hops before, %d after",
		sizes, len(groups), st.Rewritten, compress.Round(time.Millisecond), rowsBefore, rowsAfter,
		float64(rowsBefore)/float64(rowsAfter), chainBefore, chainAfter)
}
