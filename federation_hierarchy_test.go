package hearth

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"hearth.dev/hearth/core/room"
)

// Another server asks for a space's hierarchy over federation (GET
// /_matrix/federation/v1/hierarchy/{roomId}, X-Matrix signed): it gets
// the space with its m.space.child events, the public child's summary,
// and the invite-only child as inaccessible; a private space is not
// found for it.
func TestFederationHierarchyServed(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")
	create := func(body map[string]any) string {
		id, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, body)["room_id"].(string)
		return id
	}
	space := create(map[string]any{"preset": "public_chat", "name": "space", "creation_content": map[string]any{"type": "m.space"}})
	public := create(map[string]any{"preset": "public_chat", "name": "public child"})
	private := create(map[string]any{"preset": "private_chat", "name": "private child"})
	for _, child := range []string{public, private} {
		a.c.ok("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(space)+"/state/m.space.child/"+url.PathEscape(child), a.token,
			map[string]any{"via": []string{"a.test"}})
	}

	var h room.FederationHierarchy
	if err := b.hs.FederationClient.Request(context.Background(), "a.test", "GET", "/_matrix/federation/v1/hierarchy/"+url.PathEscape(space), nil, &h); err != nil {
		t.Fatal(err)
	}
	if h.Room.RoomID != space || h.Room.Name != "space" || len(h.Room.ChildrenState) != 2 {
		t.Fatalf("room = %+v, want the space with 2 children_state", h.Room)
	}
	var children []string
	for _, c := range h.Children {
		children = append(children, c.RoomID)
	}
	if !slices.Equal(children, []string{public}) || !slices.Equal(h.InaccessibleChildren, []string{private}) {
		t.Fatalf("children %v, inaccessible %v; want [%s], [%s]", children, h.InaccessibleChildren, public, private)
	}
	// The private room itself is not shown to b, whose users are not in it.
	err := b.hs.FederationClient.Request(context.Background(), "a.test", "GET", "/_matrix/federation/v1/hierarchy/"+url.PathEscape(private), nil, &h)
	if err == nil {
		t.Fatal("a private room's hierarchy was served to a server with no user in it")
	}
	// Once bob is invited, b may see it.
	a.c.ok("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(private)+"/invite", a.token, map[string]any{"user_id": b.user})
	if err := b.hs.FederationClient.Request(context.Background(), "a.test", "GET", "/_matrix/federation/v1/hierarchy/"+url.PathEscape(private), nil, &h); err != nil {
		t.Fatalf("after inviting bob: %v", err)
	}
}

// alice's client asks a for the hierarchy of a space whose child lives on
// b: a asks b over federation (GET /hierarchy, as Synapse does) and gives
// the child with its own children as b summarised them (no second
// request), leaving out the child b says a may not see and the restricted
// child whose allowed room alice is not in; the restricted child allowing
// the space's members is given.
func TestClientHierarchyWithRemoteChildren(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	var mu sync.Mutex
	asked := map[string]int{}
	b := n.openWrapped(t, "b.test", "bob", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rest, ok := strings.CutPrefix(r.URL.Path, "/_matrix/federation/v1/hierarchy/"); ok {
				mu.Lock()
				asked[rest]++
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	create := func(s *fedServer, body map[string]any) string {
		id, _ := s.c.ok("POST", "/_matrix/client/v3/createRoom", s.token, body)["room_id"].(string)
		return id
	}
	child := func(s *fedServer, parent, child, via string) {
		s.c.ok("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(parent)+"/state/m.space.child/"+url.PathEscape(child), s.token,
			map[string]any{"via": []string{via}})
	}
	restricted := func(allowed string) map[string]any {
		return map[string]any{"preset": "private_chat", "room_version": "10", "initial_state": []any{map[string]any{
			"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "restricted",
				"allow": []any{map[string]any{"type": "m.room_membership", "room_id": allowed}}}}}}
	}
	space := create(a, map[string]any{"preset": "public_chat", "name": "space", "creation_content": map[string]any{"type": "m.space"}})
	local := create(a, map[string]any{"preset": "public_chat", "name": "local child"})
	remote := create(b, map[string]any{"preset": "public_chat", "name": "remote child", "creation_content": map[string]any{"type": "m.space"}})
	grandchild := create(b, map[string]any{"preset": "public_chat", "name": "remote grandchild"})
	private := create(b, map[string]any{"preset": "private_chat", "name": "private"})
	forSpace := create(b, restricted(space))
	elsewhere := create(b, restricted(private))
	child(a, space, local, "a.test")
	child(a, space, remote, "b.test")
	for _, c := range []string{grandchild, private, forSpace, elsewhere} {
		child(b, remote, c, "b.test")
	}

	out := a.c.ok("GET", "/_matrix/client/v1/rooms/"+url.PathEscape(space)+"/hierarchy", a.token, nil)
	rooms, _ := out["rooms"].([]any)
	var got []string
	for _, r := range rooms {
		m, _ := r.(map[string]any)
		id, _ := m["room_id"].(string)
		got = append(got, id)
		if id == remote {
			if cs, _ := m["children_state"].([]any); len(cs) != 4 || m["name"] != "remote child" || m["room_type"] != "m.space" {
				t.Errorf("the remote child = %v, want its name, type and 4 children_state", m)
			}
		}
	}
	if want := []string{space, local, remote, grandchild, forSpace}; !slices.Equal(got, want) {
		t.Fatalf("hierarchy = %v, want %v (space, local child, remote child, its public and space-restricted children)", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[url.PathEscape(remote)]+asked[remote] != 1 {
		t.Errorf("b was asked for %v, want the remote child's hierarchy once", asked)
	}
}
