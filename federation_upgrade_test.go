package hearth

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// TestRoomUpgradeWithRemoteMember: alice of a.test upgrades a room bob of
// b.test is in; the tombstone reaches b, which names the new room, and bob
// follows it by joining the new room through a (the new room's create
// event names its predecessor).
func TestRoomUpgradeWithRemoteMember(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")

	oldRoom, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "public_chat", "room_version": "10", "name": "before"})["room_id"].(string)
	b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(oldRoom)+"?server_name=a.test", b.token, map[string]any{})
	eventually(t, "a to see bob joined", func() bool {
		status, out := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(oldRoom)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
		return status == http.StatusOK && out["membership"] == "join"
	})

	newRoom, _ := a.c.ok("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(oldRoom)+"/upgrade", a.token, map[string]any{"new_version": "11"})["replacement_room"].(string)
	if newRoom == "" {
		t.Fatal("upgrade gave no replacement_room")
	}
	eventually(t, "b to see the tombstone", func() bool {
		status, out := b.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(oldRoom)+"/state/m.room.tombstone/", b.token, nil)
		return status == http.StatusOK && out["replacement_room"] == newRoom
	})
	// The old room is closed for talk: a raised the levels after the tombstone.
	b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(newRoom)+"?server_name=a.test", b.token, map[string]any{})
	status, create := b.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(newRoom)+"/state/m.room.create/", b.token, nil)
	pred, _ := create["predecessor"].(map[string]any)
	if status != http.StatusOK || pred["room_id"] != oldRoom {
		t.Fatalf("the new room's create event on b = %d %v, want predecessor %s", status, create, oldRoom)
	}
	if status, out := b.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(newRoom)+"/state/m.room.name/", b.token, nil); status != http.StatusOK || out["name"] != "before" {
		t.Fatalf("the new room's name on b = %d %v, want the old room's", status, out)
	}
	b.send(newRoom, "in the new room")
	eventually(t, "a to see bob's message in the new room", func() bool { return slices.Contains(a.bodies(newRoom), "in the new room") })
}
