package web

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUserDirectorySearch(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	bob := ts.registerTestUser(t, "bob")
	carl := ts.registerTestUser(t, "carl")
	dave := ts.registerTestUser(t, "dave") // in no room
	for _, u := range []struct {
		user testUser
		name string
	}{{bob, "Bobby Tables"}, {dave, "Bob's friend Dave"}} {
		status, resp := ts.do(t, "PUT", "/_matrix/client/v3/profile/"+url.PathEscape(u.user.UserID)+"/displayname", u.user.AccessToken,
			map[string]any{"displayname": u.name})
		wantOK(t, "set display name", status, resp)
	}
	create := func(u testUser, body map[string]any) string {
		t.Helper()
		status, resp := ts.do(t, "POST", "/_matrix/client/v3/createRoom", u.AccessToken, body)
		wantOK(t, "createRoom", status, resp)
		return resp["room_id"].(string)
	}
	shared := create(alice, map[string]any{"preset": "private_chat", "invite": []string{bob.UserID}})
	status, resp := ts.do(t, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape(shared)+"/join", bob.AccessToken, map[string]any{})
	wantOK(t, "bob joins", status, resp)
	create(carl, map[string]any{"preset": "public_chat"})

	search := func(u testUser, body any) map[string]any {
		t.Helper()
		status, resp := ts.do(t, "POST", "/_matrix/client/v3/user_directory/search", u.AccessToken, body)
		wantOK(t, "search", status, resp)
		return resp
	}
	bobEntry := map[string]any{"user_id": bob.UserID, "display_name": "Bobby Tables"}
	carlEntry := map[string]any{"user_id": carl.UserID}
	for _, c := range []struct {
		who  testUser
		body map[string]any
		want map[string]any
	}{
		{alice, map[string]any{"search_term": "BOB"}, map[string]any{"results": []any{bobEntry}, "limited": false}},
		{alice, map[string]any{"search_term": "tables"}, map[string]any{"results": []any{bobEntry}, "limited": false}},
		{alice, map[string]any{"search_term": "carl"}, map[string]any{"results": []any{carlEntry}, "limited": false}},
		// dave shares no room and is in no public room.
		{alice, map[string]any{"search_term": "dave"}, map[string]any{"results": []any{}, "limited": false}},
		// bob shares a room with alice: first.
		{alice, map[string]any{"search_term": "example.org"}, map[string]any{"results": []any{bobEntry, carlEntry}, "limited": false}},
		{alice, map[string]any{"search_term": "example.org", "limit": 1}, map[string]any{"results": []any{bobEntry}, "limited": true}},
		// dave sees only carl (public room); carl sees himself.
		{dave, map[string]any{"search_term": "example.org"}, map[string]any{"results": []any{carlEntry}, "limited": false}},
		{carl, map[string]any{"search_term": "carl"}, map[string]any{"results": []any{carlEntry}, "limited": false}},
		{carl, map[string]any{"search_term": "alice"}, map[string]any{"results": []any{}, "limited": false}},
	} {
		got := search(c.who, c.body)
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s searches %v (-want +got):\n%s", c.who.UserID, c.body, diff)
		}
	}

	// Once bob leaves, alice no longer finds him.
	status, resp = ts.do(t, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape(shared)+"/leave", bob.AccessToken, map[string]any{})
	wantOK(t, "bob leaves", status, resp)
	if got := search(alice, map[string]any{"search_term": "bob"}); !cmp.Equal(got["results"], []any{}) {
		t.Errorf("alice finds %v after bob left", got["results"])
	}

	for _, c := range []struct {
		what   string
		token  string
		body   any
		status int
		code   string
	}{
		{"no search_term", alice.AccessToken, map[string]any{"limit": 5}, 400, "M_MISSING_PARAM"},
		{"limit not a number", alice.AccessToken, map[string]any{"search_term": "a", "limit": "5"}, 400, "M_BAD_JSON"},
		{"search_term not a string", alice.AccessToken, map[string]any{"search_term": 5}, 400, "M_BAD_JSON"},
		{"negative limit", alice.AccessToken, map[string]any{"search_term": "a", "limit": -1}, 400, "M_INVALID_PARAM"},
		{"not JSON", alice.AccessToken, "{", 400, "M_NOT_JSON"},
		{"no token", "", map[string]any{"search_term": "a"}, 401, "M_MISSING_TOKEN"},
	} {
		status, resp := ts.do(t, "POST", "/_matrix/client/v3/user_directory/search", c.token, c.body)
		wantError(t, c.what, status, resp, c.status, c.code)
	}
	// The r0 path of older clients.
	status, resp = ts.do(t, "POST", "/_matrix/client/r0/user_directory/search", alice.AccessToken, map[string]any{"search_term": "carl"})
	wantOK(t, "r0 search", status, resp)
}
