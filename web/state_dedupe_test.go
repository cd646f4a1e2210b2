package web

import (
	"testing"
)

// Sending state identical to the current state, or joining a room one has
// joined, returns the current event instead of a new one (as Synapse), so
// clients that resend do not flood the room.
func TestStateResendReturnsCurrentEvent(t *testing.T) {
	e := newRoomEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	put := func(token string, content map[string]any) string {
		t.Helper()
		var out struct {
			EventID string `json:"event_id"`
		}
		e.must("PUT", cs+"/rooms/"+roomID+"/state/m.room.topic", token, content, &out)
		return out.EventID
	}
	first := put(alice, map[string]any{"topic": "hello", "m.topic": []any{map[string]any{"body": "hello"}}})
	// The same content, keys in another order: the same event.
	if again := put(alice, map[string]any{"m.topic": []any{map[string]any{"body": "hello"}}, "topic": "hello"}); again != first {
		t.Errorf("same topic again: event %s, want the current %s", again, first)
	}
	other := put(alice, map[string]any{"topic": "changed"})
	if other == first {
		t.Errorf("a different topic returned the current event %s", first)
	}
	if back := put(alice, map[string]any{"topic": "hello", "m.topic": []any{map[string]any{"body": "hello"}}}); back == first || back == other {
		t.Errorf("returning to an earlier topic gave an old event %s", back)
	}
	// The same content from another sender is a new event.
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	var pl map[string]any
	e.must("GET", cs+"/rooms/"+roomID+"/state/m.room.power_levels", alice, nil, &pl)
	pl["state_default"] = 0
	e.must("PUT", cs+"/rooms/"+roomID+"/state/m.room.power_levels", alice, pl, nil)
	cur := put(alice, map[string]any{"topic": "same"})
	if byBob := put(bob, map[string]any{"topic": "same"}); byBob == cur {
		t.Errorf("bob's topic returned alice's event %s", cur)
	}

	// Joining again: the current join event.
	var j1, j2 struct {
		RoomID string `json:"room_id"`
	}
	before := e.state(alice, roomID)["m.room.member|@bob:"+roomTestServer].EventID
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, &j1)
	e.must("POST", cs+"/join/"+roomID, bob, map[string]any{}, &j2)
	if after := e.state(alice, roomID)["m.room.member|@bob:"+roomTestServer].EventID; after != before {
		t.Errorf("joining again made a new member event %s (was %s)", after, before)
	}
	if j1.RoomID != roomID || j2.RoomID != roomID {
		t.Errorf("joining again answered %q, %q, want %s", j1.RoomID, j2.RoomID, roomID)
	}
	// A join with other content (a reason) is a new event.
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{"reason": "back"}, nil)
	if after := e.state(alice, roomID)["m.room.member|@bob:"+roomTestServer].EventID; after == before {
		t.Error("a join with a reason returned the current event")
	}
}
