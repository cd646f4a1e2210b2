package web

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"testing"
)

// An incremental /sync of a user in many rooms names only the rooms with
// news: new events (found by walking the stream since the token, or by
// asking each room when more than maxMoved events came), and a quiet room
// only when an ephemeral event comes for it, with an empty timeline.
func TestSyncIncrementalQuietRooms(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	rooms := make([]string, 6)
	for i := range rooms {
		rooms[i] = e.createRoom(alice, map[string]any{"preset": "private_chat", "name": fmt.Sprint("room ", i)})
	}
	type joined struct {
		Timeline struct {
			Events []syncEvent `json:"events"`
		} `json:"timeline"`
		Ephemeral struct {
			Events []struct {
				Type string `json:"type"`
			} `json:"events"`
		} `json:"ephemeral"`
	}
	syncJoin := func(since string) (map[string]joined, string) {
		t.Helper()
		_, r := e.sync(alice, "since", since)
		var out struct {
			NextBatch string `json:"next_batch"`
			Rooms     struct {
				Join map[string]joined `json:"join"`
			} `json:"rooms"`
		}
		r.JSON(t, &out)
		return out.Rooms.Join, out.NextBatch
	}
	first, _ := e.sync(alice)
	since := first.NextBatch

	// A few events: the walk of the range.
	a := e.send(alice, rooms[1], "q1", "one")
	b := e.send(alice, rooms[4], "q2", "four")
	got, next := syncJoin(since)
	if ids := slices.Sorted(maps.Keys(got)); !slices.Equal(ids, slices.Sorted(slices.Values([]string{rooms[1], rooms[4]}))) {
		t.Fatalf("incremental sync has rooms %v, want %s and %s", ids, rooms[1], rooms[4])
	}
	if ev := got[rooms[1]].Timeline.Events; len(ev) != 1 || ev[0].EventID != a {
		t.Errorf("room 1 timeline = %+v, want [%s]", ev, a)
	}
	if ev := got[rooms[4]].Timeline.Events; len(ev) != 1 || ev[0].EventID != b {
		t.Errorf("room 4 timeline = %+v, want [%s]", ev, b)
	}
	since = next

	// Typing in a quiet room brings it in with an empty timeline.
	e.must("PUT", cs+"/rooms/"+url.PathEscape(rooms[2])+"/typing/"+url.PathEscape("@alice:"+roomTestServer), alice, map[string]any{"typing": true, "timeout": 30000}, nil)
	got, next = syncJoin(since)
	if ids := slices.Collect(maps.Keys(got)); len(ids) != 1 || ids[0] != rooms[2] {
		t.Fatalf("sync after typing has rooms %v, want only %s", ids, rooms[2])
	}
	if jr := got[rooms[2]]; len(jr.Timeline.Events) != 0 || len(jr.Ephemeral.Events) != 1 || jr.Ephemeral.Events[0].Type != "m.typing" {
		t.Errorf("quiet room section = %+v, want an empty timeline and one m.typing", jr)
	}
	since = next

	// More events than the walk reads: each room is asked instead.
	for i := range 505 {
		e.send(alice, rooms[0], fmt.Sprint("bulk", i), "bulk")
	}
	c := e.send(alice, rooms[5], "q3", "five")
	got, _ = syncJoin(since)
	if ids := slices.Sorted(maps.Keys(got)); !slices.Equal(ids, slices.Sorted(slices.Values([]string{rooms[0], rooms[5]}))) {
		t.Fatalf("sync after 506 events has rooms %v, want %s and %s", ids, rooms[0], rooms[5])
	}
	if ev := got[rooms[5]].Timeline.Events; len(ev) != 1 || ev[0].EventID != c {
		t.Errorf("room 5 timeline = %+v, want [%s]", ev, c)
	}
}
