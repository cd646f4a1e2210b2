package storage

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

func TestPushers(t *testing.T) {
	ctx := context.Background()
	s := NewPusherStore(mustOpen(t))
	p := core.Pusher{UserID: "@alice:example.org", PushKey: "key1", Kind: "http", AppID: "org.example.app",
		AppDisplayName: "App", DeviceDisplayName: "Phone", Lang: "en", Data: json.RawMessage(`{"url":"https://push.example.org/_matrix/push/v1/notify"}`),
		PushKeyTS: 1000, DeviceID: "DEV"}
	if err := s.SetPusher(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	// The same key for bob, appended: alice keeps hers.
	bob := p
	bob.UserID = "@bob:example.org"
	if err := s.SetPusher(ctx, bob, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Pushers(ctx, p.UserID); len(got) != 1 {
		t.Fatalf("alice's pushers after bob appended = %v", got)
	}
	// Updating alice's pusher.
	p2 := p
	p2.Lang = "fr"
	p2.ProfileTag = "tag"
	if err := s.SetPusher(ctx, p2, true); err != nil {
		t.Fatal(err)
	}
	other := p
	other.PushKey = "key2"
	if err := s.SetPusher(ctx, other, true); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pushers(ctx, p.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]core.Pusher{p2, other}, got); diff != "" {
		t.Errorf("Pushers (-want +got):\n%s", diff)
	}
	// Without append, bob's pusher with the same app and key goes.
	if err := s.SetPusher(ctx, p2, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Pushers(ctx, bob.UserID); len(got) != 0 {
		t.Errorf("bob's pushers = %v, want none", got)
	}
	if err := s.DeletePusher(ctx, p.UserID, p.AppID, "key1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePusher(ctx, p.UserID, p.AppID, "absent"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Pushers(ctx, p.UserID); len(got) != 1 || got[0].PushKey != "key2" {
		t.Errorf("after delete = %v", got)
	}
}
