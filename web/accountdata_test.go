package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"hearth.dev/hearth/core/push"
	"hearth.dev/hearth/core/typing"
	"hearth.dev/hearth/storage"
)

// personalServer is a testServer with handles on the graph's stores of
// personal and ephemeral data.
type personalServer struct {
	*testServer
	events   *storage.EventStore
	typing   *typing.Tracker
	notices  *storage.NotificationStore
	pushes   *push.Service
	receipts *storage.ReceiptStore
}

func newPersonalServer(tb testing.TB, mods ...func(*Options, *storage.DB)) *personalServer {
	tb.Helper()
	ps := &personalServer{testServer: newTestServer(tb, mods...)}
	g := ps.Graph
	ps.events, ps.typing, ps.notices, ps.pushes, ps.receipts = g.Events, g.Typing, g.Notifications, g.Push, g.Receipts
	return ps
}

// testRoom makes a room through the client API: creator creates it
// (invite only), invites members, who join, and then sends contents as
// m.room.message events. It returns the room ID and the message IDs.
func (ts *testServer) testRoom(tb testing.TB, creator testUser, members []testUser, contents ...string) (string, []string) {
	tb.Helper()
	status, body := ts.do(tb, "POST", "/_matrix/client/v3/createRoom", creator.AccessToken, `{"preset":"private_chat"}`)
	wantOK(tb, "createRoom", status, body)
	roomID, _ := body["room_id"].(string)
	esc := url.PathEscape(roomID)
	for _, m := range members {
		status, body = ts.do(tb, "POST", "/_matrix/client/v3/rooms/"+esc+"/invite", creator.AccessToken, map[string]string{"user_id": m.UserID})
		wantOK(tb, "invite", status, body)
		status, body = ts.do(tb, "POST", "/_matrix/client/v3/rooms/"+esc+"/join", m.AccessToken, `{}`)
		wantOK(tb, "join", status, body)
	}
	var ids []string
	for i, c := range contents {
		status, body = ts.do(tb, "PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/m%d", esc, i), creator.AccessToken, c)
		wantOK(tb, "send", status, body)
		id, _ := body["event_id"].(string)
		ids = append(ids, id)
	}
	return roomID, ids
}

