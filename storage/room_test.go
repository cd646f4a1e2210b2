package storage

import (
	"context"
	"testing"

	"hearth.dev/hearth/core"
)

func TestStoreRoom(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	_, err := s.Room(ctx, "!r")
	wantErrIs(t, "Room(unknown)", err, core.ErrNotFound)

	info := core.RoomInfo{RoomID: "!r", RoomVersion: "11", Creator: "@a:x", IsPublic: true}
	if err := s.StoreRoom(ctx, info); err != nil {
		t.Fatal(err)
	}
	got, err := s.Room(ctx, "!r")
	if err != nil || got != info {
		t.Errorf("Room = %+v, %v; want %+v", got, err, info)
	}
	// Storing it again is a no-op; with another version it is refused.
	if err := s.StoreRoom(ctx, core.RoomInfo{RoomID: "!r", RoomVersion: "11"}); err != nil {
		t.Errorf("StoreRoom again: %v", err)
	}
	if got, _ := s.Room(ctx, "!r"); got != info {
		t.Errorf("Room after storing again = %+v, want %+v", got, info)
	}
	err = s.StoreRoom(ctx, core.RoomInfo{RoomID: "!r", RoomVersion: "12"})
	wantErrIs(t, "StoreRoom(other version)", err, core.ErrInvalidParam)
	err = s.StoreRoom(ctx, core.RoomInfo{RoomID: "!s"})
	wantErrIs(t, "StoreRoom(no version)", err, core.ErrInvalidParam)

	info2 := core.RoomInfo{RoomID: "!s", RoomVersion: "12"}
	if err := s.StoreRoom(ctx, info2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Room(ctx, "!s"); err != nil || got != info2 {
		t.Errorf("Room(!s) = %+v, %v; want %+v", got, err, info2)
	}
}
