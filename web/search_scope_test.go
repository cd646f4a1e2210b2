package web

import (
	"fmt"
	"slices"
	"testing"
)

// A search of all the searcher's rooms (which the store reads from their
// memberships) finds and counts what the same search naming each room in
// a filter does: rooms joined, a room left, and a room joined after
// history hidden from them, in both orders.
func TestSearchAllRoomsMatchesRoomList(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	var rooms []string
	for i := range 3 {
		id := e.createRoom(bob, map[string]any{"preset": "private_chat", "name": fmt.Sprint("mine ", i)})
		rooms = append(rooms, id)
		e.send(bob, id, fmt.Sprint("m", i), fmt.Sprint("lantern note ", i))
	}
	left := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+left+"/join", bob, map[string]any{}, nil)
	e.send(alice, left, "l1", "lantern note before leaving")
	e.must("POST", cs+"/rooms/"+left+"/leave", bob, map[string]any{}, nil)
	e.send(alice, left, "l2", "lantern note after leaving")
	hidden := e.createRoom(alice, map[string]any{"preset": "public_chat", "initial_state": []any{
		map[string]any{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "joined"}},
	}})
	e.send(alice, hidden, "h1", "lantern note hidden")
	e.must("POST", cs+"/rooms/"+hidden+"/join", bob, map[string]any{}, nil)
	e.send(alice, hidden, "h2", "lantern note seen")
	// A room bob never joined.
	other := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	e.send(alice, other, "o1", "lantern note elsewhere")
	rooms = append(rooms, left, hidden)

	for _, order := range []string{"rank", "recent"} {
		all := e.search(bob, "", map[string]any{"search_term": "lantern", "order_by": order})
		listed := e.search(bob, "", map[string]any{"search_term": "lantern", "order_by": order,
			"filter": map[string]any{"rooms": rooms}})
		got, want := resultIDs(all), resultIDs(listed)
		if len(got) != 5 || all.Count != 5 {
			t.Errorf("%s: all rooms found %d (%v), count %d; want 5", order, len(got), got, all.Count)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || all.Count != listed.Count {
			t.Errorf("%s: all rooms found %v count %d, the room list %v count %d", order, got, all.Count, want, listed.Count)
		}
	}
}
