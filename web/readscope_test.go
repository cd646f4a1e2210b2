package web

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// TestSyncWaitHoldsNoReadTransaction checks that a long-polling /sync,
// whose passes read in a read scope, holds no read transaction while it
// waits (the WAL's checkpoints would stop at its snapshot), and that the
// pass a change wakes reads that change.
func TestSyncWaitHoldsNoReadTransaction(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	first, _ := e.sync(alice)
	waiting := waitForSync(t)
	done := make(chan response, 1)
	go func() {
		done <- e.do("GET", cs+"/sync?timeout=600000&since="+url.QueryEscape(first.NextBatch), alice, nil)
	}()
	select {
	case <-waiting:
	case <-done:
		t.Fatal("the sync returned without waiting")
	}
	db := e.g.DB
	if n := db.ReadScopeTransactions(); n != 0 {
		t.Errorf("read transactions held by scopes while a /sync waits = %d, want 0", n)
	}
	msg := e.send(alice, roomID, "t1", "wake up")
	r := <-done
	if r.Status != http.StatusOK {
		t.Fatalf("woken sync: %d %s", r.Status, r.Body)
	}
	var resp syncResponse
	r.JSON(t, &resp)
	if got := timelineIDs(resp.Rooms.Join[roomID].Timeline.Events); !slices.Equal(got, []string{msg}) {
		t.Errorf("woken sync timeline = %v, want [%s]", got, msg)
	}
	if n := db.ReadScopeTransactions(); n != 0 {
		t.Errorf("read transactions held by scopes after the request = %d, want 0", n)
	}
}
