package web

import (
	"net/url"
	"slices"
	"testing"
)

// Deleting an alias that m.room.canonical_alias names (as alias or in
// alt_aliases) sends a new canonical alias event without it (Synapse).
func TestDeleteAliasUpdatesCanonicalAlias(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	roomID := env.createRoom(alice, map[string]any{"preset": "public_chat", "room_alias_name": "main"})
	alias := func(name string) string { return "#" + name + ":" + roomTestServer }
	path := func(name string) string { return cs + "/directory/room/" + url.PathEscape(alias(name)) }
	for _, n := range []string{"alt1", "alt2"} {
		env.must("PUT", path(n), alice, map[string]string{"room_id": roomID}, nil)
	}
	env.must("PUT", cs+"/rooms/"+roomID+"/state/m.room.canonical_alias", alice,
		map[string]any{"alias": alias("main"), "alt_aliases": []string{alias("alt1"), alias("alt2")}}, nil)
	canonical := func() map[string]any {
		t.Helper()
		var c map[string]any
		env.must("GET", cs+"/rooms/"+roomID+"/state/m.room.canonical_alias", alice, nil, &c)
		return c
	}

	env.must("DELETE", path("alt1"), alice, nil, nil)
	c := canonical()
	alts, _ := c["alt_aliases"].([]any)
	if c["alias"] != alias("main") || len(alts) != 1 || alts[0] != alias("alt2") {
		t.Errorf("after deleting alt1: canonical alias %v, want main with alt2", c)
	}
	env.must("DELETE", path("main"), alice, nil, nil)
	c = canonical()
	alts, _ = c["alt_aliases"].([]any)
	if _, has := c["alias"]; has || !slices.Equal(alts, []any{alias("alt2")}) {
		t.Errorf("after deleting main: canonical alias %v, want alt2 only", c)
	}
	// An alias the event does not name changes nothing.
	before := env.state(alice, roomID)["m.room.canonical_alias|"].EventID
	env.must("PUT", path("other"), alice, map[string]string{"room_id": roomID}, nil)
	env.must("DELETE", path("other"), alice, nil, nil)
	if after := env.state(alice, roomID)["m.room.canonical_alias|"].EventID; after != before {
		t.Errorf("deleting an alias not in the event sent %s", after)
	}
	// A server admin outside the room deletes the last one: the alias is
	// gone, and the event, which the admin cannot send, stays.
	admin := env.user("root", true)
	env.must("DELETE", path("alt2"), admin, nil, nil)
	env.wantError("GET", path("alt2"), "", nil, 404, "M_NOT_FOUND")
}
