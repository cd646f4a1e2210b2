package storage

import (
	"context"
	"maps"
	"slices"
	"testing"

	"hearth.dev/hearth/core"
)

// TestPruneReadPushActions checks that pruning deletes only read
// notifications older than the cutoff, never highlights or unread ones,
// in batches of the limit, and leaves the unread counts as they were.
func TestPruneReadPushActions(t *testing.T) {
	ctx := context.Background()
	f, _, s, receipts := notifiedAliceBob(t)
	room := f.room.id
	thread := eventID("m1")
	var oldest, newest int64
	if err := f.es.db.Reader().QueryRowContext(ctx, "SELECT min(ts), max(ts) FROM event_push_actions").Scan(&oldest, &newest); err != nil {
		t.Fatal(err)
	}
	after := newest + 1 // every notification is older than this

	listed := func() []string {
		t.Helper()
		list, _, err := s.Notifications(ctx, alice, 0, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range list {
			out = append(out, names([]string{n.EventID}, "m1", "m2", "m3")[0])
		}
		slices.Sort(out)
		return out
	}
	prune := func(step string, before int64, limit int, want int64) {
		t.Helper()
		all, th, err := s.RoomUnread(ctx, alice, room)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.PruneReadPushActions(ctx, before, limit)
		if err != nil || n != want {
			t.Fatalf("%s: PruneReadPushActions = %d, %v; want %d", step, n, err, want)
		}
		all2, th2, err := s.RoomUnread(ctx, alice, room)
		if err != nil || all2 != all || !maps.Equal(th, th2) {
			t.Errorf("%s: counts %+v %v became %+v %v, %v", step, all, th, all2, th2, err)
		}
	}
	receipt := func(typ, event, th string) {
		t.Helper()
		if _, err := receipts.SetReceipt(ctx, core.Receipt{RoomID: room, UserID: alice, Type: typ, EventID: eventID(event), ThreadID: th}); err != nil {
			t.Fatal(err)
		}
	}

	prune("nothing read", after, 100, 0)
	receipt(core.ReceiptRead, "m1", core.ThreadMain)
	prune("m1 read, but not old enough", oldest, 100, 0)
	receipt(core.ReceiptReadPrivate, "m2", "") // m2 is a highlight: kept
	receipt(core.ReceiptRead, "m3", thread)
	if got := listed(); !slices.Equal(got, []string{"m1", "m2", "m3"}) {
		t.Fatalf("before pruning, notifications %v", got)
	}
	prune("first batch", after, 1, 1)
	prune("second batch", after, 1, 1)
	prune("none left", after, 1, 0)
	if got := listed(); !slices.Equal(got, []string{"m2"}) {
		t.Errorf("after pruning, notifications %v; want the highlight m2", got)
	}

	// bob's notification of alice's message is unread: kept.
	f.room.persist(core.PersistOptions{}, f.events["m4"])
	if n, err := s.PruneReadPushActions(ctx, after+1_000_000, 100); err != nil || n != 0 {
		t.Errorf("with bob's unread notification: pruned %d, %v", n, err)
	}
	if all, _, err := s.RoomUnread(ctx, bob, room); err != nil || all.Notifications != 1 {
		t.Errorf("bob's counts = %+v, %v; want 1", all, err)
	}
}
