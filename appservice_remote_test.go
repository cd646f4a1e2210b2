package hearth

import (
	"net/url"
	"testing"
)

// TestAppServiceRemoteEphemeral checks that typing and read receipts of a
// user of another server (m.typing and m.receipt EDUs) reach a service
// with receive_ephemeral interested in the room, as a local user's do.
func TestAppServiceRemoteEphemeral(t *testing.T) {
	e := newFakeAppService(t, "e-hs")
	reg := writeRegistration(t, t.TempDir(), "e", e.srv.URL, `@_e_.*:a\.test`, "receive_ephemeral: true\n")
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}, configure: func(name string, cfg *Config) {
		if name == "a.test" {
			cfg.AppServices = PathList(reg)
		}
	}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")

	// A room of a with the service's ghost in it, which bob of b joins.
	ghost := "@_e_ghost:a.test"
	roomID := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "public_chat"})["room_id"].(string)
	a.c.ok("POST", "/_matrix/client/v3/register", "e-as", map[string]any{
		"type": "m.login.application_service", "username": "_e_ghost", "inhibit_login": true})
	a.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID)+"?user_id="+url.QueryEscape(ghost), "e-as", map[string]any{})
	b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID)+"?server_name=a.test", b.token, map[string]any{})
	e.waitFor("bob's join", func(f *fakeAppService) bool {
		for _, ev := range f.events {
			if ev["type"] == "m.room.member" && ev["state_key"] == b.user {
				return true
			}
		}
		return false
	})

	typingOf := func(f *fakeAppService) [][]any {
		var out [][]any
		for _, x := range f.eph {
			if x["type"] == "m.typing" && x["room_id"] == roomID {
				out = append(out, x["content"].(map[string]any)["user_ids"].([]any))
			}
		}
		return out
	}
	r := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID)
	b.c.ok("PUT", r+"/typing/"+url.PathEscape(b.user), b.token, map[string]any{"typing": true, "timeout": 30000})
	e.waitFor("bob typing", func(f *fakeAppService) bool { return len(typingOf(f)) == 1 })
	b.c.ok("PUT", r+"/typing/"+url.PathEscape(b.user), b.token, map[string]any{"typing": false})
	e.waitFor("bob stop typing", func(f *fakeAppService) bool { return len(typingOf(f)) == 2 })
	e.mu.Lock()
	if got := typingOf(e); len(got[0]) != 1 || got[0][0] != b.user || len(got[1]) != 0 {
		t.Errorf("typing the service saw = %v, want [[%s] []]", got, b.user)
	}
	e.mu.Unlock()

	// bob reads the ghost's message; his receipt comes through a to the
	// service.
	ev := a.c.ok("PUT", r+"/send/m.room.message/g1?user_id="+url.QueryEscape(ghost), "e-as", map[string]any{"body": "from the bridge"})["event_id"].(string)
	eventually(t, "b to have the ghost's message", func() bool { return b.lastEventID(roomID) == ev })
	b.c.ok("POST", r+"/receipt/m.read/"+url.PathEscape(ev), b.token, map[string]any{})
	e.waitFor("bob's receipt", func(f *fakeAppService) bool {
		for _, x := range f.eph {
			if x["type"] != "m.receipt" || x["room_id"] != roomID {
				continue
			}
			read, _ := x["content"].(map[string]any)[ev].(map[string]any)["m.read"].(map[string]any)
			if read[b.user] != nil {
				return true
			}
		}
		return false
	})
}
