package web

import (
	"encoding/json"
	"testing"
)

// /joined_members carries display_name and avatar_url for every member,
// null when unset (as Synapse).
func TestJoinedMembersProfileKeys(t *testing.T) {
	e := newRoomEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	aliceID, bobID := "@alice:"+roomTestServer, "@bob:"+roomTestServer
	e.must("PUT", cs+"/profile/"+aliceID+"/avatar_url", alice, map[string]any{"avatar_url": "mxc://" + roomTestServer + "/abc"}, nil)
	e.must("PUT", cs+"/profile/"+aliceID+"/displayname", alice, map[string]any{"displayname": "Alice"}, nil)
	roomID := e.createRoom(bob, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/join/"+roomID, alice, map[string]any{}, nil)
	// The creator's own join carries the profile too.
	own := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	if m := e.state(alice, own)["m.room.member|"+aliceID].Content; m["displayname"] != "Alice" || m["avatar_url"] != "mxc://"+roomTestServer+"/abc" {
		t.Errorf("the creator's join = %v, want her display name and avatar", m)
	}
	var out struct {
		Joined map[string]map[string]json.RawMessage `json:"joined"`
	}
	e.must("GET", cs+"/rooms/"+roomID+"/joined_members", bob, nil, &out)
	want := map[string]map[string]string{
		aliceID: {"display_name": `"Alice"`, "avatar_url": `"mxc://` + roomTestServer + `/abc"`},
		bobID:   {"display_name": "null", "avatar_url": "null"},
	}
	if len(out.Joined) != len(want) {
		t.Fatalf("joined = %v, want %d members", out.Joined, len(want))
	}
	for user, keys := range want {
		for k, v := range keys {
			raw, ok := out.Joined[user][k]
			if !ok || string(raw) != v {
				t.Errorf("joined[%s][%s] = %s (present %v), want %s", user, k, raw, ok, v)
			}
		}
	}
}
