package hearth

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestRemoteRestrictedJoin: bob of b.test joins a restricted room of
// a.test once he is a member of the room it allows: a names alice in
// join_authorised_via_users_server, countersigns the join in send_join,
// and both servers hold the join; before that a refuses with M_FORBIDDEN.
// carol's c.test is in the room too, but no one there may invite: asked
// first, it answers M_UNABLE_TO_GRANT_JOIN and b goes on to a.
func TestRemoteRestrictedJoin(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")
	var mu sync.Mutex
	var cMakeJoins []string // what c answered make_join for bob
	c := n.openWrapped(t, "c.test", "carol", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, "/_matrix/federation/v1/make_join/") || !strings.Contains(r.URL.Path, "bob") {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			mu.Lock()
			cMakeJoins = append(cMakeJoins, fmt.Sprintf("%d %s", rec.Code, rec.Body.String()))
			mu.Unlock()
			maps.Copy(w.Header(), rec.Header())
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		})
	})

	allowed, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "public_chat"})["room_id"].(string)
	restricted, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{
		"preset": "private_chat", "room_version": "10",
		"power_level_content_override": map[string]any{"invite": 50},
		"initial_state": []any{map[string]any{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{
			"join_rule": "restricted", "allow": []any{map[string]any{"type": "m.room_membership", "room_id": allowed}}}}},
	})["room_id"].(string)
	joinPath := "/_matrix/client/v3/join/" + url.PathEscape(restricted) + "?server_name=c.test&server_name=a.test"
	c.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(allowed)+"?server_name=a.test", c.token, map[string]any{})
	eventually(t, "a to see carol in the allowed room", func() bool {
		status, out := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(allowed)+"/state/m.room.member/"+url.PathEscape(c.user), a.token, nil)
		return status == http.StatusOK && out["membership"] == "join"
	})
	c.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(restricted)+"?server_name=a.test", c.token, map[string]any{})
	// Asked directly, c cannot grant a join: none of its members may invite.
	status, out := c.c.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(restricted)+"/invite", c.token, map[string]any{"user_id": b.user})
	if status != http.StatusForbidden {
		t.Fatalf("carol inviting with power 0 < 50 = %d %v, want 403", status, out)
	}

	if status, out := b.c.do("POST", joinPath, b.token, map[string]any{}); status != http.StatusForbidden || out["errcode"] != "M_FORBIDDEN" {
		t.Fatalf("bob joining before he is in the allowed room = %d %v, want 403 M_FORBIDDEN", status, out)
	}

	b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(allowed)+"?server_name=a.test", b.token, map[string]any{})
	eventually(t, "a to see bob in the allowed room", func() bool {
		status, out := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(allowed)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
		return status == http.StatusOK && out["membership"] == "join"
	})
	// c is asked first, and must know bob joined too, or it refuses with
	// M_FORBIDDEN instead of M_UNABLE_TO_GRANT_JOIN.
	eventually(t, "c to see bob in the allowed room", func() bool {
		status, out := c.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(allowed)+"/state/m.room.member/"+url.PathEscape(b.user), c.token, nil)
		return status == http.StatusOK && out["membership"] == "join"
	})
	b.c.ok("POST", joinPath, b.token, map[string]any{})

	mu.Lock()
	if len(cMakeJoins) != 2 || !strings.HasPrefix(cMakeJoins[1], "400 ") || !strings.Contains(cMakeJoins[1], "M_UNABLE_TO_GRANT_JOIN") {
		t.Errorf("c's answers to make_join for bob = %q, want the second 400 M_UNABLE_TO_GRANT_JOIN", cMakeJoins)
	}
	mu.Unlock()
	for _, s := range []*fedServer{b, a} {
		status, out := s.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(restricted)+"/state/m.room.member/"+url.PathEscape(b.user), s.token, nil)
		if status != http.StatusOK || out["membership"] != "join" || out["join_authorised_via_users_server"] != a.user {
			t.Fatalf("bob's member event on %s = %d %v, want a join authorised by %s", s.hs.ServerName, status, out, a.user)
		}
	}
	// The room works both ways after the join.
	b.send(restricted, "hello from bob")
	eventually(t, "a to see bob's message", func() bool {
		for _, m := range a.bodies(restricted) {
			if m == "hello from bob" {
				return true
			}
		}
		return false
	})
}
