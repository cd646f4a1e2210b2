package storage

import (
	"context"
	"fmt"
	"testing"

	"hearth.dev/hearth/core"
)

// dbBytes returns the size of the database's pages (both logical
// databases, which share one file by default).
func dbBytes(tb testing.TB, s *EventStore) int64 {
	tb.Helper()
	var pages, size int64
	err := s.db.Read(context.Background(), func(q Queryer) error {
		if err := q.QueryRowContext(context.Background(), "PRAGMA page_count").Scan(&pages); err != nil {
			return err
		}
		return q.QueryRowContext(context.Background(), "PRAGMA page_size").Scan(&size)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return pages * size
}

// BenchmarkPersistMessage persists one message event per operation, each
// on top of the previous one, in its own transaction, and reports the
// database bytes each event adds.
func BenchmarkPersistMessage(b *testing.B) {
	for _, tc := range []struct {
		name string
		txn  bool
	}{{"federated", false}, {"sent with txn id", true}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			s := newTestStore(b)
			r := newTestRoom(b, s, "r")
			r.persist(core.PersistOptions{}, r.msg("m0", 1))
			evs := make([]core.NewEvent, b.N)
			for i := range evs {
				evs[i] = r.msg(fmt.Sprint("m", i+1), int64(i+2), fmt.Sprint("m", i))
				if tc.txn {
					evs[i].Txn = &core.TxnID{UserID: "@alice:" + testServer, DeviceID: "ABCDEFGHIJ", TxnID: fmt.Sprintf("m%d.%d", 1_700_000_000_000+i, i)}
				}
			}
			jsonBytes := 0
			for _, ev := range evs {
				jsonBytes += len(ev.JSON)
			}
			before := dbBytes(b, s)
			b.ResetTimer()
			for i := range evs {
				if _, err := s.PersistEvents(ctx, evs[i:i+1], core.PersistOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if b.N >= 1000 {
				b.ReportMetric(float64(dbBytes(b, s)-before)/float64(b.N), "dbB/event")
				b.ReportMetric(float64(jsonBytes)/float64(b.N), "jsonB/event")
			}
		})
	}
}

// BenchmarkPersistStateEvent persists one membership event per operation,
// each creating a new state group on the previous one and changing the
// current state.
func BenchmarkPersistStateEvent(b *testing.B) {
	ctx := context.Background()
	s := newTestStore(b)
	r := newTestRoom(b, s, "r")
	prev, group := "", r.base
	evs := make([]core.NewEvent, b.N)
	for i := range evs {
		user := fmt.Sprintf("@user%d:remote.test", i)
		name := fmt.Sprint("j", i)
		var prevs []string
		if prev != "" {
			prevs = []string{prev}
		}
		evs[i] = r.member(name, int64(i+1), user, "join", prevs...)
		prev = name
	}
	before := dbBytes(b, s)
	b.ResetTimer()
	for i := range evs {
		ev := evs[i]
		ev.NewStateGroup = &core.StateGroupDelta{Prev: group, Changes: core.StateMap{{Type: "m.room.member", StateKey: *ev.StateKey}: ev.EventID}}
		_, err := s.PersistEvents(ctx, []core.NewEvent{ev}, core.PersistOptions{CurrentState: []core.CurrentStateDelta{{
			RoomID: r.id, Changes: core.StateMap{{Type: "m.room.member", StateKey: *ev.StateKey}: ev.EventID},
		}}})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if group, err = s.StateGroupOf(ctx, ev.EventID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	if b.N >= 1000 {
		b.ReportMetric(float64(dbBytes(b, s)-before)/float64(b.N), "dbB/event")
	}
}

// stateChangesRoom stores n state groups in a chain (with the default hop
// limit), each changing one key: mostly memberships of 2,500 users, and
// the power levels every 50th change. It returns the groups.
func stateChangesRoom(b *testing.B, s *EventStore, room string, n int) []int64 {
	ctx := context.Background()
	if err := s.StoreRoom(ctx, core.RoomInfo{RoomID: room, RoomVersion: "12"}); err != nil {
		b.Fatal(err)
	}
	groups := make([]int64, 0, n)
	var prev int64
	for start := 0; start < n; start += 500 {
		err := s.db.Write(ctx, func(q Queryer) error {
			for i := start; i < min(start+500, n); i++ {
				key := core.StateKey{Type: "m.room.member", StateKey: fmt.Sprintf("@user%d:remote.test", i%2500)}
				if i%50 == 0 {
					key = core.StateKey{Type: "m.room.power_levels"}
				}
				eid := eventID(fmt.Sprint("state", i))
				g, _, err := storeStateGroup(ctx, q, nil, room, eid, core.StateGroupDelta{Prev: prev, Changes: core.StateMap{key: eid}}, s.maxHops())
				if err != nil {
					return err
				}
				groups = append(groups, g)
				prev = g
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return groups
}

// BenchmarkStateAt reads state from a room with 10,000 state changes,
// from the database ("uncached") and with the state group cache warm.
func BenchmarkStateAt(b *testing.B) {
	ctx := context.Background()
	s := newTestStore(b)
	groups := stateChangesRoom(b, s, "!big", 10_000)
	last := groups[len(groups)-1]
	b.Logf("%d state groups, database %d bytes", len(groups), dbBytes(b, s))
	for _, cached := range []bool{false, true} {
		for _, tc := range []struct {
			name   string
			group  int64
			filter core.StateFilter
		}{
			{"full state at newest group", last, core.AllState},
			{"power levels at newest group", last, core.StateTypes("m.room.power_levels")},
			{"one member at a middle group", groups[5050], core.StateKeys(core.StateKey{Type: "m.room.member", StateKey: "@user7:remote.test"})},
			{"lazy members (3) and the rest", last, core.StateFilter{Types: map[string][]string{"m.room.member": {"@user1:remote.test", "@user2:remote.test", "@user3:remote.test"}}, IncludeOthers: true}},
		} {
			name := "uncached/" + tc.name
			if cached {
				name = "cached/" + tc.name
			}
			b.Run(name, func(b *testing.B) {
				s.states = stateCache{}
				if cached {
					s.states.maxBytes = core.DefaultCacheBudget.StateGroups()
					if _, err := s.StateAt(ctx, tc.group, core.AllState); err != nil {
						b.Fatal(err)
					}
				}
				var n int
				for b.Loop() {
					m, err := s.StateAt(ctx, tc.group, tc.filter)
					if err != nil {
						b.Fatal(err)
					}
					n = len(m)
				}
				b.ReportMetric(float64(n), "keys")
			})
		}
	}
}

// BenchmarkSyncStream reads the stream of 50 rooms of 200 events each the
// way /sync does: an incremental sync over the last 100 positions, and an
// initial-style read of the newest 10 events of every room.
func BenchmarkSyncStream(b *testing.B) {
	ctx := context.Background()
	s := newTestStore(b)
	var rooms []string
	var trs []*testRoom
	for i := range 50 {
		r := newTestRoom(b, s, fmt.Sprint("room", i))
		rooms = append(rooms, r.id)
		trs = append(trs, r)
	}
	// Interleave the rooms' events, as live traffic does.
	for d := range 200 {
		var batch []core.NewEvent
		for i, r := range trs {
			name := fmt.Sprintf("r%d-m%d", i, d)
			var prevs []string
			if d > 0 {
				prevs = []string{fmt.Sprintf("r%d-m%d", i, d-1)}
			}
			ev := r.msg(name, int64(d+1), prevs...)
			batch = append(batch, ev)
		}
		if _, err := s.PersistEvents(ctx, batch, core.PersistOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	pos, err := s.StreamPosition(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		from     int64
		limit    int
		wantRead int
	}{
		{"incremental 100 positions", pos - 100, 11, 100},
		{"newest 10 per room", 0, 10, 500},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				got, err := s.RoomEventsStream(ctx, rooms, tc.from, pos, core.Backward, tc.limit)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, evs := range got {
					n += len(evs)
				}
				if n != tc.wantRead {
					b.Fatalf("read %d events, want %d", n, tc.wantRead)
				}
			}
		})
	}
	b.Run("messages page of 20", func(b *testing.B) {
		for b.Loop() {
			evs, _, err := s.RoomEventsTopological(ctx, rooms[7], core.TopologicalEnd, core.TopologicalStart, core.Backward, 20)
			if err != nil || len(evs) != 20 {
				b.Fatalf("read %d events, %v", len(evs), err)
			}
		}
	})
}
