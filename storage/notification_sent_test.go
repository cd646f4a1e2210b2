package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/push"
)

// TestSentReadsForgetNotifications: a user's sends that find nothing
// unread are remembered, so the next send skips the look; a notification
// for the user makes the next send look again and mark it read, as it
// would without the memory; a purge forgets too.
func TestSentReadsForgetNotifications(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	ns := NewNotificationStore(s.db)
	r := newTestRoom(t, s, "sent")
	const bob = "@bob:" + testServer
	raw := []json.RawMessage{json.RawMessage(`"notify"`)}
	depth := int64(0)
	prev := []string{}
	send := func(name, sender string, notifyAlice bool) {
		t.Helper()
		depth++
		ev := r.msg(name, depth, prev...)
		ev.Sender = sender
		if notifyAlice {
			ev.Notifications = []push.Notification{{UserID: "@alice:" + testServer, RoomID: r.id, EventID: ev.EventID,
				Thread: "main", Actions: push.Actions{Notify: true, Raw: raw}}}
		}
		r.persist(core.PersistOptions{}, ev)
		prev = []string{name}
	}
	unread := func(step string, want int64) {
		t.Helper()
		all, _, err := ns.RoomUnread(ctx, "@alice:"+testServer, r.id)
		if err != nil {
			t.Fatal(err)
		}
		if all.Notifications != want {
			t.Errorf("%s: alice has %d unread, want %d", step, all.Notifications, want)
		}
	}
	key := sentKey{user: "@alice:" + testServer, room: 0, thread: "main"}
	if err := s.db.Reader().QueryRowContext(ctx, "SELECT room_nid FROM rooms WHERE room_id = ?", r.id).Scan(&key.room); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		send(fmt.Sprint("a", round), "@alice:"+testServer, false)
		if !s.db.sentReads.known(key) {
			t.Fatalf("round %d: alice's send with nothing unread is not remembered", round)
		}
		send(fmt.Sprint("b", round), bob, true)
		if s.db.sentReads.known(key) {
			t.Fatalf("round %d: a notification for alice left her read position remembered", round)
		}
		unread(fmt.Sprint("round ", round, " after bob's message"), 1)
		send(fmt.Sprint("c", round), "@alice:"+testServer, false)
		unread(fmt.Sprint("round ", round, " after alice's reply"), 0)
	}
	if _, err := NewAdminRoomStore(s.db, testServer).PurgeRoom(ctx, r.id); err != nil {
		t.Fatal(err)
	}
	if s.db.sentReads.known(key) {
		t.Error("a purge left alice's read position remembered")
	}
}
