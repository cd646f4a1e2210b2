package adminroom_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/adminroom"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/storage"
)

const server = "example.org"

// fixture is the delete service over the room pipeline on a real
// database.
type fixture struct {
	rooms   *room.Pipeline
	store   *storage.AdminRoomStore
	deletes *adminroom.Service
	now     time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{Path: filepath.Join(t.TempDir(), "hearth.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ClaimServerName(ctx, server); err != nil {
		t.Fatal(err)
	}
	key, err := db.ServerSigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events := storage.NewEventStore(db)
	rooms, err := room.New(room.Config{ServerName: server, Key: key}, room.Stores{
		Events: events, Timeline: events, State: events, Groups: events, Rooms: events, AuthChains: events,
		Directory: storage.NewDirectoryStore(db),
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{rooms: rooms, store: storage.NewAdminRoomStore(db, server), now: time.UnixMilli(1_700_000_000_000)}
	f.deletes, err = adminroom.New(adminroom.Config{ServerName: server, Rooms: rooms, Store: f.store,
		Now: func() time.Time { return f.now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.deletes.Wait)
	return f
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var me *core.Error
	if !errors.As(err, &me) || me.ErrCode != code {
		t.Errorf("%s: error %v, want %s", what, err, code)
	}
}

// TestDeleteMovesUsers deletes a room with a replacement room: the local
// members leave and are joined to it, the alias moves, and the old room is
// purged.
func TestDeleteMovesUsers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice, bob, admin := "@alice:"+server, "@bob:"+server, "@admin:"+server
	name := "doomed"
	doomed, err := f.rooms.CreateRoom(ctx, room.CreateRequest{Creator: alice, Preset: room.PresetPublicChat, Name: &name, RoomAliasName: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.rooms.Join(ctx, doomed, bob, ""); err != nil {
		t.Fatal(err)
	}

	wantCode(t, "remote new room user", f.deletes.Check(ctx, doomed, adminroom.Request{NewRoomUserID: "@m:elsewhere.org"}), "M_INVALID_PARAM")
	wantCode(t, "unknown room", f.deletes.Check(ctx, "!nope:"+server, adminroom.Request{}), "M_NOT_FOUND")
	if err := f.deletes.Check(ctx, "!nope:"+server, adminroom.Request{Block: true}); err != nil {
		t.Errorf("blocking an unknown room ahead: %v", err)
	}

	res, err := f.deletes.Delete(ctx, admin, doomed, adminroom.Request{NewRoomUserID: admin})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.KickedUsers)
	if !slices.Equal(res.KickedUsers, []string{alice, bob}) || len(res.FailedToKickUsers) != 0 || res.NewRoomID == nil ||
		!slices.Equal(res.LocalAliases, []string{"#doomed:" + server}) {
		t.Fatalf("result = %+v", res)
	}
	for _, u := range []string{alice, bob} {
		if got, err := f.rooms.JoinedRooms(ctx, u); err != nil || !slices.Equal(got, []string{*res.NewRoomID}) {
			t.Errorf("%s's rooms after the delete = %v, %v; want only the new room", u, got, err)
		}
	}
	if to, err := f.rooms.ResolveAlias(ctx, "#doomed:"+server); err != nil || to != *res.NewRoomID {
		t.Errorf("the alias points at %q, %v; want the new room", to, err)
	}
	if _, err := f.store.AdminRoom(ctx, doomed); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("the deleted room is still known: %v", err)
	}
}

// TestDeleteTasks runs a delete in the background and reads its status,
// which is forgotten a day after it ended.
func TestDeleteTasks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice := "@alice:" + server
	r, err := f.rooms.CreateRoom(ctx, room.CreateRequest{Creator: alice})
	if err != nil {
		t.Fatal(err)
	}
	purge := false
	id, err := f.deletes.Start(ctx, "@admin:"+server, r, adminroom.Request{Purge: &purge})
	if err != nil {
		t.Fatal(err)
	}
	f.deletes.Wait()
	st, ok := f.deletes.Status(id)
	if !ok || st.Status != adminroom.StatusComplete || st.RoomID != r || !slices.Equal(st.Result.KickedUsers, []string{alice}) {
		t.Errorf("status = %+v, %v", st, ok)
	}
	if all := f.deletes.RoomStatus(r); len(all) != 1 || all[0].DeleteID != id {
		t.Errorf("room status = %+v", all)
	}
	// Not purged: the room is still known, and can be deleted again.
	if _, err := f.store.AdminRoom(ctx, r); err != nil {
		t.Errorf("the room without purge: %v", err)
	}
	f.now = f.now.Add(25 * time.Hour)
	if _, ok := f.deletes.Status(id); ok || len(f.deletes.RoomStatus(r)) != 0 {
		t.Error("the status outlived a day")
	}
}
