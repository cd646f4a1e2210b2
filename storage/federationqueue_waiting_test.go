package storage

import (
	"context"
	"testing"

	"hearth.dev/hearth/core"
)

// TestQueueWaiting: the one read the sender makes on every wake-up says
// which queueing step has work — new local events, a local device change,
// a local user's presence change — and nothing once each step has run; a
// remote user's presence is no work. The steps, which no longer check for
// work first, queue nothing when called without any.
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
	steps := []func(context.Context, int) ([]string, bool, error){
		q.QueueNewEvents, q.QueueDeviceListUpdates, q.QueuePresenceUpdates}
	drain := func() {
		t.Helper()
		for _, step := range steps {
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
	// The steps make no check of their own: one called without work
	// queues nothing, and what comes after is still seen.
	for i, step := range steps {
		if dests, more, err := step(ctx, 100); err != nil || len(dests) != 0 || more {
			t.Fatalf("step %d without work = %v, %v, %v; want nothing queued", i, dests, more, err)
		}
	}
	want("the steps run without work", core.QueueWaiting{})
	if err := presence.SetPresence(ctx, alice, core.PresenceOnline, nil); err != nil {
		t.Fatal(err)
	}
	want("alice's presence", core.QueueWaiting{Presence: true})
	drain()
	want("everything queued", core.QueueWaiting{})
}
