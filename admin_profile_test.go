package hearth

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// client calls the client-server API of a homeserver served on loopback.
type client struct {
	t   testing.TB
	url string
}

func (c client) do(method, path, token string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 && json.Unmarshal(b, &out) != nil {
		c.t.Fatalf("%s %s: not a JSON object: %s", method, path, b)
	}
	return resp.StatusCode, out
}

func (c client) ok(method, path, token string, body any) map[string]any {
	c.t.Helper()
	status, out := c.do(method, path, token, body)
	if status != http.StatusOK {
		c.t.Fatalf("%s %s = %d %v", method, path, status, out)
	}
	return out
}

func (c client) login(user, password string) string {
	c.t.Helper()
	out := c.ok("POST", "/_matrix/client/v3/login", "", map[string]any{
		"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": user}, "password": password,
	})
	token, _ := out["access_token"].(string)
	if token == "" {
		c.t.Fatalf("login of %s: no access token in %v", user, out)
	}
	return token
}

// TestAdminProfileChangeUpdatesMemberEvents changes a user's display name
// and avatar through the admin user API (PUT /_synapse/admin/v2/users/...)
// on the server hearth.Open builds, and checks that the user's member
// event in a room they joined follows, as a change through the client
// profile API does.
func TestAdminProfileChangeUpdatesMemberEvents(t *testing.T) {
	hs := openTestHomeserver(t)
	owner, err := hs.CreateOwner(t.Context(), "owner", "owner password")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hs.Handler)
	t.Cleanup(srv.Close)
	c := client{t: t, url: srv.URL}
	admin := c.login(owner, "owner password")

	bob := "@bob:owner.test"
	bobPath := "/_synapse/admin/v2/users/" + url.PathEscape(bob)
	if status, out := c.do("PUT", bobPath, admin, map[string]any{"password": "bob password", "displayname": "Bob"}); status != http.StatusCreated {
		t.Fatalf("creating bob = %d %v", status, out)
	}
	bobToken := c.login(bob, "bob password")
	roomID, _ := c.ok("POST", "/_matrix/client/v3/createRoom", admin, map[string]any{"preset": "public_chat"})["room_id"].(string)
	room := url.PathEscape(roomID)
	c.ok("POST", "/_matrix/client/v3/join/"+room, bobToken, map[string]any{})
	member := "/_matrix/client/v3/rooms/" + room + "/state/m.room.member/" + url.PathEscape(bob)
	if got := c.ok("GET", member, admin, nil); got["displayname"] != "Bob" {
		t.Fatalf("bob's member event before = %v", got)
	}

	c.ok("PUT", bobPath, admin, map[string]any{"displayname": "Robert", "avatar_url": "mxc://owner.test/robert"})
	got := c.ok("GET", member, admin, nil)
	if got["displayname"] != "Robert" || got["avatar_url"] != "mxc://owner.test/robert" || got["membership"] != "join" {
		t.Errorf("bob's member event after the admin change = %v; want displayname Robert, the new avatar, still joined", got)
	}

	// Removing the display name removes it from the member event.
	c.ok("PUT", bobPath, admin, map[string]any{"displayname": ""})
	got = c.ok("GET", member, admin, nil)
	if _, ok := got["displayname"]; ok || got["avatar_url"] != "mxc://owner.test/robert" {
		t.Errorf("bob's member event after removing the display name = %v", got)
	}
}
