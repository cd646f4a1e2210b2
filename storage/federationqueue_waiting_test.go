package storage

import (
	"context"
	"testing"

	"hearth.dev/hearth/core"
)

// TestQueueWaiting: the one read the sender makes on every wake-up says
// which queueing step has work — new local events, a local device change,
// a local user's presence change — and nothing once each step has run; a
// remote user's presence is no work.
func TestQueueWaiting(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	q := NewFederationQueueStore(s.db)
	accounts := NewAccountStore(s.db, AccountOptions{Password: testPasswordParams})
	presence := NewPresenceStore(s.db)
	if _, err := accounts.CreateAccount(ctx, core.NewAccount{UserID: alice, Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	want := func(what string, w core.QueueWaiting) {
		t.Helper()
		got, err := q.QueueWaiting(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got != w {
			t.Fatalf("%s: QueueWaiting = %+v, want %+v", what, got, w)
		}
	}
	drain := func() {
		t.Helper()
		for _, step := range []func(context.Context, int) ([]string, bool, error){
			q.QueueNewEvents, q.QueueDeviceListUpdates, q.QueuePresenceUpdates} {
			if _, _, err := step(ctx, 100); err != nil {
				t.Fatal(err)
			}
		}
	}
	drain()
	want("nothing recorded", core.QueueWaiting{})

	r, last := sharedRoom(t, s, "waiting")
	want("memberships stored", core.QueueWaiting{Events: true})
	drain()
	want("memberships queued", core.QueueWaiting{})

	r.persist(core.PersistOptions{}, r.msg("hello", 10, last))
	want("a message stored", core.QueueWaiting{Events: true})
	drain()

	if _, err := accounts.IssueTokens(ctx, core.NewLogin{UserID: alice, DeviceDisplayName: "phone"}); err != nil {
		t.Fatal(err)
	}
	want("a device logged in", core.QueueWaiting{DeviceLists: true})
	drain()

	if err := presence.SetPresence(ctx, bobA, core.PresenceOnline, nil); err != nil {
		t.Fatal(err)
	}
	want("a remote user's presence", core.QueueWaiting{})
	if err := presence.SetPresence(ctx, alice, core.PresenceOnline, nil); err != nil {
		t.Fatal(err)
	}
	want("alice's presence", core.QueueWaiting{Presence: true})
	drain()
	want("everything queued", core.QueueWaiting{})
}
