package web

import (
	"net/url"
	"testing"
)

// TestKnockLocal: POST /knock on a room of this server sends the knock
// through the pipeline (by room ID or by alias); /sync shows the room in
// rooms.knock; a room whose join rule is not knock, or whose version has
// no knocking, refuses it; a target that is no room is M_INVALID_PARAM.
func TestKnockLocal(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	bob := env.user("bob", false)
	bobID := "@bob:" + roomTestServer

	knockRoom := env.createRoom(alice, map[string]any{
		"preset": "private_chat", "room_version": "7", "name": "knock here", "room_alias_name": "knockable",
		"initial_state": []map[string]any{{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}},
	})
	privateRoom := env.createRoom(alice, map[string]any{"preset": "private_chat", "room_version": "10"})
	oldRoom := env.createRoom(alice, map[string]any{"preset": "private_chat", "room_version": "6",
		"initial_state": []map[string]any{{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}},
	})

	env.wantError("POST", cs+"/knock/"+privateRoom, bob, map[string]any{}, 403, "M_FORBIDDEN")
	env.wantError("POST", cs+"/knock/"+oldRoom, bob, map[string]any{}, 403, "M_FORBIDDEN")
	env.wantError("POST", cs+"/knock/nowhere", bob, map[string]any{}, 400, "M_INVALID_PARAM")

	var out map[string]string
	env.must("POST", cs+"/knock/"+url.PathEscape("#knockable:"+roomTestServer), bob, map[string]any{"reason": "hello"}, &out)
	if out["room_id"] != knockRoom {
		t.Fatalf("knock by alias answered %v, want room_id %s", out, knockRoom)
	}
	var c map[string]any
	env.must("GET", cs+"/rooms/"+knockRoom+"/state/m.room.member/"+bobID, alice, nil, &c)
	if c["membership"] != "knock" || c["reason"] != "hello" {
		t.Fatalf("bob's member event as alice sees it: %v, want a knock with the reason", c)
	}
	var sync struct {
		Rooms struct {
			Knock map[string]struct {
				KnockState struct {
					Events []clientEvent `json:"events"`
				} `json:"knock_state"`
			} `json:"knock"`
		} `json:"rooms"`
	}
	env.must("GET", cs+"/sync?timeout=0", bob, nil, &sync)
	found := false
	for _, e := range sync.Rooms.Knock[knockRoom].KnockState.Events {
		if e.Type == "m.room.name" && e.Content["name"] == "knock here" {
			found = true
		}
	}
	if !found {
		t.Fatalf("bob's rooms.knock = %+v, want the room with its name", sync.Rooms.Knock)
	}
}
