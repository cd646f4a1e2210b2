package web

import (
	"testing"
)

// TestRestrictedJoin: a room whose join rule is restricted to the members
// of a space lets a member of the space join with
// join_authorised_via_users_server naming a local member who may invite,
// and refuses anyone else with M_FORBIDDEN.
func TestRestrictedJoin(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	bob := env.user("bob", false)
	carol := env.user("carol", false)
	aliceID, bobID := "@alice:"+roomTestServer, "@bob:"+roomTestServer

	space := env.createRoom(alice, map[string]any{"preset": "public_chat", "creation_content": map[string]any{"type": "m.space"}})
	for _, v := range []string{"8", "10", "12"} {
		t.Run("v"+v, func(t *testing.T) {
			env.tb = t
			roomID := env.createRoom(alice, map[string]any{
				"preset": "private_chat", "room_version": v,
				"initial_state": []map[string]any{{
					"type": "m.room.join_rules", "state_key": "",
					"content": map[string]any{"join_rule": "restricted", "allow": []map[string]any{
						{"type": "m.room_membership", "room_id": space},
					}},
				}},
			})
			rooms := cs + "/rooms/" + roomID
			// carol is in no allowed room.
			env.wantError("POST", rooms+"/join", carol, map[string]any{}, 403, "M_FORBIDDEN")
			env.wantError("POST", cs+"/join/"+roomID, carol, map[string]any{}, 403, "M_FORBIDDEN")

			if v == "8" {
				env.must("POST", cs+"/rooms/"+space+"/join", bob, map[string]any{}, nil)
			}
			env.must("POST", rooms+"/join", bob, map[string]any{}, nil)
			var c map[string]any
			env.must("GET", rooms+"/state/m.room.member/"+bobID, bob, nil, &c)
			if c["membership"] != "join" || c["join_authorised_via_users_server"] != aliceID {
				t.Errorf("bob's join content %v, want join authorised via %s", c, aliceID)
			}
			// A second join (already joined) needs no authoriser.
			env.must("POST", rooms+"/join", bob, map[string]any{}, nil)
		})
	}
	env.tb = t

	t.Run("no local member may invite", func(t *testing.T) {
		env.tb = t
		roomID := env.createRoom(alice, map[string]any{
			"preset": "private_chat", "room_version": "10",
			"power_level_content_override": map[string]any{"invite": 200},
			"initial_state": []map[string]any{{
				"type": "m.room.join_rules", "state_key": "",
				"content": map[string]any{"join_rule": "knock_restricted", "allow": []map[string]any{
					{"type": "m.room_membership", "room_id": space},
				}},
			}},
		})
		env.wantError("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, 403, "M_FORBIDDEN")
	})
}
