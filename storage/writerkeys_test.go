package storage

import (
	"context"
	"errors"
	"testing"

	"hearth.dev/hearth/core"
)

// roomOfEvent reads which room an event's row is in.
func roomOfEvent(t *testing.T, s *EventStore, eventID string) string {
	t.Helper()
	var roomID string
	err := s.db.Reader().QueryRowContext(context.Background(),
		"SELECT r.room_id FROM events e JOIN rooms r ON r.room_nid = e.room_nid WHERE e.event_id = ?", eventID).Scan(&roomID)
	if err != nil {
		t.Fatal(err)
	}
	return roomID
}

// roomKey reads a room's room_nid.
func roomKey(t *testing.T, s *EventStore, roomID string) int64 {
	t.Helper()
	var nid int64
	if err := s.db.Reader().QueryRowContext(context.Background(), sqlRoomNID, roomID).Scan(&nid); err != nil {
		t.Fatal(err)
	}
	return nid
}

// builtMsg is a message of r as a local send stores it.
func builtMsg(r *testRoom, name string, depth int64, prevs ...string) core.NewEvent {
	ev := r.msg(name, depth, prevs...)
	ev.Built = true
	return ev
}

// TestWriterKeysAfterPurge: a purged room's key is forgotten by the
// writer, so that a room stored again under the same ID gets its events,
// not the room that took the purged one's key.
func TestWriterKeysAfterPurge(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	first := newTestRoom(t, s, "purged")
	first.persist(core.PersistOptions{}, builtMsg(first, "before purge", 1))
	oldKey := roomKey(t, s, first.id)
	if _, err := NewAdminRoomStore(s.db, testServer).PurgeRoom(ctx, first.id); err != nil {
		t.Fatal(err)
	}
	other := newTestRoom(t, s, "after purge")
	if k := roomKey(t, s, other.id); k != oldKey {
		t.Fatalf("the next room got key %d, not the purged room's %d: the test needs them equal", k, oldKey)
	}
	again := newTestRoom(t, s, "purged")
	ev := builtMsg(again, "after purge", 1)
	again.persist(core.PersistOptions{}, ev)
	if got := roomOfEvent(t, s, ev.EventID); got != again.id {
		t.Errorf("a message of the room stored again is in %s, want %s", got, again.id)
	}
}

// TestWriterKeysAfterFailedWrite: what a write that failed learned or gave
// out is forgotten with its changes: a stream's ids continue from the last
// committed one, and a room whose insert was rolled back does not keep the
// key another room takes next.
func TestWriterKeysAfterFailedWrite(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)

	// A stream, in a batch where one write commits and one fails.
	stream := StreamIDs{Name: "receipts", Step: 1}
	next := func(q Queryer) (int64, error) { return stream.Next(ctx, q, 1) }
	var first, second int64
	if err := s.db.Write(ctx, func(q Queryer) (err error) { first, err = next(q); return err }); err != nil {
		t.Fatal(err)
	}
	runOneBatch(t, s.db,
		func(q Queryer) (err error) { second, err = next(q); return err },
		func(q Queryer) error {
			if _, err := next(q); err != nil {
				return err
			}
			return errRefused
		})
	var third int64
	if err := s.db.Write(ctx, func(q Queryer) (err error) { third, err = next(q); return err }); err != nil {
		t.Fatal(err)
	}
	if second != first+1 || third != second+1 {
		t.Errorf("stream ids %d, %d, %d around a failed write; want three in a row", first, second, third)
	}

	// A room stored by a write that fails after one of its events.
	lost := newTestRoom(t, s, "base") // for its state group's ID
	info := core.RoomInfo{RoomID: "!rolledback:" + testServer, RoomVersion: "12", Creator: alice}
	ok := inRoom(lost.msg("in the rolled-back room", 1), info.RoomID)
	bad := inRoom(lost.msg("with no state group", 2, "in the rolled-back room"), info.RoomID)
	bad.StateGroup = 1 << 40
	_, err := s.PersistEvents(ctx, []core.NewEvent{ok, bad}, core.PersistOptions{NewRoom: &info})
	if !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("PersistEvents with an unknown state group = %v, want not found", err)
	}
	taker := newTestRoom(t, s, "taker")
	if roomKey(t, s, taker.id) != roomKey(t, s, lost.id)+1 {
		t.Fatal("the next room did not take the rolled-back room's key: the test needs it to")
	}
	if err := s.StoreRoom(ctx, info); err != nil {
		t.Fatal(err)
	}
	ev := inRoom(lost.msg("in the room stored again", 1), info.RoomID)
	if _, err := s.PersistEvents(ctx, []core.NewEvent{ev}, core.PersistOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := roomOfEvent(t, s, ev.EventID); got != info.RoomID {
		t.Errorf("a message of the room stored after the failed write is in %s, want %s", got, info.RoomID)
	}
}

// inRoom moves a Built message into another room.
func inRoom(ev core.NewEvent, roomID string) core.NewEvent {
	ev.RoomID, ev.Built = roomID, true
	ev.JSON = eventJSON(&ev, `{"body":"moved","msgtype":"m.text"}`)
	return ev
}

// TestWriterKeysStreamMovedElsewhere: a stream position that something
// other than StreamIDs moved after the writer learned it (a second writer
// would, were one to run) is read again, never set back: the next id
// follows the stored position, and the one after follows that.
func TestWriterKeysStreamMovedElsewhere(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	stream := StreamIDs{Name: "receipts", Step: 1}
	next := func() int64 {
		t.Helper()
		var id int64
		if err := s.db.Write(ctx, func(q Queryer) (err error) { id, err = stream.Next(ctx, q, 1); return err }); err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := next()
	if err := s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "UPDATE stream_positions SET stream_id = stream_id + 10 WHERE stream_name = ?", stream.Name)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := next(), first+11; got != want {
		t.Errorf("after the position moved by 10, Next gave %d, want %d", got, want)
	}
	if got, want := next(), first+12; got != want {
		t.Errorf("the id after that is %d, want %d", got, want)
	}
	var stored int64
	if err := s.db.Reader().QueryRowContext(ctx, "SELECT stream_id FROM stream_positions WHERE stream_name = ?", stream.Name).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != first+12 {
		t.Errorf("stored position %d, want %d", stored, first+12)
	}
}
