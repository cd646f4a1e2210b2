package storage

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

func TestNetworkPublishedRooms(t *testing.T) {
	ctx := context.Background()
	es := newTestStore(t)
	d := NewDirectoryStore(es.db)
	for _, r := range []string{"!a:example.org", "!b:example.org", "!c:example.org"} {
		if err := es.StoreRoom(ctx, core.RoomInfo{RoomID: r, RoomVersion: "10"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct{ service, network, room string }{
		{"irc", "libera", "!b:example.org"}, {"irc", "libera", "!a:example.org"}, {"irc", "libera", "!a:example.org"},
		{"irc", "oftc", "!a:example.org"}, {"slack", "libera", "!c:example.org"},
	} {
		if err := d.SetNetworkPublished(ctx, p.service, p.network, p.room, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SetNetworkPublished(ctx, "irc", "libera", "!zz:example.org", true); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SetNetworkPublished(unknown room) = %v, want not found", err)
	}
	list := func(service, network string) []string {
		t.Helper()
		got, err := d.NetworkPublishedRooms(ctx, service, network)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, c := range []struct {
		service, network string
		want             []string
	}{
		{"irc", "libera", []string{"!a:example.org", "!b:example.org"}},
		{"irc", "oftc", []string{"!a:example.org"}},
		{"slack", "libera", []string{"!c:example.org"}},
		{"slack", "oftc", []string{}},
		{"", "", []string{"!a:example.org", "!b:example.org", "!c:example.org"}},
	} {
		if diff := cmp.Diff(c.want, list(c.service, c.network)); diff != "" {
			t.Errorf("NetworkPublishedRooms(%q, %q) (-want +got):\n%s", c.service, c.network, diff)
		}
	}
	// Withdrawn from one list only; the main directory is untouched.
	if err := d.SetNetworkPublished(ctx, "irc", "libera", "!a:example.org", false); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"!b:example.org"}, list("irc", "libera")); diff != "" {
		t.Errorf("after withdrawing (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"!a:example.org"}, list("irc", "oftc")); diff != "" {
		t.Errorf("another network after withdrawing (-want +got):\n%s", diff)
	}
	if pub, err := d.PublishedRooms(ctx); err != nil || len(pub) != 0 {
		t.Errorf("PublishedRooms = %v, %v; want none", pub, err)
	}
}

// schemaWithout is hearth's schema tree without the delta files named
// (paths under the schema folder): the schema of a database written by
// the code before them.
func schemaWithout(t *testing.T, files ...string) *SchemaTree {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(hearthSchema.FS, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || slices.Contains(files, p) {
			return err
		}
		b, err := fs.ReadFile(hearthSchema.FS, p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, err := fs.Stat(hearthSchema.FS, f); err != nil {
			t.Fatalf("schema file %s: %v", f, err)
		}
	}
	return &SchemaTree{FS: m, Version: hearthSchema.Version, CompatVersion: hearthSchema.CompatVersion, GoDeltas: hearthSchema.GoDeltas}
}

// TestMigrateAppServiceRoomList opens a version-2 database written before
// delta 2/96 with today's schema: the delta is applied once, and the
// table works.
func TestMigrateAppServiceRoomList(t *testing.T) {
	ctx := context.Background()
	const delta = "main/delta/2/96appservice_room_list.sql"
	o := testOptions(t)
	old := openBefore(t, o, delta)
	if err := NewEventStore(old).StoreRoom(ctx, core.RoomInfo{RoomID: "!a:example.org", RoomVersion: "10"}); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db := mustOpenMigrated(t, o, delta)
	d := NewDirectoryStore(db)
	if err := d.SetNetworkPublished(ctx, "irc", "libera", "!a:example.org", true); err != nil {
		t.Fatal(err)
	}
	if got, err := d.NetworkPublishedRooms(ctx, "irc", "libera"); err != nil || len(got) != 1 {
		t.Errorf("NetworkPublishedRooms after migrating = %v, %v", got, err)
	}
}
