package hearth

import (
	"context"
	"net/url"
	"testing"

	"hearth.dev/hearth/storage"
)

// uploadDeviceKeys uploads device keys for the device of token (whoami's
// device_id) and returns the device ID.
func (s *fedServer) uploadDeviceKeys(token string) string {
	s.c.t.Helper()
	device, _ := s.c.ok("GET", "/_matrix/client/v3/account/whoami", token, nil)["device_id"].(string)
	s.c.ok("POST", "/_matrix/client/v3/keys/upload", token, map[string]any{"device_keys": map[string]any{
		"user_id": s.user, "device_id": device, "algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
		"keys":       map[string]string{"curve25519:" + device: "curve " + device, "ed25519:" + device: "ed " + device},
		"signatures": map[string]any{s.user: map[string]string{"ed25519:" + device: "sig"}},
	}})
	return device
}

// queryDevices returns the device IDs of user that s's /keys/query gives,
// and the servers it lists as failing.
func (s *fedServer) queryDevices(user string) (devices []string, failures map[string]any) {
	s.c.t.Helper()
	out := s.c.ok("POST", "/_matrix/client/v3/keys/query", s.token, map[string]any{"device_keys": map[string]any{user: []string{}}})
	dk, _ := out["device_keys"].(map[string]any)
	mine, _ := dk[user].(map[string]any)
	for d := range mine {
		devices = append(devices, d)
	}
	failures, _ = out["failures"].(map[string]any)
	return devices, failures
}

// A remote user's keys are kept after a query while they share a room
// with a local user, so /keys/query answers even while their server is
// away; an m.device_list_update from their server (a new device) drops
// them, and the next query goes out and sees the new device.
func TestRemoteDeviceKeysCached(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")
	first := b.uploadDeviceKeys(b.token)
	cache := storage.NewRemoteDeviceKeysStore(a.hs.db)
	cached := func() bool {
		_, ok, err := cache.CachedRemoteKeys(context.Background(), b.user)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// No room shared yet: the answer is not kept (no update would reach a).
	if got, _ := a.queryDevices(b.user); len(got) != 1 || got[0] != first {
		t.Fatalf("bob's devices = %v, want [%s]", got, first)
	}
	if cached() {
		t.Fatal("keys of a user sharing no room were cached")
	}

	roomID, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "public_chat"})["room_id"].(string)
	b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID)+"?server_name=a.test", b.token, map[string]any{})
	eventually(t, "a to see bob joined", func() bool {
		_, m := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
		return m["membership"] == "join"
	})
	a.queryDevices(b.user)
	if !cached() {
		t.Fatal("bob's keys were not cached once he shares a room")
	}
	n.setDown("b.test", true)
	if got, failures := a.queryDevices(b.user); len(got) != 1 || got[0] != first || len(failures) != 0 {
		t.Fatalf("with b away: devices %v, failures %v; want the cached device", got, failures)
	}
	n.setDown("b.test", false)

	// A second device: b sends a an m.device_list_update.
	second := b.uploadDeviceKeys(b.c.login("bob", "bob password"))
	eventually(t, "the update to drop bob's cached keys", func() bool { return !cached() })
	if got, _ := a.queryDevices(b.user); len(got) != 2 {
		t.Fatalf("bob's devices after the update = %v, want %s and %s", got, first, second)
	}
	if !cached() {
		t.Fatal("bob's keys were not cached again")
	}
}
