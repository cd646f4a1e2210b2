package web

import (
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestTypingAPI(t *testing.T) {
	ps := newPersonalServer(t)
	alice := ps.registerTestUser(t, "alice")
	bob := ps.registerTestUser(t, "bob")
	room, _ := ps.testRoom(t, alice, nil)
	path := func(u testUser) string {
		return "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/typing/" + url.PathEscape(u.UserID)
	}
	start := ps.typing.Position()
	changed := ps.Server.opts.Notifier.Changed()
	status, body := ps.do(t, "PUT", path(alice), alice.AccessToken, `{"typing":true,"timeout":30000}`)
	wantOK(t, "start typing", status, body)
	select {
	case <-changed:
	default:
		t.Error("typing did not wake /sync")
	}
	if got := ps.typing.Typing(room); !slices.Equal(got, []string{alice.UserID}) {
		t.Errorf("typing = %v", got)
	}
	if got := ps.typing.Changes(func(id string) bool { return id == room }, start, ps.typing.Position()); len(got) != 1 {
		t.Errorf("changes = %v", got)
	}
	ps.Clock.Advance(31 * time.Second)
	if got := ps.typing.Typing(room); len(got) != 0 {
		t.Errorf("typing after the timeout = %v", got)
	}
	status, body = ps.do(t, "PUT", path(alice), alice.AccessToken, `{"typing":true,"timeout":30000}`)
	wantOK(t, "start again", status, body)
	status, body = ps.do(t, "PUT", path(alice), alice.AccessToken, `{"typing":false}`)
	wantOK(t, "stop", status, body)
	if got := ps.typing.Typing(room); len(got) != 0 {
		t.Errorf("typing after stop = %v", got)
	}

	tests := []struct {
		name, path, token, body string
		status                  int
		code                    string
	}{
		{"for someone else", path(bob), alice.AccessToken, `{"typing":true,"timeout":1000}`, 403, "M_FORBIDDEN"},
		{"not joined", path(bob), bob.AccessToken, `{"typing":true,"timeout":1000}`, 403, "M_FORBIDDEN"},
		{"no typing", path(alice), alice.AccessToken, `{"timeout":1000}`, 400, "M_MISSING_PARAM"},
		{"no timeout", path(alice), alice.AccessToken, `{"typing":true}`, 400, "M_MISSING_PARAM"},
		{"negative timeout", path(alice), alice.AccessToken, `{"typing":true,"timeout":-1}`, 400, "M_INVALID_PARAM"},
		{"typing not a boolean", path(alice), alice.AccessToken, `{"typing":"yes","timeout":1}`, 400, "M_BAD_JSON"},
		{"not JSON", path(alice), alice.AccessToken, `{`, 400, "M_NOT_JSON"},
		{"bad room", "/_matrix/client/v3/rooms/room/typing/" + url.PathEscape(alice.UserID), alice.AccessToken, `{"typing":false}`, 400, "M_INVALID_PARAM"},
	}
	for _, tt := range tests {
		status, body := ps.do(t, "PUT", tt.path, tt.token, tt.body)
		wantError(t, tt.name, status, body, tt.status, tt.code)
	}
}
