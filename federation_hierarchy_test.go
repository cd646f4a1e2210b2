package hearth

import (
	"context"
	"net/url"
	"slices"
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
