package storage

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

// pushRoomFixture is a room with messages from bob to alice: m1, m2 (which
// mentions alice), m3 (in m1's thread) and m4 (alice's own), persisted in
// that order.
type pushRoomFixture struct {
	es     *EventStore
	room   *testRoom
	events map[string]core.NewEvent
}

const (
	alice = "@alice:" + testServer
	bob   = "@bob:" + testServer
)

func newPushRoomFixture(t *testing.T) *pushRoomFixture {
	t.Helper()
	f, events := buildPushRoomFixture(t)
	f.room.persist(core.PersistOptions{}, events...)
	return f
}

// buildPushRoomFixture is newPushRoomFixture with the events m1 to m4 not
// yet stored: they are returned in order.
func buildPushRoomFixture(t *testing.T) (*pushRoomFixture, []core.NewEvent) {
	t.Helper()
	es := newTestStore(t)
	r := newTestRoom(t, es, "push")
	f := &pushRoomFixture{es: es, room: r, events: map[string]core.NewEvent{}}
	msg := func(name string, depth int64, sender, content string, prev string) core.NewEvent {
		ev := r.msg(name, depth, prev)
		ev.Sender = sender
		ev.JSON = eventJSON(&ev, content)
		f.events[name] = ev
		return ev
	}
	m1 := msg("m1", 1, bob, `{"msgtype":"m.text","body":"hello"}`, "")
	m1.PrevEvents = nil
	m1.JSON = eventJSON(&m1, `{"msgtype":"m.text","body":"hello"}`)
	f.events["m1"] = m1
	m2 := msg("m2", 2, bob, `{"msgtype":"m.text","body":"hey alice","m.mentions":{"user_ids":["`+alice+`"]}}`, "m1")
	m3 := msg("m3", 3, bob, `{"msgtype":"m.text","body":"in thread","m.relates_to":{"rel_type":"m.thread","event_id":"`+eventID("m1")+`"}}`, "m2")
	m4 := msg("m4", 4, alice, `{"msgtype":"m.text","body":"mine"}`, "m3")
	return f, []core.NewEvent{m1, m2, m3, m4}
}

// json returns the event's JSON with its event_id, as the room pipeline
// hands events to the push hook.
func (f *pushRoomFixture) json(name string) []byte {
	ev := f.events[name]
	return []byte(`{"event_id":"` + ev.EventID + `",` + strings.TrimPrefix(string(ev.JSON), "{"))
}

func TestReceipts(t *testing.T) {
	ctx := context.Background()
	f := newPushRoomFixture(t)
	s := NewReceiptStore(f.es.db)
	room := f.room.id
	set := func(user, typ, event, thread string, ts int64) (bool, error) {
		return s.SetReceipt(ctx, core.Receipt{RoomID: room, UserID: user, Type: typ, EventID: eventID(event), ThreadID: thread, TS: ts})
	}
	steps := []struct {
		user, typ, event, thread string
		changed                  bool
		err                      error
	}{
		{bob, core.ReceiptRead, "m2", "", true, nil},
		{bob, core.ReceiptRead, "m1", "", false, nil}, // behind: ignored
		{bob, core.ReceiptRead, "m2", "", false, nil}, // same: nothing new
		{bob, core.ReceiptRead, "m3", "", true, nil},
		{alice, core.ReceiptReadPrivate, "m2", "", true, nil},
		{alice, core.ReceiptRead, "m1", eventID("m1"), true, nil},   // the thread root itself
		{alice, core.ReceiptRead, "m3", eventID("m1"), true, nil},   // in m1's thread
		{alice, core.ReceiptRead, "m2", core.ThreadMain, true, nil}, // main timeline
		{alice, core.ReceiptRead, "m3", core.ThreadMain, false, core.ErrInvalidParam},
		{alice, core.ReceiptRead, "m2", eventID("m1"), false, core.ErrInvalidParam},
		{alice, core.ReceiptRead, "nope", "", false, core.ErrNotFound},
	}
	var positions []int64
	for i, st := range steps {
		changed, err := set(st.user, st.typ, st.event, st.thread, int64(100+i))
		if st.err != nil {
			wantErrIs(t, "step "+st.event+" "+st.thread, err, st.err)
			continue
		}
		if err != nil || changed != st.changed {
			t.Errorf("step %d (%s %s %s): changed %v, %v; want %v", i, st.user, st.typ, st.event, changed, err, st.changed)
		}
		pos, _ := s.ReceiptPosition(ctx)
		positions = append(positions, pos)
	}
	// An event of another room is not found in this one.
	other := newTestRoom(t, f.es, "other")
	if _, err := s.SetReceipt(ctx, core.Receipt{RoomID: other.id, UserID: bob, Type: core.ReceiptRead, EventID: eventID("m1")}); err == nil {
		t.Error("receipt for an event of another room accepted")
	}

	// The fully read marker is room account data.
	if _, err := s.SetFullyRead(ctx, alice, room, eventID("m2")); err != nil {
		t.Fatal(err)
	}
	_, err := s.SetFullyRead(ctx, alice, other.id, eventID("m2"))
	wantErrIs(t, "fully read in another room", err, core.ErrNotFound)
	if c, err := NewAccountDataStore(f.es.db).AccountData(ctx, alice, room, core.AccountDataFullyRead); err != nil || string(c) != `{"event_id":"`+eventID("m2")+`"}` {
		t.Errorf("m.fully_read = %s, %v", c, err)
	}

	end, _ := s.ReceiptPosition(ctx)
	type users map[string]receiptUser
	decode := func(c json.RawMessage) map[string]map[string]users {
		var out map[string]map[string]users
		if err := json.Unmarshal(c, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	got, err := s.ReceiptContents(ctx, alice, []string{room, other.id}, 0, end)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("rooms with receipts = %d, want 1", len(got))
	}
	want := map[string]map[string]users{
		eventID("m3"): {core.ReceiptRead: {bob: {TS: 103}, alice: {TS: 106, ThreadID: eventID("m1")}}},
		eventID("m2"): {core.ReceiptReadPrivate: {alice: {TS: 104}}, core.ReceiptRead: {alice: {TS: 107, ThreadID: core.ThreadMain}}},
	}
	if diff := cmp.Diff(want, decode(got[room])); diff != "" {
		t.Errorf("alice's view (-want +got):\n%s", diff)
	}
	// Bob does not see alice's private receipt.
	got, _ = s.ReceiptContents(ctx, bob, []string{room}, 0, end)
	if _, ok := decode(got[room])[eventID("m2")][core.ReceiptReadPrivate]; ok {
		t.Error("bob sees alice's private receipt")
	}
	// Incremental: alice's private receipt is the only change between the
	// fourth and fifth positions, and bob must not see it.
	got, _ = s.ReceiptContents(ctx, bob, []string{room}, positions[3], positions[4])
	if len(got) != 0 {
		t.Errorf("bob's incremental view: %s", got[room])
	}
	got, _ = s.ReceiptContents(ctx, bob, []string{room}, positions[0], positions[3])
	if diff := cmp.Diff(map[string]map[string]users{eventID("m3"): {core.ReceiptRead: {bob: {TS: 103}}}}, decode(got[room])); diff != "" {
		t.Errorf("incremental (-want +got):\n%s", diff)
	}
}
