package storage

import (
	"context"
	"encoding/json"
	"testing"

	"hearth.dev/hearth/core"
)

// TestPresenceUpdatesForOtherServers: a local user's presence change goes
// to each server with a member joined to a room she is in as an m.presence
// EDU of the spec's shape; changes made while one waits replace it (the
// destination gets the newest only); a remote user's presence, stored from
// its own server's EDU, is not sent anywhere.
func TestPresenceUpdatesForOtherServers(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	q := NewFederationQueueStore(s.db)
	presence := NewPresenceStore(s.db)
	sharedRoom(t, s, "presence")
	queue := func() {
		t.Helper()
		if _, _, err := q.QueuePresenceUpdates(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	pushes := func(dest string) []presencePush {
		t.Helper()
		b, err := q.NextBatch(ctx, dest, 50, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []presencePush
		for _, e := range b.EDUs {
			if e.Type != "m.presence" {
				continue
			}
			var c struct {
				Push []presencePush `json:"push"`
			}
			if err := json.Unmarshal(e.Content, &c); err != nil {
				t.Fatalf("EDU %s: %v", e.Content, err)
			}
			out = append(out, c.Push...)
		}
		return out
	}
	busy := "busy"
	if err := presence.SetPresence(ctx, alice, core.PresenceOnline, &busy); err != nil {
		t.Fatal(err)
	}
	if err := presence.SetPresence(ctx, bobA, core.PresenceOnline, nil); err != nil {
		t.Fatal(err)
	}
	queue()
	for _, d := range []string{"a.test", "b.test"} {
		got := pushes(d)
		if len(got) != 1 || got[0].UserID != alice || got[0].Presence != core.PresenceOnline || got[0].StatusMsg == nil ||
			*got[0].StatusMsg != busy || got[0].CurrentlyActive == nil || !*got[0].CurrentlyActive || got[0].LastActiveAgo < 0 {
			t.Fatalf("%s got %+v, want alice online and busy", d, got)
		}
	}
	if got := pushes("c.test"); len(got) != 0 {
		t.Fatalf("c.test, whose user left, got %+v", got)
	}
	// Two more changes before a.test took the first: it gets the last.
	if err := presence.SetPresence(ctx, alice, core.PresenceUnavailable, nil); err != nil {
		t.Fatal(err)
	}
	queue()
	if err := presence.SetPresence(ctx, alice, core.PresenceOffline, nil); err != nil {
		t.Fatal(err)
	}
	queue()
	got := pushes("a.test")
	if len(got) != 1 || got[0].Presence != core.PresenceOffline || got[0].StatusMsg != nil || got[0].CurrentlyActive != nil {
		t.Fatalf("a.test got %+v, want alice offline only", got)
	}
	if dests, more, err := q.QueuePresenceUpdates(ctx, 10); err != nil || len(dests) != 0 || more {
		t.Fatalf("QueuePresenceUpdates again = %v, %v, %v", dests, more, err)
	}
}
