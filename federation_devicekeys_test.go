package hearth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
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

// eduRecorder keeps the EDUs of one type that a server's federation
// handler receives in /send transactions, in arrival order.
type eduRecorder struct {
	mu   sync.Mutex
	typ  string
	seen []map[string]any
}

func (e *eduRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_matrix/federation/v1/send/") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var txn struct {
				EDUs []struct {
					Type    string         `json:"edu_type"`
					Content map[string]any `json:"content"`
				} `json:"edus"`
			}
			if json.Unmarshal(body, &txn) == nil {
				e.mu.Lock()
				for _, edu := range txn.EDUs {
					if edu.Type == e.typ {
						e.seen = append(e.seen, edu.Content)
					}
				}
				e.mu.Unlock()
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (e *eduRecorder) all() []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.seen)
}

// A new login, a device renamed, a device logged out and the devices
// deleted by /delete_devices each reach a server sharing a room with their
// user as an m.device_list_update: stream_ids grow, each prev_id names the
// update before (the first the stream_id /user/devices gave), removals say
// deleted, and b's owner sees bob's list change in /sync each time.
func TestDeviceChangesReachOtherServers(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	rec := &eduRecorder{typ: "m.device_list_update"}
	a := n.openWrapped(t, "a.test", "alice", rec.wrap)
	b := n.open(t, "b.test", "bob")
	roomID, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "public_chat"})["room_id"].(string)
	b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID)+"?server_name=a.test", b.token, map[string]any{})
	eventually(t, "a to see bob joined", func() bool {
		_, m := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
		return m["membership"] == "join"
	})
	start, err := storage.NewKeyStore(b.hs.db).DeviceListStreamID(context.Background(), b.user)
	if err != nil {
		t.Fatal(err)
	}
	since, _ := a.c.ok("GET", "/_matrix/client/v3/sync?timeout=0", a.token, nil)["next_batch"].(string)
	// updates waits for the n-th update of bob's and returns them all.
	updates := func(n int, what string) []map[string]any {
		t.Helper()
		var got []map[string]any
		eventually(t, what, func() bool {
			got = nil
			for _, u := range rec.all() {
				if u["user_id"] == b.user {
					got = append(got, u)
				}
			}
			return len(got) >= n
		})
		return got
	}
	// changed waits until a's /sync since the last call lists bob.
	changed := func(what string) {
		t.Helper()
		eventually(t, what, func() bool {
			out := a.c.ok("GET", "/_matrix/client/v3/sync?timeout=0&since="+url.QueryEscape(since), a.token, nil)
			dl, _ := out["device_lists"].(map[string]any)
			ch, _ := dl["changed"].([]any)
			if slices.Contains(ch, any(b.user)) {
				since, _ = out["next_batch"].(string)
				return true
			}
			return false
		})
	}

	phone := b.c.login("bob", "bob password")
	phoneID, _ := b.c.ok("GET", "/_matrix/client/v3/account/whoami", phone, nil)["device_id"].(string)
	updates(1, "the new device's update")
	changed("bob's new device in alice's /sync")
	b.c.ok("PUT", "/_matrix/client/v3/devices/"+url.PathEscape(phoneID), phone, map[string]any{"display_name": "bob's phone"})
	updates(2, "the rename's update")
	changed("bob's renamed device in alice's /sync")
	b.c.ok("POST", "/_matrix/client/v3/logout", phone, map[string]any{})
	updates(3, "the logout's update")
	changed("bob's logged-out device in alice's /sync")
	tablet := b.c.login("bob", "bob password")
	tabletID, _ := b.c.ok("GET", "/_matrix/client/v3/account/whoami", tablet, nil)["device_id"].(string)
	updates(4, "the second device's update")
	body := map[string]any{"devices": []string{tabletID}, "auth": map[string]any{"type": "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": b.user}, "password": "bob password"}}
	b.c.ok("POST", "/_matrix/client/v3/delete_devices", b.token, body)
	got := updates(5, "the deletion's update")

	want := []struct {
		device  string
		deleted bool
		name    string
	}{{phoneID, false, ""}, {phoneID, false, "bob's phone"}, {phoneID, true, ""}, {tabletID, false, ""}, {tabletID, true, ""}}
	if len(got) != len(want) {
		t.Fatalf("bob's updates = %v, want %d", got, len(want))
	}
	prev := float64(start)
	for i, w := range want {
		u := got[i]
		deleted, _ := u["deleted"].(bool)
		name, _ := u["device_display_name"].(string)
		id, _ := u["stream_id"].(float64)
		prevIDs, _ := u["prev_id"].([]any)
		if u["device_id"] != w.device || deleted != w.deleted || name != w.name {
			t.Errorf("update %d = %v, want device %s deleted=%v name %q", i, u, w.device, w.deleted, w.name)
		}
		if id <= prev || len(prevIDs) != 1 || prevIDs[0] != prev {
			t.Errorf("update %d: stream_id %v prev_id %v, want a stream_id past %v and prev_id [%v]", i, u["stream_id"], u["prev_id"], prev, prev)
		}
		prev = id
	}
}