func TestAccountDataAPI(t *testing.T) {
	ps := newPersonalServer(t)
	alice := ps.registerTestUser(t, "alice")
	bob := ps.registerTestUser(t, "bob")
	const room = "!room:example.org"
	global := "/_matrix/client/v3/user/" + alice.UserID + "/account_data/org.example.config"
	perRoom := "/_matrix/client/v3/user/" + alice.UserID + "/rooms/" + room + "/account_data/org.example.config"
	unset := "/_matrix/client/v3/user/" + alice.UserID + "/account_data/org.example.refused"
	unsetRoom := "/_matrix/client/v3/user/" + alice.UserID + "/rooms/" + room + "/account_data/org.example.refused"

	status, body := ps.do(t, "GET", global, alice.AccessToken, nil)
	wantError(t, "unset", status, body, 404, "M_NOT_FOUND")

	changed := ps.Server.opts.Notifier.Changed()
	status, body = ps.do(t, "PUT", global, alice.AccessToken, `{"custom_account_data_key":"custom_config_value"}`)
	wantOK(t, "PUT global", status, body)
	select {
	case <-changed:
	default:
		t.Error("PUT account data did not wake /sync")
	}
	status, body = ps.do(t, "PUT", perRoom, alice.AccessToken, `{"in":"room"}`)
	wantOK(t, "PUT room", status, body)

	status, body = ps.do(t, "GET", global, alice.AccessToken, nil)
	if status != 200 || body["custom_account_data_key"] != "custom_config_value" || len(body) != 1 {
		t.Errorf("GET global = %d %v", status, body)
	}
	status, body = ps.do(t, "GET", perRoom, alice.AccessToken, nil)
	if status != 200 || body["in"] != "room" {
		t.Errorf("GET room = %d %v", status, body)
	}

	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"other user's data", "GET", global, bob.AccessToken, nil, 403, "M_FORBIDDEN"},
		{"set other user's data", "PUT", global, bob.AccessToken, `{}`, 403, "M_FORBIDDEN"},
		{"other user's room data", "GET", perRoom, bob.AccessToken, nil, 403, "M_FORBIDDEN"},
		{"no token", "GET", global, "", nil, 401, "M_MISSING_TOKEN"},
		{"not JSON", "PUT", global, alice.AccessToken, `{nope`, 400, "M_NOT_JSON"},
		{"not an object", "PUT", global, alice.AccessToken, `[1,2]`, 400, "M_BAD_JSON"},
		{"a string", "PUT", global, alice.AccessToken, `"x"`, 400, "M_BAD_JSON"},
		{"null", "PUT", global, alice.AccessToken, `null`, 400, "M_BAD_JSON"},
		{"nested 9,000 levels deep", "PUT", unset, alice.AccessToken, `{"a":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}`, 400, "M_BAD_JSON"},
		{"invalid UTF-8", "PUT", unset, alice.AccessToken, "{\"a\":\"\x81\"}", 400, "M_NOT_JSON"},
		{"invalid UTF-8 in a room", "PUT", unsetRoom, alice.AccessToken, "{\"\x81\":1}", 400, "M_NOT_JSON"},
		{"nothing stored", "GET", unset, alice.AccessToken, nil, 404, "M_NOT_FOUND"},
		{"nothing stored in the room", "GET", unsetRoom, alice.AccessToken, nil, 404, "M_NOT_FOUND"},
		{"m.fully_read", "PUT", "/_matrix/client/v3/user/" + alice.UserID + "/rooms/" + room + "/account_data/m.fully_read", alice.AccessToken, `{"event_id":"$x"}`, 405, "M_BAD_JSON"},
		{"global m.fully_read", "PUT", "/_matrix/client/v3/user/" + alice.UserID + "/account_data/m.fully_read", alice.AccessToken, `{}`, 405, "M_BAD_JSON"},
		{"m.push_rules", "PUT", "/_matrix/client/v3/user/" + alice.UserID + "/account_data/m.push_rules", alice.AccessToken, `{}`, 405, "M_BAD_JSON"},
		{"bad room ID", "GET", "/_matrix/client/v3/user/" + alice.UserID + "/rooms/@notaroom:example.org/account_data/x", alice.AccessToken, nil, 400, "M_INVALID_PARAM"},
		{"bad room ID PUT", "PUT", "/_matrix/client/v3/user/" + alice.UserID + "/rooms/notaroom/account_data/x", alice.AccessToken, `{}`, 400, "M_INVALID_PARAM"},
		{"no fallback from room to global", "GET", "/_matrix/client/v3/user/" + alice.UserID + "/rooms/!other:example.org/account_data/org.example.config", alice.AccessToken, nil, 404, "M_NOT_FOUND"},
	}
	for _, tt := range tests {
		status, body := ps.do(t, tt.method, tt.path, tt.token, tt.body)
		wantError(t, tt.name, status, body, tt.status, tt.code)
	}

	// Server-managed types can be read: m.push_rules is the user's rules.
	status, body = ps.do(t, "GET", "/_matrix/client/v3/user/"+alice.UserID+"/account_data/m.push_rules", alice.AccessToken, nil)
	if g, _ := body["global"].(map[string]any); status != 200 || g["override"] == nil {
		t.Errorf("GET m.push_rules = %d %v", status, body)
	}
	// Ignored users are stored as given.
	status, body = ps.do(t, "PUT", "/_matrix/client/v3/user/"+alice.UserID+"/account_data/m.ignored_user_list", alice.AccessToken,
		`{"ignored_users":{"@spam:example.com":{}}}`)
	wantOK(t, "PUT m.ignored_user_list", status, body)
	ignored, err := ps.Server.opts.AccountData.IgnoredUsers(context.Background(), alice.UserID)
	if err != nil || !ignored["@spam:example.com"] || len(ignored) != 1 {
		t.Errorf("IgnoredUsers = %v, %v", ignored, err)
	}
}

