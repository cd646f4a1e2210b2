package storage

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/push"
)

// newNotifier returns the push service with the rules of db; the tests
// hand it each event's room, so it reads no state.
func newNotifier(t *testing.T, db *DB) *push.Service {
	t.Helper()
	svc, err := push.NewService(push.Config{ServerName: "example.org", Rules: NewPushRuleStore(db),
		State: func(context.Context, string, []string) (string, []push.StateEvent, error) {
			return "", nil, errors.New("no room state in this test")
		}})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// notifiedPushRoom is newPushRoomFixture whose events carry the
// notifications the push rules of pr's recipients find, as the push hook
// hands them to storage, which records them in the events' write. Only
// m1 to m3 (bob's) are stored; m4 (alice's, which marks what precedes it
// read for her) is left for the test to store, from f.events.
func notifiedPushRoom(t *testing.T, pr push.RoomContext) (*pushRoomFixture, map[string][]push.Notification) {
	t.Helper()
	ctx := context.Background()
	f, _ := buildPushRoomFixture(t)
	svc := newNotifier(t, f.es.db)
	found := map[string][]push.Notification{}
	for _, name := range []string{"m1", "m2", "m3", "m4"} {
		ev := f.events[name]
		pr := pr
		if ev.Sender == alice {
			// alice's own message; her sending it is tested below.
			pr.Recipients = map[string]string{bob: "Bob"}
		}
		notes, err := svc.Notify(ctx, f.room.id, f.json(name), pr)
		if err != nil {
			t.Fatalf("Notify(%s): %v", name, err)
		}
		ev.Notifications = notes
		f.events[name] = ev
		found[name] = notes
	}
	f.room.persist(core.PersistOptions{}, f.events["m1"], f.events["m2"], f.events["m3"])
	return f, found
}

func TestNotificationCounts(t *testing.T) {
	ctx := context.Background()
	f, found, s, receipts := notifiedAliceBob(t)
	room := f.room.id

	wantNotify := map[string][]string{"m1": {alice}, "m2": {alice}, "m3": {alice}, "m4": {bob}}
	for _, name := range []string{"m1", "m2", "m3", "m4"} {
		got := found[name]
		var users []string
		for _, n := range got {
			users = append(users, n.UserID)
			if n.EventID != eventID(name) || n.RoomID != room {
				t.Errorf("%s: notification for %s in %s", name, n.EventID, n.RoomID)
			}
		}
		if diff := cmp.Diff(wantNotify[name], users); diff != "" {
			t.Errorf("%s notifies (-want +got):\n%s", name, diff)
		}
		if name == "m2" && (len(got) != 1 || !got[0].Actions.Highlight) {
			t.Errorf("m2 notification = %+v, want a highlight", got)
		}
	}
	// Storing an event again records nothing more.
	f.room.persist(core.PersistOptions{}, f.events["m1"])

	type counts struct {
		all    core.UnreadCounts
		thread map[string]core.UnreadCounts
	}
	check := func(step string, want counts) {
		t.Helper()
		all, th, err := s.RoomUnread(ctx, alice, room)
		if err != nil {
			t.Fatal(err)
		}
		if total, err := s.UnreadTotal(ctx, alice); err != nil || total != all.Notifications {
			t.Errorf("%s: UnreadTotal = %d, %v; want %d", step, total, err, all.Notifications)
		}
		if diff := cmp.Diff(want, counts{all, th}, cmp.AllowUnexported(counts{})); diff != "" {
			t.Errorf("%s: counts (-want +got):\n%s", step, diff)
		}
	}
	thread := eventID("m1")
	check("before receipts", counts{core.UnreadCounts{Notifications: 3, Highlights: 1},
		map[string]core.UnreadCounts{"main": {Notifications: 2, Highlights: 1}, thread: {Notifications: 1}}})
	receipt := func(typ, event, th string) {
		t.Helper()
		if _, err := receipts.SetReceipt(ctx, core.Receipt{RoomID: room, UserID: alice, Type: typ, EventID: eventID(event), ThreadID: th}); err != nil {
			t.Fatal(err)
		}
	}
	receipt(core.ReceiptRead, "m1", core.ThreadMain)
	check("main read to m1", counts{core.UnreadCounts{Notifications: 2, Highlights: 1},
		map[string]core.UnreadCounts{"main": {Notifications: 1, Highlights: 1}, thread: {Notifications: 1}}})
	receipt(core.ReceiptReadPrivate, "m2", "")
	check("private read to m2", counts{core.UnreadCounts{Notifications: 1},
		map[string]core.UnreadCounts{thread: {Notifications: 1}}})
	receipt(core.ReceiptRead, "m1", "") // behind the private receipt: no rewind
	check("public read to m1", counts{core.UnreadCounts{Notifications: 1},
		map[string]core.UnreadCounts{thread: {Notifications: 1}}})
	receipt(core.ReceiptRead, "m3", thread)
	check("thread read", counts{core.UnreadCounts{}, map[string]core.UnreadCounts{}})

	// alice's own message notifies bob; alice has read everything before
	// it already.
	f.room.persist(core.PersistOptions{}, f.events["m4"])
	check("alice's message", counts{core.UnreadCounts{}, map[string]core.UnreadCounts{}})
	if all, _, err := s.RoomUnread(ctx, bob, room); err != nil || all.Notifications != 1 {
		t.Errorf("bob's counts = %+v, %v; want 1", all, err)
	}
	if all, _, err := s.RoomUnread(ctx, alice, "!unknown:example.org"); err != nil || all != (core.UnreadCounts{}) {
		t.Errorf("unknown room counts = %+v, %v", all, err)
	}

	// GET /notifications: newest first, read flags, pages, highlights.
	list, next, err := s.Notifications(ctx, alice, 0, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].EventID != eventID("m3") || list[1].EventID != eventID("m2") || next == 0 {
		t.Fatalf("first page = %+v, next %d", list, next)
	}
	if !list[0].Read || !list[1].Read || list[1].RoomID != room || string(list[1].Actions[0]) != `"notify"` {
		t.Errorf("first page = %+v", list)
	}
	list, next, err = s.Notifications(ctx, alice, next, 2, "")
	if err != nil || len(list) != 1 || list[0].EventID != eventID("m1") || next != 0 {
		t.Errorf("second page = %+v, next %d, %v", list, next, err)
	}
	list, _, _ = s.Notifications(ctx, alice, 0, 10, "highlight")
	if len(list) != 1 || list[0].EventID != eventID("m2") {
		t.Errorf("highlights = %+v", list)
	}
	list, _, _ = s.Notifications(ctx, bob, 0, 10, "")
	if len(list) != 1 || list[0].Read {
		t.Errorf("bob's notifications = %+v", list)
	}
}

// TestSendingMarksRead checks that storing a user's own event marks their
// notifications before it as read, in its thread only, without a receipt
// others (or the receipt stream) see.
func TestSendingMarksRead(t *testing.T) {
	ctx := context.Background()
	f, _, s, receipts := notifiedAliceBob(t)
	room := f.room.id
	all, th, err := s.RoomUnread(ctx, alice, room)
	if err != nil || all.Notifications != 3 {
		t.Fatalf("before alice's message: %+v %v, %v; want 3 unread", all, th, err)
	}
	before, _ := receipts.ReceiptPosition(ctx)
	f.room.persist(core.PersistOptions{}, f.events["m4"])
	all, th, err = s.RoomUnread(ctx, alice, room)
	want := map[string]core.UnreadCounts{eventID("m1"): {Notifications: 1}}
	if err != nil || all.Notifications != 1 || !cmp.Equal(th, want) {
		t.Errorf("after alice's message: %+v %v, %v; want only the thread's one left", all, th, err)
	}
	after, _ := receipts.ReceiptPosition(ctx)
	got, _ := receipts.ReceiptContents(ctx, alice, []string{room}, 0, after)
	if after != before || len(got) != 0 {
		t.Errorf("the implicit read position is visible: position %d -> %d, receipts %s", before, after, got[room])
	}
}
