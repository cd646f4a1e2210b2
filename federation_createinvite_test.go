package hearth

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// createRoom's invite list may name users of other servers: they are
// invited through their servers (invite v2), see the invite in /sync with
// the room's stripped state, and can join; the local invitees of the
// same request are invited in the room's first write as before.
func TestCreateRoomInvitesRemoteUsers(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")

	out := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{
		"preset": "trusted_private_chat", "name": "with bob", "is_direct": true, "invite": []string{b.user},
	})
	roomID, _ := out["room_id"].(string)
	if roomID == "" {
		t.Fatalf("createRoom answered %v", out)
	}
	// a's view: bob is invited, and has the power trusted_private_chat
	// gives invitees.
	_, member := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
	if member["membership"] != "invite" || member["is_direct"] != true {
		t.Fatalf("bob's membership on a = %v, want an invite with is_direct", member)
	}
	// (an additional creator in room versions with privileged creators,
	// 100 in the power levels before them).
	_, pl := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.power_levels/", a.token, nil)
	_, create := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.create/", a.token, nil)
	creators, _ := create["additional_creators"].([]any)
	if users, _ := pl["users"].(map[string]any); users[b.user] != float64(100) && !slices.Contains(creators, any(b.user)) {
		t.Fatalf("power levels = %v, create = %v: bob has no power", pl, create)
	}
	// b's view: the invite in /sync, with the room's name.
	eventually(t, "bob to see the invite", func() bool {
		_, s := b.c.do("GET", "/_matrix/client/v3/sync?timeout=0", b.token, nil)
		rooms, _ := s["rooms"].(map[string]any)
		invite, _ := rooms["invite"].(map[string]any)
		js, _ := json.Marshal(invite[roomID])
		return strings.Contains(string(js), `"with bob"`) && strings.Contains(string(js), `"membership":"invite"`)
	})
	b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), b.token, map[string]any{})
	b.send(roomID, "hello from bob")
	eventually(t, "a to see bob's message", func() bool { return slices.Contains(a.bodies(roomID), "hello from bob") })

	// A user of a server that cannot be reached does not fail the
	// request: the room exists, without that invite.
	out = a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"invite": []string{"@nobody:nowhere.test", b.user}})
	other, _ := out["room_id"].(string)
	_, m := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(other)+"/state/m.room.member/"+url.PathEscape("@nobody:nowhere.test"), a.token, nil)
	if m["membership"] != nil {
		t.Fatalf("unreachable invitee's membership = %v, want none", m)
	}
	_, m = a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(other)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
	if m["membership"] != "invite" {
		t.Fatalf("bob's membership in the second room = %v, want invite", m)
	}

	// A malformed invitee is still refused before anything is made.
	if status, e := a.c.do("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"invite": []string{"not a user"}}); status != 400 || e["errcode"] != "M_INVALID_PARAM" {
		t.Fatalf("createRoom with a bad invitee = %d %v", status, e)
	}
}
