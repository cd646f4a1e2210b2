package hearth

import (
	"context"
	"net/url"
	"testing"
	"time"

	"hearth.dev/hearth/storage"
)

// A remote user's m.device_list_update that follows the last one seen
// (its prev_id names that stream_id) is applied to the cached keys in
// place: a new device's keys are added, a deleted device goes, and the
// keys stay cached. An update after a gap drops them, so the next query
// resyncs.
func TestRemoteDeviceUpdateInPlace(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")
	first := b.uploadDeviceKeys(b.token)
	cache := storage.NewRemoteDeviceKeysStore(a.hs.db)
	devices := func() map[string]bool {
		k, ok, err := cache.CachedRemoteKeys(context.Background(), b.user)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return nil
		}
		out := map[string]bool{}
		for d := range k.DeviceKeys {
			out[d] = true
		}
		return out
	}
	roomID, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "public_chat"})["room_id"].(string)
	b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID)+"?server_name=a.test", b.token, map[string]any{})
	eventually(t, "a to see bob joined", func() bool {
		_, m := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
		return m["membership"] == "join"
	})

	// The first update a sees follows none it knows: the keys are dropped
	// and the next query fetches them.
	a.queryDevices(b.user)
	if got := devices(); len(got) != 1 || !got[first] {
		t.Fatalf("cached devices %v, want %s", got, first)
	}
	secondToken := b.c.login("bob", "bob password")
	second := b.uploadDeviceKeys(secondToken)
	eventually(t, "the first update to drop bob's cached keys", func() bool { return devices() == nil })
	a.queryDevices(b.user)
	if got := devices(); len(got) != 2 || !got[second] {
		t.Fatalf("cached devices after the query %v, want %s and %s", got, first, second)
	}

	// Updates that follow: applied in place, the keys stay cached.
	thirdToken := b.c.login("bob", "bob password")
	third := b.uploadDeviceKeys(thirdToken)
	eventually(t, "bob's third device in the cached keys", func() bool { return devices()[third] })
	if got := devices(); len(got) != 3 {
		t.Errorf("cached devices after the third %v", got)
	}
	b.c.ok("POST", "/_matrix/client/v3/logout", secondToken, map[string]any{})
	eventually(t, "bob's second device gone from the cached keys", func() bool { d := devices(); return d != nil && !d[second] })
	n.setDown("b.test", true)
	if got, failures := a.queryDevices(b.user); len(got) != 2 || len(failures) != 0 {
		t.Errorf("with b away: devices %v, failures %v; want the cached two", got, failures)
	}
	n.setDown("b.test", false)

	// An update after a gap (its prev_id names a stream_id a never saw).
	txn := map[string]any{"origin": "b.test", "origin_server_ts": time.Now().UnixMilli(), "pdus": []any{},
		"edus": []any{map[string]any{"edu_type": "m.device_list_update", "content": map[string]any{
			"user_id": b.user, "device_id": "LATER", "stream_id": 1000, "prev_id": []int{999}, "deleted": true}}}}
	if err := b.hs.FederationClient.Request(context.Background(), "a.test", "PUT", "/_matrix/federation/v1/send/gap1", txn, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the update after a gap to drop bob's cached keys", func() bool { return devices() == nil })
	if got, _ := a.queryDevices(b.user); len(got) != 2 {
		t.Errorf("bob's devices after the resync %v, want 2", got)
	}
}
