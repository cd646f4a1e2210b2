package web

import (
	"net/url"
	"testing"
)

func TestStatePutGet(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	roomID := env.createRoom(alice, map[string]any{"room_version": "12"})
	state := cs + "/rooms/" + roomID + "/state/"

	var put struct {
		EventID string `json:"event_id"`
	}
	// The empty state key, without and with the trailing slash.
	env.must("PUT", state+"m.room.name", alice, map[string]string{"name": "one"}, &put)
	first := put.EventID
	env.must("PUT", state+"m.room.name/", alice, map[string]string{"name": "two"}, &put)
	second := put.EventID
	if first == "" || second == first {
		t.Fatalf("state PUTs gave %q and %q", first, second)
	}
	for _, path := range []string{state + "m.room.name", state + "m.room.name/"} {
		var c map[string]any
		env.must("GET", path, alice, nil, &c)
		if c["name"] != "two" || len(c) != 1 {
			t.Errorf("GET %s = %v", path, c)
		}
	}
	var ev clientEvent
	env.must("GET", state+"m.room.name?format=event", alice, nil, &ev)
	if ev.EventID != second || ev.Type != "m.room.name" || ev.StateKey == nil || *ev.StateKey != "" || ev.RoomID != roomID {
		t.Errorf("format=event gave %+v", ev)
	}
	if ev.Unsigned.ReplacesState != first || ev.Unsigned.PrevContent["name"] != "one" {
		t.Errorf("unsigned replaces_state %q prev_content %v, want %s and the first name", ev.Unsigned.ReplacesState, ev.Unsigned.PrevContent, first)
	}
	env.wantError("GET", state+"m.room.name?format=xml", alice, nil, 400, "M_INVALID_PARAM")

	// A state key with a slash in it, and a custom type.
	key := "a/b c"
	env.must("PUT", state+"org.example.thing/"+url.PathEscape(key), alice, map[string]int{"n": 1}, nil)
	var c map[string]any
	env.must("GET", state+"org.example.thing/"+url.PathEscape(key), alice, nil, &c)
	if c["n"] != float64(1) {
		t.Errorf("custom state %v", c)
	}
	env.wantError("GET", state+"org.example.thing/other", alice, nil, 404, "M_NOT_FOUND")
	env.wantError("GET", state+"m.room.topic", alice, nil, 404, "M_NOT_FOUND")

	// Rule 9 of the auth rules: a state key starting with @ must be the sender.
	env.wantError("PUT", state+"org.example.thing/@bob:"+roomTestServer, alice, map[string]int{}, 403, "M_FORBIDDEN")

	// Canonical aliases must point to the room.
	env.wantError("PUT", state+"m.room.canonical_alias", alice, map[string]string{"alias": "#nowhere:" + roomTestServer}, 400, "M_BAD_ALIAS")
	env.wantError("PUT", state+"m.room.canonical_alias", alice, map[string]string{"alias": "not an alias"}, 400, "M_INVALID_PARAM")
	env.must("PUT", cs+"/directory/room/"+url.PathEscape("#here:"+roomTestServer), alice, map[string]string{"room_id": roomID}, nil)
	env.must("PUT", state+"m.room.canonical_alias", alice, map[string]string{"alias": "#here:" + roomTestServer}, nil)

	st := env.state(alice, roomID)
	if st["m.room.name|"].Content["name"] != "two" || st["org.example.thing|"+key].Content["n"] != float64(1) {
		t.Errorf("GET /state: %v", st)
	}
}
