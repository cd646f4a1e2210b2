package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"hearth.dev/hearth/core"
)

func TestRoomEventsStream(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r1 := newTestRoom(t, s, "r1")
	r2 := newTestRoom(t, s, "r2")
	// Stream orderings: m1..m6 alternate between the rooms.
	r1.persist(core.PersistOptions{}, r1.msg("m1", 1))
	r2.persist(core.PersistOptions{}, r2.msg("m2", 1))
	r1.persist(core.PersistOptions{}, r1.msg("m3", 2, "m1"))
	r2.persist(core.PersistOptions{}, r2.msg("m4", 2, "m2"))
	r1.persist(core.PersistOptions{}, r1.msg("m5", 3, "m3"))
	r2.persist(core.PersistOptions{}, r2.msg("m6", 3, "m4"))
	// Events that are never in a timeline.
	out := r1.msg("m7", 4, "m5")
	out.Outlier = true
	rej := r1.msg("m8", 4, "m5")
	rej.Rejected = "auth"
	soft := r1.msg("m9", 4, "m5")
	soft.SoftFailed = true
	r1.persist(core.PersistOptions{}, out, rej, soft)
	r1.persist(core.PersistOptions{}, r1.msg("m10", 4, "m5"))

	tests := []struct {
		name     string
		rooms    []string
		from, to int64
		dir      core.Direction
		limit    int
		want     map[string][]string
	}{
		{"all backward", []string{r1.id, r2.id}, 0, 10, core.Backward, 10,
			map[string][]string{r1.id: {"m10", "m5", "m3", "m1"}, r2.id: {"m6", "m4", "m2"}}},
		{"all forward", []string{r1.id, r2.id}, 0, 10, core.Forward, 10,
			map[string][]string{r1.id: {"m1", "m3", "m5", "m10"}, r2.id: {"m2", "m4", "m6"}}},
		{"limit per room backward", []string{r1.id, r2.id}, 0, 10, core.Backward, 2,
			map[string][]string{r1.id: {"m10", "m5"}, r2.id: {"m6", "m4"}}},
		{"limit per room forward", []string{r1.id, r2.id}, 0, 10, core.Forward, 2,
			map[string][]string{r1.id: {"m1", "m3"}, r2.id: {"m2", "m4"}}},
		{"from exclusive, to inclusive", []string{r1.id, r2.id}, 2, 5, core.Forward, 10,
			map[string][]string{r1.id: {"m3", "m5"}, r2.id: {"m4"}}},
		{"one room", []string{r2.id}, 0, 10, core.Backward, 10,
			map[string][]string{r2.id: {"m6", "m4", "m2"}}},
		{"quiet room left out", []string{r1.id, r2.id}, 6, 10, core.Backward, 10,
			map[string][]string{r1.id: {"m10"}}},
		{"unknown room left out", []string{"!nope", r2.id}, 5, 6, core.Backward, 10,
			map[string][]string{r2.id: {"m6"}}},
		{"empty range", []string{r1.id, r2.id}, 10, 10, core.Backward, 10, map[string][]string{}},
		{"zero limit", []string{r1.id}, 0, 10, core.Backward, 0, map[string][]string{}},
	}
	// Each case with both plans: each room's events, and a walk of the
	// stream's range.
	defer func(v int64) { streamWalkPerRoom = v }(streamWalkPerRoom)
	for _, plan := range []struct {
		name    string
		perRoom int64
	}{{"rooms", 0}, {"walk", 1 << 40}} {
		streamWalkPerRoom = plan.perRoom
		for _, tt := range tests {
			t.Run(plan.name+"/"+tt.name, func(t *testing.T) {
				got, err := s.RoomEventsStream(ctx, tt.rooms, tt.from, tt.to, tt.dir, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				gotNames := map[string][]string{}
				for room, evs := range got {
					gotNames[room] = streamNames(evs)
				}
				if diff := cmp.Diff(tt.want, gotNames); diff != "" {
					t.Errorf("RoomEventsStream mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestRoomEventsTopologicalPages pages through a room whose events share
// depths, arrive out of order and include backfilled ones, and checks that
// pages in both directions neither repeat nor skip an event.
func TestRoomEventsTopologicalPages(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	rng := rand.New(rand.NewPCG(1, 2))
	type key struct {
		name  string
		depth int64
		so    int64
	}
	var all []key
	for i := range 60 {
		name := fmt.Sprint("m", i)
		depth := int64(1 + i/5) // five events per depth
		opts := core.PersistOptions{Backfilled: rng.IntN(4) == 0}
		so := r.persist(opts, r.msg(name, depth))
		all = append(all, key{name, depth, so[0]})
	}
	slices.SortFunc(all, func(a, b key) int {
		if a.depth != b.depth {
			return int(a.depth - b.depth)
		}
		return int(a.so - b.so)
	})
	var ascending []string
	for _, k := range all {
		ascending = append(ascending, k.name)
	}
	descending := slices.Clone(ascending)
	slices.Reverse(descending)

	for _, size := range []int{1, 3, 4, 5, 7, 60, 100} {
		t.Run(fmt.Sprint("page size ", size), func(t *testing.T) {
			page := func(from core.TopologicalToken, dir core.Direction) ([]string, core.TopologicalToken) {
				to := core.TopologicalStart
				if dir == core.Forward {
					to = core.TopologicalEnd
				}
				var got []string
				for range 200 {
					evs, next, err := s.RoomEventsTopological(ctx, r.id, from, to, dir, size)
					if err != nil {
						t.Fatal(err)
					}
					if len(evs) > size {
						t.Fatalf("page of %d events, limit %d", len(evs), size)
					}
					if len(evs) == 0 {
						if next != from {
							t.Errorf("empty page moved the token from %v to %v", from, next)
						}
						return got, from
					}
					got = append(got, streamNames(evs)...)
					from = next
				}
				t.Fatal("pagination does not end")
				return nil, from
			}
			back, end := page(core.TopologicalEnd, core.Backward)
			if diff := cmp.Diff(descending, back); diff != "" {
				t.Errorf("backward pages mismatch (-want +got):\n%s", diff)
			}
			fwd, _ := page(core.TopologicalStart, core.Forward)
			if diff := cmp.Diff(ascending, fwd); diff != "" {
				t.Errorf("forward pages mismatch (-want +got):\n%s", diff)
			}
			// Turning round at the oldest event gives the rest, without it.
			again, _ := page(end, core.Forward)
			if diff := cmp.Diff(ascending[1:], again); diff != "" {
				t.Errorf("forward from the backward end mismatch (-want +got):\n%s", diff)
			}
		})
	}

	// "to" bounds a read, exclusively.
	mid := all[30]
	evs, _, err := s.RoomEventsTopological(ctx, r.id, core.TopologicalEnd,
		core.TopologicalToken{Depth: mid.depth, Stream: mid.so}, core.Backward, 100)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(descending[:len(all)-31], streamNames(evs)); diff != "" {
		t.Errorf("bounded read mismatch (-want +got):\n%s", diff)
	}
	_, _, err = s.RoomEventsTopological(ctx, "!nope", core.TopologicalEnd, core.TopologicalStart, core.Backward, 10)
	wantErrIs(t, "RoomEventsTopological(unknown room)", err, core.ErrNotFound)
}

func TestEventReadsUseIndexes(t *testing.T) {
	// The hot event reads must search events by an index, never scan it.
	ctx := context.Background()
	s := newTestStore(t)
	tests := []struct{ name, query, index string }{
		{"rooms stream", sqlRoomsStreamBackward, "events_room_stream"},
		{"events by ID", strings.Replace(sqlEventsByID, "json_each(?)", "json_each('[]')", 1), "sqlite_autoindex_events_1"},
		{"stream", selectEvents + " WHERE e.room_nid = 1 AND " + timelineVisible +
			" AND e.stream_ordering > 0 AND e.stream_ordering <= 9 ORDER BY e.stream_ordering DESC LIMIT 5", "events_room_stream"},
		{"topological", selectEvents + " WHERE e.room_nid = 1 AND " + timelineVisible +
			" AND (e.topological_ordering, e.stream_ordering) < (5, 5) AND (e.topological_ordering, e.stream_ordering) > (0, 0)" +
			" ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT 5", "events_room_topological"},
		{"timestamp forward", strings.ReplaceAll(sqlNearTimestampForward, "?", "1"), "events_room_timestamp"},
		{"timestamp backward", strings.ReplaceAll(sqlNearTimestampBackward, "?", "1"), "events_room_timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var plan []string
			err := s.db.Read(ctx, func(q Queryer) error {
				rows, err := q.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tt.query)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var id, parent, unused int
					var detail string
					if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
						return err
					}
					plan = append(plan, detail)
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(plan, "\n")
			if !strings.Contains(joined, "USING INDEX "+tt.index) || strings.Contains(joined, "SCAN e ") ||
				strings.Contains(joined, "SCAN e\n") || strings.HasSuffix(joined, "SCAN e") || strings.Contains(joined, "SCAN x") {
				t.Errorf("plan:\n%s\nwant events searched using %s, never scanned", joined, tt.index)
			}
		})
	}
}
