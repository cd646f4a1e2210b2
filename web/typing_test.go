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

// Through /sync: a client that saw bob typing hears that he stopped (an
// empty list) after the tracker let go of the room; a client whose token
// is from before he typed hears nothing of it.
func TestTypingSyncAfterStop(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	bobID := "@bob:" + roomTestServer
	typingIn := func(s streamsResponse) []string {
		for _, ev := range s.Rooms.Join[roomID].Ephemeral.Events {
			if ev.Type == "m.typing" {
				return append([]string{}, string(ev.Content))
			}
		}
		return nil
	}
	s0 := e.syncStreams(alice)
	typingPath := cs + "/rooms/" + roomID + "/typing/" + url.PathEscape(bobID)
	e.must("PUT", typingPath, bob, map[string]any{"typing": true, "timeout": 30000}, nil)
	s1 := e.syncStreams(alice, "since", s0.NextBatch)
	if got, want := typingIn(s1), []string{`{"user_ids":["` + bobID + `"]}`}; !slices.Equal(got, want) {
		t.Errorf("m.typing while bob types = %v, want %v", got, want)
	}
	e.must("PUT", typingPath, bob, map[string]any{"typing": false}, nil)
	s2 := e.syncStreams(alice, "since", s1.NextBatch)
	if got, want := typingIn(s2), []string{`{"user_ids":[]}`}; !slices.Equal(got, want) {
		t.Errorf("m.typing after bob stopped, to a client that saw him = %v, want %v", got, want)
	}
	if got := typingIn(e.syncStreams(alice, "since", s0.NextBatch)); got != nil {
		t.Errorf("m.typing after bob stopped, to a client that never saw him = %v, want none", got)
	}
}
