package web

import (
	"net/url"
	"testing"
	"time"
)

func TestPresenceAPI(t *testing.T) {
	ps := newPersonalServer(t)
	alice := ps.registerTestUser(t, "alice")
	bob := ps.registerTestUser(t, "bob")
	path := "/_matrix/client/v3/presence/" + url.PathEscape(alice.UserID) + "/status"

	// A user who never set presence is offline (as Synapse answers).
	status, body := ps.do(t, "GET", path, bob.AccessToken, nil)
	if status != 200 || body["presence"] != "offline" || len(body) != 1 {
		t.Errorf("GET never set = %d %v, want 200 offline", status, body)
	}
	changed := ps.Server.opts.Notifier.Changed()
	status, body = ps.do(t, "PUT", path, alice.AccessToken, `{"presence":"online","status_msg":"I am here."}`)
	wantOK(t, "PUT online", status, body)
	select {
	case <-changed:
	default:
		t.Error("presence did not wake /sync")
	}
	ps.Clock.Advance(2 * time.Second)
	status, body = ps.do(t, "GET", path, bob.AccessToken, nil)
	if status != 200 || body["presence"] != "online" || body["status_msg"] != "I am here." || body["last_active_ago"] != 2000.0 || body["currently_active"] != true {
		t.Errorf("GET = %d %v", status, body)
	}
	ps.Clock.Advance(10 * time.Minute)
	status, body = ps.do(t, "GET", path, alice.AccessToken, nil)
	if status != 200 || body["presence"] != "unavailable" || body["currently_active"] != nil {
		t.Errorf("GET when idle = %d %v", status, body)
	}
	status, body = ps.do(t, "PUT", path, alice.AccessToken, `{"presence":"offline"}`)
	wantOK(t, "PUT offline", status, body)
	status, body = ps.do(t, "GET", path, alice.AccessToken, nil)
	if _, has := body["status_msg"]; status != 200 || body["presence"] != "offline" || has {
		t.Errorf("GET offline = %d %v", status, body)
	}

	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"someone else's", "PUT", path, bob.AccessToken, `{"presence":"online"}`, 403, "M_FORBIDDEN"},
		{"missing presence", "PUT", path, alice.AccessToken, `{"status_msg":"x"}`, 400, "M_MISSING_PARAM"},
		{"bad presence", "PUT", path, alice.AccessToken, `{"presence":"busy"}`, 400, "M_INVALID_PARAM"},
		{"status not a string", "PUT", path, alice.AccessToken, `{"presence":"online","status_msg":5}`, 400, "M_BAD_JSON"},
		{"not JSON", "PUT", path, alice.AccessToken, `{`, 400, "M_NOT_JSON"},
		{"bad user", "GET", "/_matrix/client/v3/presence/nobody/status", alice.AccessToken, nil, 400, "M_INVALID_PARAM"},
		{"no token", "GET", path, "", nil, 401, "M_MISSING_TOKEN"},
	}
	for _, tt := range tests {
		status, body := ps.do(t, tt.method, tt.path, tt.token, tt.body)
		wantError(t, tt.name, status, body, tt.status, tt.code)
	}
}

// An online user going idle is a change of presence with its own stream
// position: the next /sync of a user sharing a room delivers it.
func TestPresenceIdleReachesSync(t *testing.T) {
	ps := newPersonalServer(t)
	alice := ps.registerTestUser(t, "alice")
	bob := ps.registerTestUser(t, "bob")
	ps.testRoom(t, alice, []testUser{bob})
	status, body := ps.do(t, "PUT", "/_matrix/client/v3/presence/"+url.PathEscape(bob.UserID)+"/status", bob.AccessToken, `{"presence":"online"}`)
	wantOK(t, "PUT online", status, body)
	bobPresence := func(since string) (string, string) {
		t.Helper()
		p := "/_matrix/client/v3/sync?set_presence=offline"
		if since != "" {
			p += "&since=" + url.QueryEscape(since)
		}
		status, body := ps.do(t, "GET", p, alice.AccessToken, nil)
		wantOK(t, "sync", status, body)
		state := ""
		for _, ev := range body["presence"].(map[string]any)["events"].([]any) {
			ev := ev.(map[string]any)
			if ev["sender"] == bob.UserID {
				state, _ = ev["content"].(map[string]any)["presence"].(string)
			}
		}
		return state, body["next_batch"].(string)
	}
	state, next := bobPresence("")
	if state != "online" {
		t.Fatalf("initial sync: bob's presence %q, want online", state)
	}
	ps.Clock.Advance(2 * time.Minute)
	if state, next = bobPresence(next); state != "" {
		t.Errorf("sync before the idle timeout: bob's presence %q, want none", state)
	}
	ps.Clock.Advance(4 * time.Minute)
	if state, next = bobPresence(next); state != "unavailable" {
		t.Errorf("sync after the idle timeout: bob's presence %q, want unavailable", state)
	}
	if state, _ = bobPresence(next); state != "" {
		t.Errorf("the sync after that: bob's presence %q, want none", state)
	}
	// Bob comes back: online again.
	status, body = ps.do(t, "GET", "/_matrix/client/v3/sync", bob.AccessToken, nil)
	wantOK(t, "bob's sync", status, body)
	if state, _ = bobPresence(next); state != "online" {
		t.Errorf("after bob synced again: his presence %q, want online", state)
	}
}
