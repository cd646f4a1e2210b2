package core

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// Random joins, changes and removals on lists of up to ~700 rooms (chunks
// split and emptied) give the lists a sorted map would: in room ID order,
// found by Get, counted by Len; and every older list stays as it was.
func TestRoomListChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type snap struct {
		l    *RoomList
		want []RoomMembership
	}
	var snaps []snap
	model := map[string]RoomMembership{}
	sorted := func() []RoomMembership {
		var out []RoomMembership
		for _, k := range slices.Sorted(maps.Keys(model)) {
			out = append(out, model[k])
		}
		return out
	}
	l := NewRoomList(nil)
	for step := range 4000 {
		id := fmt.Sprintf("!r%04d:x", rng.IntN(800))
		switch {
		case step < 600 || rng.IntN(3) > 0:
			m := RoomMembership{RoomID: id, UserID: "@a:x", Membership: []string{"join", "leave", "invite"}[rng.IntN(3)], StreamOrdering: int64(step)}
			l = l.With(m)
			model[id] = m
		default:
			l = l.Without(id)
			delete(model, id)
		}
		if step%97 == 0 {
			snaps = append(snaps, snap{l, sorted()})
		}
		if _, ok := l.Get(id); ok != (model[id] != RoomMembership{}) {
			t.Fatalf("step %d: Get(%s) found = %v", step, id, ok)
		}
	}
	snaps = append(snaps, snap{l, sorted()})
	for i, s := range snaps {
		got := slices.Collect(s.l.All())
		if !slices.Equal(got, s.want) {
			t.Fatalf("list %d: %d rooms, want %d (or different rooms)", i, len(got), len(s.want))
		}
		if s.l.Len() != len(s.want) {
			t.Errorf("list %d: Len() = %d, want %d", i, s.l.Len(), len(s.want))
		}
		for _, m := range s.want {
			if g, ok := s.l.Get(m.RoomID); !ok || g != m {
				t.Errorf("list %d: Get(%s) = %v, %v", i, m.RoomID, g, ok)
			}
		}
		for _, c := range s.l.chunks {
			if len(c) == 0 || len(c) > 2*roomListChunk {
				t.Errorf("list %d: a chunk of %d rooms", i, len(c))
			}
		}
	}
	if len(snaps[len(snaps)-1].l.chunks) < 3 {
		t.Errorf("the last list has %d chunks: the test did not split any", len(snaps[len(snaps)-1].l.chunks))
	}
	// NewRoomList of a sorted slice reads as that slice.
	want := sorted()
	if got := slices.Collect(NewRoomList(slices.Clone(want)).All()); !slices.Equal(got, want) {
		t.Error("NewRoomList does not list its rooms in order")
	}
	var empty *RoomList
	if empty.Len() != 0 || empty.Has("!r") || len(slices.Collect(empty.All())) != 0 || empty.With(want[0]).Len() != 1 {
		t.Error("a nil list is not an empty list")
	}
}

// BenchmarkRoomListChange: a user in 15,000 rooms joins one room more and
// leaves it again, as a createRoom and a leave change the cached list; the
// bytes per op are the garbage a membership change makes. "held" reports
// the bytes a list of 15,000 rooms keeps on the heap.
func BenchmarkRoomListChange(b *testing.B) {
	const rooms = 15000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ms := make([]RoomMembership, rooms)
	for i := range ms {
		ms[i] = RoomMembership{RoomID: fmt.Sprintf("!%018d:example.org", 2*i), UserID: "@owner:example.org",
			Membership: string([]byte(MembershipJoin)), EventID: fmt.Sprintf("$%043d", i), StreamOrdering: int64(i)}
	}
	l := NewRoomList(ms)
	ms = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / rooms
	joins := make([]RoomMembership, 1000)
	for i := range joins {
		joins[i] = RoomMembership{RoomID: fmt.Sprintf("!%018d:example.org", 30*i+1), UserID: "@owner:example.org", Membership: MembershipJoin, EventID: "$e"}
	}
	i := 0
	for b.Loop() {
		m := joins[i%len(joins)]
		l = l.With(m).Without(m.RoomID)
		i++
	}
	if l.Len() != rooms {
		b.Fatalf("%d rooms, want %d", l.Len(), rooms)
	}
	b.ReportMetric(held, "held-B/room")
}
