package hearth

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// A local user's presence change reaches a server sharing a room with her
// as an m.presence EDU: bob on b sees alice's state and status message,
// and a later change replaces them; before they share a room, b hears
// nothing. A user who joins a room tells its servers their presence.
func TestPresenceReachesOtherServer(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	rec := &eduRecorder{typ: "m.presence"}
	a := n.open(t, "a.test", "alice")
	b := n.openWrapped(t, "b.test", "bob", rec.wrap)
	statusPath := "/_matrix/client/v3/presence/" + url.PathEscape(a.user) + "/status"
	a.c.ok("PUT", statusPath, a.token, map[string]any{"presence": "online", "status_msg": "alone"})

	bobStatus := "/_matrix/client/v3/presence/" + url.PathEscape(b.user) + "/status"
	b.c.ok("PUT", bobStatus, b.token, map[string]any{"presence": "online", "status_msg": "on my way"})

	roomID, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "public_chat"})["room_id"].(string)
	// A message in the room wakes a's sender, which has nothing for b yet.
	a.c.ok("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/send/m.room.message/t0", a.token, map[string]any{"msgtype": "m.text", "body": "hi"})
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("b got presence before it shared a room with alice: %v", got)
	}
	b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID)+"?server_name=a.test", b.token, map[string]any{})
	eventually(t, "a to see bob joined", func() bool {
		_, m := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
		return m["membership"] == "join"
	})
	seen := func(state, msg string) func() bool {
		return func() bool {
			status, out := b.c.do("GET", statusPath, b.token, nil)
			got, _ := out["status_msg"].(string)
			return status == http.StatusOK && out["presence"] == state && got == msg
		}
	}
	// b, newly sharing a room with alice through bob's join (a remote
	// join, over send_join), is told alice's presence set before.
	eventually(t, "b to show alice online, alone", seen("online", "alone"))
	// bob's join tells a his presence, set before he shared a room with a.
	eventually(t, "a to show bob on his way", func() bool {
		status, out := a.c.do("GET", bobStatus, a.token, nil)
		return status == http.StatusOK && out["presence"] == "online" && out["status_msg"] == "on my way"
	})
	a.c.ok("PUT", statusPath, a.token, map[string]any{"presence": "online", "status_msg": "in the room"})
	eventually(t, "b to show alice online, in the room", seen("online", "in the room"))
	a.c.ok("PUT", statusPath, a.token, map[string]any{"presence": "unavailable"})
	eventually(t, "b to show alice unavailable", seen("unavailable", ""))
	// /sync's set_presence is a presence change like any other.
	a.c.ok("GET", "/_matrix/client/v3/sync?timeout=0&set_presence=online", a.token, nil)
	eventually(t, "b to show alice online again after her /sync", seen("online", ""))
	for _, c := range rec.all() {
		push, _ := c["push"].([]any)
		for _, p := range push {
			m, _ := p.(map[string]any)
			if m["user_id"] != a.user {
				t.Errorf("m.presence from a speaks for %v", m["user_id"])
			}
			if _, ok := m["last_active_ago"].(float64); !ok {
				t.Errorf("m.presence entry without last_active_ago: %v", m)
			}
		}
	}
}

// A remote user's presence counts from the EDU's last_active_ago: bob,
// online but last active an hour ago by b's word, shows on a as
// unavailable (idle) with that hour in last_active_ago.
func TestRemotePresenceLastActive(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")
	txn := map[string]any{"origin": "b.test", "origin_server_ts": time.Now().UnixMilli(), "pdus": []any{},
		"edus": []any{map[string]any{"edu_type": "m.presence", "content": map[string]any{"push": []any{map[string]any{
			"user_id": b.user, "presence": "online", "last_active_ago": 3600000, "currently_active": false}}}}}}
	if err := b.hs.FederationClient.Request(context.Background(), "a.test", "PUT", "/_matrix/federation/v1/send/p1", txn, nil); err != nil {
		t.Fatal(err)
	}
	out := a.c.ok("GET", "/_matrix/client/v3/presence/"+url.PathEscape(b.user)+"/status", a.token, nil)
	ago, _ := out["last_active_ago"].(float64)
	if out["presence"] != "unavailable" || ago < 3600000 || ago > 3600000+60000 || out["currently_active"] == true {
		t.Fatalf("bob's presence on a = %v, want unavailable, last active an hour ago", out)
	}
}
