package hearth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
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

// TestAppServiceRemoteAliasQuery checks that another server's query for
// an alias of this server that no room has (federation query/directory)
// asks the service whose namespace holds it, which makes the room: a
// user of the other server finds it and joins.
func TestAppServiceRemoteAliasQuery(t *testing.T) {
	var (
		mu      sync.Mutex
		asked   []string
		clientA client // a's client API, set once a is open
	)
	bridge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer e-hs" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		alias, ok := strings.CutPrefix(r.URL.Path, "/_matrix/app/v1/rooms/")
		if !ok {
			io.WriteString(w, "{}") // transactions
			return
		}
		mu.Lock()
		asked = append(asked, alias)
		c := clientA
		mu.Unlock()
		if alias != "#_e_portal:a.test" {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"errcode":"M_NOT_FOUND"}`)
			return
		}
		if status, out := c.do("POST", "/_matrix/client/v3/createRoom", "e-as",
			map[string]any{"room_alias_name": "_e_portal", "preset": "public_chat"}); status != http.StatusOK {
			t.Errorf("the bridge's createRoom: %d %v", status, out)
		}
		io.WriteString(w, "{}")
	}))
	defer bridge.Close()
	reg := writeRegistration(t, t.TempDir(), "e", bridge.URL, `@_e_.*:a\.test`,
		"  aliases: [{exclusive: true, regex: '#_e_.*:a\\.test'}]\n")
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}, configure: func(name string, cfg *Config) {
		if name == "a.test" {
			cfg.AppServices = PathList(reg)
		}
	}}
	a := n.open(t, "a.test", "alice")
	mu.Lock()
	clientA = a.c
	mu.Unlock()
	b := n.open(t, "b.test", "bob")

	portal := "#_e_portal:a.test"
	out := b.c.ok("GET", "/_matrix/client/v3/directory/room/"+url.PathEscape(portal), b.token, nil)
	roomID, _ := out["room_id"].(string)
	if servers, _ := out["servers"].([]any); roomID == "" || len(servers) == 0 || servers[0] != "a.test" {
		t.Fatalf("b resolving %s: %v", portal, out)
	}
	joined := b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(portal), b.token, map[string]any{})
	if joined["room_id"] != roomID {
		t.Errorf("b joined %v, want %s", joined["room_id"], roomID)
	}
	status, body := b.c.do("GET", "/_matrix/client/v3/directory/room/"+url.PathEscape("#_e_nothing:a.test"), b.token, nil)
	if status != http.StatusNotFound {
		t.Errorf("b resolving an alias the bridge does not have: %d %v", status, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(asked, " ") != "#_e_portal:a.test #_e_nothing:a.test" {
		t.Errorf("the bridge was asked about %q, want the portal once, then the other alias", asked)
	}
}
