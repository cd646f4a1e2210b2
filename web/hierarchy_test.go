package web

import (
	"net/url"
	"slices"
	"testing"
)

// TestSpaceHierarchy walks a space with children of every kind: ordered
// and unordered, a sub-space, a restricted room, an invite-only room the
// user may not see, a world-readable one, a child without via (not a
// child) and one on another server (left out). Every answer is checked
// against the spec's OpenAPI description.
func TestSpaceHierarchy(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	bob := env.user("bob", false)
	carol := env.user("carol", false)

	space := func(name string) string {
		return env.createRoom(alice, map[string]any{"preset": "public_chat", "name": name, "creation_content": map[string]any{"type": "m.space"}})
	}
	S, S2 := space("S"), space("S2")
	A := env.createRoom(alice, map[string]any{"preset": "public_chat", "name": "A", "topic": "about A"})
	B := env.createRoom(alice, map[string]any{"preset": "private_chat", "name": "B"})
	C := env.createRoom(alice, map[string]any{"preset": "private_chat", "name": "C", "room_version": "10",
		"initial_state": []map[string]any{{"type": "m.room.join_rules", "state_key": "",
			"content": map[string]any{"join_rule": "restricted", "allow": []map[string]any{{"type": "m.room_membership", "room_id": S}}}}}})
	D := env.createRoom(alice, map[string]any{"preset": "private_chat", "name": "D",
		"initial_state": []map[string]any{{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "world_readable"}}}})
	E := env.createRoom(alice, map[string]any{"preset": "public_chat", "name": "E"})
	F := env.createRoom(alice, map[string]any{"preset": "public_chat", "name": "F"})
	child := func(parent, roomID string, content map[string]any) {
		env.must("PUT", cs+"/rooms/"+parent+"/state/m.space.child/"+url.PathEscape(roomID), alice, content, nil)
	}
	via := []string{roomTestServer}
	child(S, A, map[string]any{"via": via, "order": "b"})
	child(S, B, map[string]any{"via": via, "order": "a0"})
	child(S, C, map[string]any{"via": via, "order": "a"})
	child(S, D, map[string]any{"via": via, "suggested": true})
	child(S, S2, map[string]any{"via": via, "order": "c", "suggested": true})
	child(S, F, map[string]any{}) // no via: removed / not a child
	child(S, "!elsewhere:other.test", map[string]any{"via": []string{"other.test"}})
	child(S2, E, map[string]any{"via": via})
	child(S2, S, map[string]any{"via": via}) // a loop
	env.must("POST", cs+"/rooms/"+S+"/join", bob, map[string]any{}, nil)

	type chunk struct {
		RoomID         string           `json:"room_id"`
		Name           string           `json:"name"`
		RoomType       string           `json:"room_type"`
		JoinRule       string           `json:"join_rule"`
		AllowedRoomIDs []string         `json:"allowed_room_ids"`
		WorldReadable  bool             `json:"world_readable"`
		NumJoined      int              `json:"num_joined_members"`
		ChildrenState  []map[string]any `json:"children_state"`
	}
	type page struct {
		Rooms     []chunk `json:"rooms"`
		NextBatch string  `json:"next_batch"`
	}
	names := map[string]string{S: "S", S2: "S2", A: "A", B: "B", C: "C", D: "D", E: "E", F: "F"}
	get := func(token, roomID, query string) page {
		t.Helper()
		r := env.do("GET", "/_matrix/client/v1/rooms/"+roomID+"/hierarchy?"+query, token, nil)
		specSchemas.checkResponse(t, "api/client-server/space_hierarchy.yaml", "GET", "/rooms/{roomId}/hierarchy", r.Status, r.Body)
		if r.Status != 200 {
			t.Fatalf("hierarchy %s?%s: %d %s", roomID, query, r.Status, r.Body)
		}
		var p page
		r.JSON(t, &p)
		return p
	}
	order := func(p page) []string {
		var out []string
		for _, c := range p.Rooms {
			out = append(out, names[c.RoomID])
		}
		return out
	}
	check := func(name string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: rooms %q, want %q", name, got, want)
		}
	}

	p := get(bob, S, "")
	check("bob, whole tree", order(p), []string{"S", "C", "A", "S2", "E", "D"})
	if p.NextBatch != "" {
		t.Errorf("next_batch %q on the only page", p.NextBatch)
	}
	root := p.Rooms[0]
	if root.RoomType != "m.space" || root.Name != "S" || root.NumJoined != 2 || root.JoinRule != "public" {
		t.Errorf("root summary %+v", root)
	}
	var kids []string
	for _, cs := range root.ChildrenState {
		if cs["type"] != "m.space.child" || cs["sender"] == nil || cs["origin_server_ts"] == nil {
			t.Errorf("children_state entry %v", cs)
		}
		if _, ok := cs["event_id"]; ok {
			t.Errorf("children_state entry is not stripped: %v", cs)
		}
		kids = append(kids, cs["state_key"].(string))
	}
	// Every valid child, with the ordered ones first (B is listed though bob
	// may not see it; F has no via; the remote room is a valid child).
	if len(kids) != 6 || kids[0] != C || kids[1] != B || kids[2] != A || kids[3] != S2 || slices.Contains(kids, F) {
		t.Errorf("children_state of S: %v", kids)
	}
	for _, c := range p.Rooms {
		switch c.RoomID {
		case C:
			if !slices.Equal(c.AllowedRoomIDs, []string{S}) || c.JoinRule != "restricted" {
				t.Errorf("C: %+v", c)
			}
		case D:
			if !c.WorldReadable {
				t.Errorf("D: %+v", c)
			}
		case A, E:
			if len(c.ChildrenState) != 0 {
				t.Errorf("%s has children %v", names[c.RoomID], c.ChildrenState)
			}
		}
	}

	check("max_depth=1", order(get(bob, S, "max_depth=1")), []string{"S", "C", "A", "S2", "D"})
	check("max_depth=0", order(get(bob, S, "max_depth=0")), []string{"S"})
	check("suggested_only", order(get(bob, S, "suggested_only=true")), []string{"S", "S2", "D"})
	check("carol (restricted room not allowed)", order(get(carol, S, "")), []string{"S", "A", "S2", "E", "D"})
	check("alice (member of every room)", order(get(alice, S, "")), []string{"S", "C", "B", "A", "S2", "E", "D"})
	// E and S are S2's unordered children: they come by their m.space.child
	// events' origin_server_ts, then by room ID, and both events may carry
	// the same millisecond, so the expected order follows the timestamps.
	sub := get(bob, S2, "")
	want := []string{"S2", "E", "S", "C", "A", "D"}
	if len(sub.Rooms) > 0 && childBefore(t, sub.Rooms[0].ChildrenState, S, E) {
		want = []string{"S2", "S", "C", "A", "D", "E"}
	}
	check("from the sub-space", order(sub), want)

	var all []string
	from := ""
	for i := 0; ; i++ {
		q := "limit=2"
		if from != "" {
			q += "&from=" + url.QueryEscape(from)
		}
		p := get(bob, S, q)
		if len(p.Rooms) > 2 {
			t.Fatalf("page of %d rooms with limit 2", len(p.Rooms))
		}
		all = append(all, order(p)...)
		if p.NextBatch == "" || i > 5 {
			break
		}
		from = p.NextBatch
	}
	check("pages of 2", all, []string{"S", "C", "A", "S2", "E", "D"})

	first := get(bob, S, "limit=1")
	for _, q := range []string{"limit=1&max_depth=1&from=", "limit=1&suggested_only=true&from="} {
		r := env.wantError("GET", "/_matrix/client/v1/rooms/"+S+"/hierarchy?"+q+url.QueryEscape(first.NextBatch), bob, nil, 400, "M_INVALID_PARAM")
		specSchemas.checkResponse(t, "api/client-server/space_hierarchy.yaml", "GET", "/rooms/{roomId}/hierarchy", r.Status, r.Body)
	}
	env.wantError("GET", "/_matrix/client/v1/rooms/"+S+"/hierarchy?from=nonsense", bob, nil, 400, "M_INVALID_PARAM")
	env.wantError("GET", "/_matrix/client/v1/rooms/"+S+"/hierarchy?limit=0", bob, nil, 400, "M_INVALID_PARAM")
	env.wantError("GET", "/_matrix/client/v1/rooms/"+S+"/hierarchy?max_depth=-1", bob, nil, 400, "M_INVALID_PARAM")
	r := env.wantError("GET", "/_matrix/client/v1/rooms/"+B+"/hierarchy", bob, nil, 403, "M_FORBIDDEN")
	specSchemas.checkResponse(t, "api/client-server/space_hierarchy.yaml", "GET", "/rooms/{roomId}/hierarchy", r.Status, r.Body)
	env.wantError("GET", "/_matrix/client/v1/rooms/!nowhere:"+roomTestServer+"/hierarchy", bob, nil, 403, "M_FORBIDDEN")
}

// childBefore reports whether the m.space.child event for a sorts before
// the one for b when neither has an order: by origin_server_ts, then by
// room ID.
func childBefore(t *testing.T, children []map[string]any, a, b string) bool {
	t.Helper()
	ts := map[string]float64{}
	for _, c := range children {
		key, _ := c["state_key"].(string)
		n, ok := c["origin_server_ts"].(float64)
		if !ok {
			t.Fatalf("children_state entry without origin_server_ts: %v", c)
		}
		ts[key] = n
	}
	ta, okA := ts[a]
	tb, okB := ts[b]
	if !okA || !okB {
		t.Fatalf("children_state %v lacks %s or %s", children, a, b)
	}
	return ta < tb || (ta == tb && a < b)
}
