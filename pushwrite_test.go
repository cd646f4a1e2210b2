package hearth

import (
	"context"
	"testing"
)

// TestNotificationsInTheEventsWrite: a message that notifies another local
// member is stored with the notification in its own write, so no crash
// can leave the event without it. Through Open on real files: a send that
// notifies costs the writer no more writes than one that does not, the
// notification row is there as soon as the send is answered, and it is
// on disk when the homeserver opens again.
func TestNotificationsInTheEventsWrite(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	hs, c := serveHomeserver(t, cfg)
	alice := moduleUser(t, hs, "alice", false)
	bob := moduleUser(t, hs, "bob", false)
	aliceID := "@alice:" + hs.ServerName
	shared, alone := c.publicRoom(bob, alice), c.publicRoom(bob)
	send := func(room, txn string) string {
		t.Helper()
		return c.ok("PUT", sendPath(room, txn), bob, map[string]any{"msgtype": "m.text", "body": txn})["event_id"].(string)
	}
	notified := func(eventID string) int {
		t.Helper()
		var n int
		err := hs.services.DB.Reader().QueryRowContext(ctx, `SELECT count(*) FROM event_push_actions a
			JOIN events e ON e.event_nid = a.event_nid WHERE e.event_id = ? AND a.user_id = ?`, eventID, aliceID).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The first sends of each room read what later ones find cached.
	send(alone, "warm-1")
	send(shared, "warm-2")
	// The writes the writer has run: ByWrite is counted before a write's
	// caller is told; WriterStats.Writes only after, so a send's own write
	// could fall into the next window.
	run := func() uint64 {
		var n uint64
		for _, w := range hs.services.DB.WriterStats().ByWrite {
			n += w.Count
		}
		return n
	}
	writes := func(room, txn string) (uint64, string) {
		before := run()
		id := send(room, txn)
		return run() - before, id
	}
	// Background work (the search index's batch, a checkpoint's finish)
	// may land inside either window; it only adds. The fewest writes over
	// several sends of each kind is what the send itself costs.
	fewestQuiet, fewestLoud := uint64(1<<63), uint64(1<<63)
	for i := range 6 {
		quiet, _ := writes(alone, "alone-"+string(rune('a'+i)))
		loud, id := writes(shared, "shared-"+string(rune('a'+i)))
		fewestQuiet, fewestLoud = min(fewestQuiet, quiet), min(fewestLoud, loud)
		if n := notified(id); n != 1 {
			t.Errorf("send %d: alice has %d notifications of %s once it is answered, want 1", i, n, id)
		}
	}
	if fewestLoud != fewestQuiet {
		t.Errorf("a message that notifies took at least %d writes, one that does not %d", fewestLoud, fewestQuiet)
	}
	last := send(shared, "last")
	if err := hs.Close(); err != nil {
		t.Fatal(err)
	}

	hs, c = serveHomeserver(t, cfg)
	defer hs.Close()
	if n := notified(last); n != 1 {
		t.Errorf("after reopening: alice has %d notifications of %s, want 1", n, last)
	}
	list := c.ok("GET", "/_matrix/client/v3/notifications?limit=1", alice, nil)["notifications"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["event"].(map[string]any)["event_id"] != last {
		t.Errorf("GET /notifications after reopening = %v, want %s first", list, last)
	}
}
