package storage

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

func TestDirectoryStore(t *testing.T) {
	ctx := context.Background()
	es := newTestStore(t)
	d := NewDirectoryStore(es.db)
	for _, r := range []string{"!b:example.org", "!a:example.org"} {
		if err := es.StoreRoom(ctx, core.RoomInfo{RoomID: r, RoomVersion: "10"}); err != nil {
			t.Fatal(err)
		}
	}

	// Aliases.
	if err := d.CreateAlias(ctx, "#x:example.org", "!a:example.org", "@alice:example.org"); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateAlias(ctx, "#x:example.org", "!b:example.org", "@bob:example.org"); !errors.Is(err, core.ErrRoomInUse) {
		t.Fatalf("CreateAlias(taken) = %v, want M_ROOM_IN_USE", err)
	}
	if err := d.CreateAlias(ctx, "#w:example.org", "!a:example.org", "@alice:example.org"); err != nil {
		t.Fatal(err)
	}
	room, creator, err := d.ResolveAlias(ctx, "#x:example.org")
	if err != nil || room != "!a:example.org" || creator != "@alice:example.org" {
		t.Fatalf("ResolveAlias = %q, %q, %v", room, creator, err)
	}
	if _, _, err := d.ResolveAlias(ctx, "#none:example.org"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("ResolveAlias(unknown) = %v, want not found", err)
	}
	got, err := d.Aliases(ctx, "!a:example.org")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"#w:example.org", "#x:example.org"}, got); diff != "" {
		t.Errorf("Aliases (-want +got):\n%s", diff)
	}
	if err := d.DeleteAlias(ctx, "#x:example.org"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteAlias(ctx, "#x:example.org"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("DeleteAlias twice = %v, want not found", err)
	}

	// Published rooms.
	for _, r := range []string{"!b:example.org", "!a:example.org"} {
		if err := d.SetPublished(ctx, r, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SetPublished(ctx, "!b:example.org", false); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPublished(ctx, "!zz:example.org", true); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("SetPublished(unknown) = %v, want not found", err)
	}
	pub, err := d.PublishedRooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"!a:example.org"}, pub); diff != "" {
		t.Errorf("PublishedRooms (-want +got):\n%s", diff)
	}
	if info, err := es.Room(ctx, "!a:example.org"); err != nil || !info.IsPublic {
		t.Errorf("Room(!a) = %+v, %v; want IsPublic", info, err)
	}

	// Forgotten rooms.
	if at, err := d.ForgottenAt(ctx, "@alice:example.org", "!a:example.org"); err != nil || at != "" {
		t.Fatalf("ForgottenAt before = %q, %v", at, err)
	}
	for _, ev := range []string{"$leave1", "$leave2"} {
		if err := d.Forget(ctx, "@alice:example.org", "!a:example.org", ev); err != nil {
			t.Fatal(err)
		}
	}
	if at, err := d.ForgottenAt(ctx, "@alice:example.org", "!a:example.org"); err != nil || at != "$leave2" {
		t.Fatalf("ForgottenAt = %q, %v; want $leave2", at, err)
	}
}
