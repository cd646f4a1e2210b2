package hearth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRemoteKnock: bob of b.test knocks on a knock room of a.test through
// POST /knock (make_knock, send_knock); b's /sync shows the room in
// rooms.knock with its stripped state, a sees the knock, and alice's
// invite lets bob join. A knock on a room that does not allow knocking is
// refused.
func TestRemoteKnock(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")

	knockRoom, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{
		"preset": "private_chat", "room_version": "10", "name": "knock here",
		"initial_state": []any{map[string]any{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}},
	})["room_id"].(string)
	inviteOnly, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "private_chat", "room_version": "10"})["room_id"].(string)

	if status, out := b.c.do("POST", "/_matrix/client/v3/knock/"+url.PathEscape(inviteOnly)+"?server_name=a.test", b.token, map[string]any{}); status != http.StatusForbidden {
		t.Fatalf("knock on an invite-only room = %d %v, want 403", status, out)
	}

	out := b.c.ok("POST", "/_matrix/client/v3/knock/"+url.PathEscape(knockRoom)+"?server_name=a.test", b.token, map[string]any{"reason": "let me in"})
	if out["room_id"] != knockRoom {
		t.Fatalf("knock answered %v", out)
	}
	_, sync := b.c.do("GET", "/_matrix/client/v3/sync?timeout=0", b.token, nil)
	js, _ := json.Marshal(sync["rooms"])
	var rooms struct {
		Knock map[string]struct {
			KnockState struct {
				Events []struct {
					Type     string         `json:"type"`
					StateKey string         `json:"state_key"`
					Content  map[string]any `json:"content"`
				} `json:"events"`
			} `json:"knock_state"`
		} `json:"knock"`
	}
	if err := json.Unmarshal(js, &rooms); err != nil {
		t.Fatal(err)
	}
	var name, knock string
	for _, e := range rooms.Knock[knockRoom].KnockState.Events {
		if e.Type == "m.room.name" {
			name, _ = e.Content["name"].(string)
		}
		if e.Type == "m.room.member" && e.StateKey == b.user {
			knock, _ = e.Content["membership"].(string)
		}
	}
	if name != "knock here" || knock != "knock" {
		t.Fatalf("b's rooms.knock = %s, want the room's name and bob's knock", js)
	}

	eventually(t, "a to see bob's knock", func() bool {
		status, out := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(knockRoom)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
		return status == http.StatusOK && out["membership"] == "knock" && out["reason"] == "let me in"
	})
	a.c.ok("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(knockRoom)+"/invite", a.token, map[string]any{"user_id": b.user})
	eventually(t, "bob to be invited", func() bool {
		_, sync := b.c.do("GET", "/_matrix/client/v3/sync?timeout=0", b.token, nil)
		js, _ := json.Marshal(sync["rooms"])
		return strings.Contains(string(js), `"invite":{"`+knockRoom)
	})
	b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(knockRoom)+"?server_name=a.test", b.token, map[string]any{})
	eventually(t, "a to see bob joined", func() bool {
		status, out := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(knockRoom)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
		return status == http.StatusOK && out["membership"] == "join"
	})
}

// TestRemoteKnockRetracted: bob retracts his knock on a.test's room with
// POST /leave, which goes through a (make_leave, send_leave); a sees him
// leave and b's /sync no longer lists the room in rooms.knock.
func TestRemoteKnockRetracted(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")
	knockRoom, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{
		"preset": "private_chat", "room_version": "10",
		"initial_state": []any{map[string]any{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}},
	})["room_id"].(string)
	b.c.ok("POST", "/_matrix/client/v3/knock/"+url.PathEscape(knockRoom)+"?server_name=a.test", b.token, map[string]any{})
	b.c.ok("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(knockRoom)+"/leave", b.token, map[string]any{})
	eventually(t, "a to see bob's knock retracted", func() bool {
		status, out := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(knockRoom)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
		return status == http.StatusOK && out["membership"] == "leave"
	})
	_, sync := b.c.do("GET", "/_matrix/client/v3/sync?timeout=0", b.token, nil)
	js, _ := json.Marshal(sync["rooms"])
	if strings.Contains(string(js), `"knock":{"`+knockRoom) {
		t.Fatalf("b's rooms after the retraction = %s, still knocking", js)
	}
}