func TestRoomTagsAPI(t *testing.T) {
	ps := newPersonalServer(t)
	alice := ps.registerTestUser(t, "alice")
	bob := ps.registerTestUser(t, "bob")
	base := "/_matrix/client/v3/user/" + alice.UserID + "/rooms/!726s6s6q:example.com/tags"

	status, body := ps.do(t, "GET", base, alice.AccessToken, nil)
	if tags, ok := body["tags"].(map[string]any); status != 200 || !ok || len(tags) != 0 {
		t.Fatalf("GET tags of an untagged room = %d %v", status, body)
	}
	for _, st := range []struct{ tag, body string }{
		{"m.favourite", `{"order":0.1}`}, {"u.Work", `{"order":0.7}`}, {"u.Customers", `{}`},
	} {
		status, body := ps.do(t, "PUT", base+"/"+st.tag, alice.AccessToken, st.body)
		wantOK(t, "PUT "+st.tag, status, body)
	}
	status, body = ps.do(t, "DELETE", base+"/u.Work", alice.AccessToken, nil)
	wantOK(t, "DELETE u.Work", status, body)
	status, body = ps.do(t, "DELETE", base+"/never.set", alice.AccessToken, nil)
	wantOK(t, "DELETE an absent tag", status, body)
	status, body = ps.do(t, "GET", base, alice.AccessToken, nil)
	tags, _ := body["tags"].(map[string]any)
	fav, _ := tags["m.favourite"].(map[string]any)
	if status != 200 || len(tags) != 2 || fav["order"] != 0.1 || tags["u.Customers"] == nil {
		t.Errorf("GET tags = %d %v", status, body)
	}
	// The tags are the room account data m.tag.
	status, body = ps.do(t, "GET", "/_matrix/client/v3/user/"+alice.UserID+"/rooms/!726s6s6q:example.com/account_data/m.tag", alice.AccessToken, nil)
	if inner, _ := body["tags"].(map[string]any); status != 200 || len(inner) != 2 {
		t.Errorf("m.tag = %d %v", status, body)
	}

	long := make([]byte, 256)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"other user's tags", "GET", base, bob.AccessToken, nil, 403, "M_FORBIDDEN"},
		{"tag other user's room", "PUT", base + "/u.x", bob.AccessToken, `{}`, 403, "M_FORBIDDEN"},
		{"untag other user's room", "DELETE", base + "/m.favourite", bob.AccessToken, nil, 403, "M_FORBIDDEN"},
		{"order not a number", "PUT", base + "/u.x", alice.AccessToken, `{"order":"first"}`, 400, "M_BAD_JSON"},
		{"body not an object", "PUT", base + "/u.x", alice.AccessToken, `[]`, 400, "M_BAD_JSON"},
		{"body not JSON", "PUT", base + "/u.x", alice.AccessToken, `{`, 400, "M_NOT_JSON"},
		{"tag too long", "PUT", base + "/" + string(long), alice.AccessToken, `{}`, 400, "M_INVALID_PARAM"},
		{"bad room", "GET", "/_matrix/client/v3/user/" + alice.UserID + "/rooms/room/tags", alice.AccessToken, nil, 400, "M_INVALID_PARAM"},
	}
	for _, tt := range tests {
		status, body := ps.do(t, tt.method, tt.path, tt.token, tt.body)
		wantError(t, tt.name, status, body, tt.status, tt.code)
	}
	if status, _ := ps.do(t, "GET", base, alice.AccessToken, nil); status != http.StatusOK {
		t.Errorf("GET after errors: %d", status)
	}
}
