package web

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUpgradeRoom(t *testing.T) {
	for _, to := range []string{"11", "12"} {
		t.Run("v10 to v"+to, func(t *testing.T) {
			env := newRoomEnv(t)
			alice := env.user("alice", false)
			bob := env.user("bob", false)
			aliceID, bobID := "@alice:"+roomTestServer, "@bob:"+roomTestServer
			old := env.createRoom(alice, map[string]any{
				"room_version": "10", "preset": "public_chat", "visibility": "public",
				"name": "Old", "topic": "T", "room_alias_name": "up",
				"power_level_content_override": map[string]any{"users": map[string]int{aliceID: 100, bobID: 20}},
			})
			env.must("POST", cs+"/rooms/"+old+"/join", bob, map[string]any{}, nil)
			upgrade := cs + "/rooms/" + old + "/upgrade"

			env.wantError("POST", upgrade, bob, map[string]string{"new_version": to}, 403, "M_FORBIDDEN")
			env.wantError("POST", upgrade, alice, map[string]string{"new_version": "99"}, 400, "M_UNSUPPORTED_ROOM_VERSION")
			env.wantError("POST", upgrade, alice, map[string]any{}, 400, "M_MISSING_PARAM")
			var out struct {
				ReplacementRoom string `json:"replacement_room"`
			}
			env.must("POST", upgrade, alice, map[string]string{"new_version": to}, &out)
			newRoom := out.ReplacementRoom
			if newRoom == "" || newRoom == old {
				t.Fatalf("replacement room %q", newRoom)
			}

			st := env.state(alice, newRoom)
			create := st["m.room.create|"].Content
			pred, _ := create["predecessor"].(map[string]any)
			if create["room_version"] != to || pred["room_id"] != old {
				t.Errorf("new create content %v", create)
			}
			if _, hasEventID := pred["event_id"]; hasEventID == (to == "12") {
				t.Errorf("predecessor %v for v%s", pred, to)
			}
			if st["m.room.name|"].Content["name"] != "Old" || st["m.room.topic|"].Content["topic"] != "T" ||
				st["m.room.join_rules|"].Content["join_rule"] != "public" {
				t.Errorf("copied state: name %v topic %v join rules %v", st["m.room.name|"].Content, st["m.room.topic|"].Content, st["m.room.join_rules|"].Content)
			}
			users := map[string]any{aliceID: float64(100), bobID: float64(20)}
			if to == "12" {
				delete(users, aliceID)
			}
			if diff := cmp.Diff(users, st["m.room.power_levels|"].Content["users"]); diff != "" {
				t.Errorf("new power levels users (-want +got):\n%s", diff)
			}
			if _, ok := st["m.room.member|"+bobID]; ok {
				t.Errorf("memberships were copied")
			}

			var alias struct {
				RoomID string `json:"room_id"`
			}
			env.must("GET", cs+"/directory/room/"+url.PathEscape("#up:"+roomTestServer), "", nil, &alias)
			if alias.RoomID != newRoom {
				t.Errorf("the alias points to %s, want the new room", alias.RoomID)
			}
			var vis struct {
				Visibility string `json:"visibility"`
			}
			env.must("GET", cs+"/directory/list/room/"+newRoom, "", nil, &vis)
			if vis.Visibility != "public" {
				t.Errorf("new room visibility %q", vis.Visibility)
			}

			oldState := env.state(alice, old)
			if got := oldState["m.room.tombstone|"].Content["replacement_room"]; got != newRoom {
				t.Errorf("tombstone points to %v", got)
			}
			if pl := oldState["m.room.power_levels|"].Content; pl["events_default"] != float64(50) || pl["invite"] != float64(50) {
				t.Errorf("old power levels not restricted: %v", pl)
			}
			// Bob (20) can no longer talk in the old room, and can join the new one.
			env.wantError("PUT", cs+"/rooms/"+old+"/send/m.room.message/x", bob, map[string]string{"body": "hi"}, 403, "M_FORBIDDEN")
			env.must("POST", cs+"/rooms/"+newRoom+"/join", bob, map[string]any{}, nil)
			env.send(bob, newRoom, "y", "hello again")
		})
	}
}
