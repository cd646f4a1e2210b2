package hearth

import (
	"context"
	"net/url"
	"testing"
	"time"

	"hearth.dev/hearth/storage"
)

// TestPruneReadNotifications: through Open and real HTTP, bob's messages
// notify alice; a run of the pruning deletes none of them while they are
// unread, and all of them once alice's read receipt covers them and they
// are past the retention, after which /notifications lists none and her
// unread count is still zero.
func TestPruneReadNotifications(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	hs, c := serveHomeserver(t, cfg)
	t.Cleanup(func() { hs.Close() })
	alice := moduleUser(t, hs, "alice", false)
	bob := moduleUser(t, hs, "bob", false)
	room := c.publicRoom(bob, alice)
	var last string
	for _, txn := range []string{"m1", "m2", "m3"} {
		last = c.ok("PUT", sendPath(room, txn), bob, map[string]any{"msgtype": "m.text", "body": txn})["event_id"].(string)
	}
	listed := func() int {
		t.Helper()
		return len(c.ok("GET", "/_matrix/client/v3/notifications", alice, nil)["notifications"].([]any))
	}
	if n := listed(); n != 3 {
		t.Fatalf("alice has %d notifications, want 3", n)
	}
	notes := storage.NewNotificationStore(hs.db)
	later := time.Now().Add(storage.ReadPushActionRetention + time.Hour)
	if n, err := prunePushActions(ctx, notes, later); err != nil || n != 0 {
		t.Fatalf("pruning unread notifications deleted %d, %v; want none", n, err)
	}
	c.ok("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/receipt/m.read/"+url.PathEscape(last), alice, map[string]any{})
	if n, err := prunePushActions(ctx, notes, time.Now()); err != nil || n != 0 {
		t.Fatalf("pruning read notifications within the retention deleted %d, %v; want none", n, err)
	}
	if n, err := prunePushActions(ctx, notes, later); err != nil || n != 3 {
		t.Fatalf("pruning read notifications past the retention deleted %d, %v; want 3", n, err)
	}
	if n := listed(); n != 0 {
		t.Errorf("after pruning alice has %d notifications, want none", n)
	}
	if all, _, err := notes.RoomUnread(ctx, "@alice:"+hs.ServerName, room); err != nil || all.Notifications != 0 {
		t.Errorf("alice's unread count after pruning = %+v, %v", all, err)
	}
}
