package storage

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

func TestDirectoryUsers(t *testing.T) {
	ctx := context.Background()
	f := newAdminRoomFixture(t)
	u := func(name string) string { return "@" + name + ":" + testServer }
	for _, n := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "gina", "henry"} {
		f.addDevices(t, u(n), 0)
	}
	f.exec(t, `INSERT INTO profile_fields (user_id, key, value) VALUES (?, 'displayname', '"Bob B"'), (?, 'avatar_url', '"mxc://x/b"'),
		(?, 'displayname', '42')`, u("bob"), u("bob"), u("gina"))
	join := func(roomID string, users ...string) {
		t.Helper()
		for _, x := range users {
			if _, err := f.rooms.Join(ctx, roomID, x, ""); err != nil {
				t.Fatalf("%s joins: %v", x, err)
			}
		}
	}
	// P: private, alice and bob joined, carol only invited.
	p := f.createRoom(t, room.CreateRequest{Creator: u("alice"), Preset: room.PresetPrivateChat, Invite: []string{u("bob"), u("carol")}})
	join(p, u("bob"))
	// Q: public, dave and erin (deactivated below).
	pub := f.createRoom(t, room.CreateRequest{Creator: u("dave"), Preset: room.PresetPublicChat})
	join(pub, u("erin"))
	f.exec(t, "UPDATE users SET deactivated = 1 WHERE user_id = ?", u("erin"))
	// W: private with world-readable history, gina.
	f.createRoom(t, room.CreateRequest{Creator: u("gina"), Preset: room.PresetPrivateChat,
		InitialState: []room.StateProto{{Type: "m.room.history_visibility", Content: []byte(`{"history_visibility":"world_readable"}`)}}})
	// R: private, bob and henry; alice is not in it.
	r := f.createRoom(t, room.CreateRequest{Creator: u("henry"), Preset: room.PresetPrivateChat, Invite: []string{u("bob")}})
	join(r, u("bob"))
	// S: a private room henry left.
	s := f.createRoom(t, room.CreateRequest{Creator: u("henry"), Preset: room.PresetPrivateChat, Invite: []string{u("frank")}})
	join(s, u("frank"))
	if err := f.rooms.Leave(ctx, s, u("henry"), ""); err != nil {
		t.Fatal(err)
	}

	dave := core.DirectoryUser{UserID: u("dave")}
	gina := core.DirectoryUser{UserID: u("gina")} // a display name that is not a string reads as none
	for _, c := range []struct {
		searcher string
		want     []core.DirectoryUser
	}{
		{u("alice"), []core.DirectoryUser{{UserID: u("bob"), DisplayName: "Bob B", AvatarURL: "mxc://x/b", SharesRoom: true}, dave, gina}},
		// dave is in a public room: he finds himself.
		{u("dave"), []core.DirectoryUser{dave, gina}},
		{u("bob"), []core.DirectoryUser{{UserID: u("alice"), SharesRoom: true}, dave, gina, {UserID: u("henry"), SharesRoom: true}}},
		// henry left S: frank is not visible to him.
		{u("henry"), []core.DirectoryUser{{UserID: u("bob"), DisplayName: "Bob B", AvatarURL: "mxc://x/b", SharesRoom: true}, dave, gina}},
		{u("carol"), []core.DirectoryUser{dave, gina}},
		{"@stranger:elsewhere.org", []core.DirectoryUser{dave, gina}},
	} {
		got, err := NewUserDirectoryStore(f.es.db).DirectoryUsers(ctx, c.searcher)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("DirectoryUsers(%s) (-want +got):\n%s", c.searcher, diff)
		}
	}
}
