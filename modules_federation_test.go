package hearth

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"hearth.dev/hearth/modules/moduletest"
)

// TestModulesOverFederation: a.test runs the invite policy and the keyword
// filter. An invite from a blocked user of b.test is refused at /invite;
// one from a trusted user is accepted by a.test on its own (the owner
// joins through b.test); a message with the filtered word from b.test is
// soft-failed on a.test (stored, never shown) while the next one arrives.
func TestModulesOverFederation(t *testing.T) {
	filter := moduletest.Build(t, "hearth.dev/hearth/examples/modules/keyword-filter")
	policy := moduletest.Build(t, "hearth.dev/hearth/examples/modules/invite-policy")
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}, configure: func(name string, cfg *Config) {
		if name == "a.test" {
			cfg.Modules = []ModuleConfig{
				{Path: filter, Config: map[string]any{"words": []any{"casino"}}},
				{Path: policy, Config: map[string]any{"reject_users": []any{"@pest:b.test"}, "accept_users": []any{"@bob:b.test"}}},
			}
		}
	}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")
	pest := moduleUserAdmin(t, b.hs, "pest", false)

	pestRoom := b.c.ok("POST", "/_matrix/client/v3/createRoom", pest, map[string]any{})["room_id"].(string)
	status, out := b.c.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(pestRoom)+"/invite", pest, map[string]any{"user_id": a.user})
	if status != http.StatusForbidden {
		t.Fatalf("invite of %s from a blocked user: %d %v, want 403", a.user, status, out)
	}

	room := b.c.ok("POST", "/_matrix/client/v3/createRoom", b.token, map[string]any{})["room_id"].(string)
	b.c.ok("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/invite", b.token, map[string]any{"user_id": a.user})
	eventually(t, "a.test to accept bob's invite on its own", func() bool {
		status, out := a.c.do("GET", "/_matrix/client/v3/joined_rooms", a.token, nil)
		rooms, _ := out["joined_rooms"].([]any)
		return status == http.StatusOK && slices.Contains(rooms, any(room))
	})

	b.send(room, "the best casino in town")
	b.send(room, "see you there")
	eventually(t, "a.test to get bob's second message", func() bool { return slices.Contains(a.bodies(room), "see you there") })
	if got := a.bodies(room); slices.Contains(got, "the best casino in town") {
		t.Fatalf("a.test shows the filtered message: %q", got)
	}
	if got := b.bodies(room); !slices.Contains(got, "the best casino in town") {
		t.Fatalf("b.test lost its own message: %q", got)
	}
}
