package main

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
)

// TestWarmUpSends runs the send path's warm-up beside a running homeserver
// in the same instance, with requests to that homeserver while it runs:
// they are answered as without it, and neither the homeserver's database
// nor the memory storage keeps anything of the warm-up.
func TestWarmUpSends(t *testing.T) {
	ctx := context.Background()
	h := newTestHost(t)
	if _, err := h.start(ctx, startOptions{Storage: backendMemory.Name, ServerName: "tab.test",
		HasOwner: true, OwnerName: "me", OwnerPassword: "pw"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { backendMemory.removeDatabase(h.dbPath()) })
	token := login(t, h, "me", "pw")
	status, res := do(t, h, "POST", "/_matrix/client/v3/createRoom", token, map[string]any{"name": "mine"})
	roomID, _ := res["room_id"].(string)
	if status != 200 || roomID == "" {
		t.Fatalf("createRoom: %d %v", status, res)
	}

	type result struct {
		sends int
		err   error
	}
	done := make(chan result, 1)
	go func() {
		n, _, err := warmUp(ctx, 12, nil, nil)
		done <- result{n, err}
	}()
	var want []string
	var r result
	for i := 0; ; i++ {
		body := fmt.Sprintf("mine %d", i)
		status, res := do(t, h, "PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/m%d", url.PathEscape(roomID), i),
			token, map[string]any{"msgtype": "m.text", "body": body})
		if status != 200 || res["event_id"] == nil {
			t.Fatalf("send %d during the warm-up: %d %v", i, status, res)
		}
		want = append(want, body)
		select {
		case r = <-done:
		default:
			continue
		}
		break
	}
	if r.err != nil || r.sends != 12 {
		t.Fatalf("warm-up: %d sends, %v; want 12, no error", r.sends, r.err)
	}
	if exists, err := backendMemory.exists("/warm-up/hearth.db"); err != nil || exists {
		t.Fatalf("the warm-up's database is still there (%v, %v)", exists, err)
	}

	status, res = do(t, h, "GET", fmt.Sprintf("/_matrix/client/v3/rooms/%s/messages?dir=f&limit=1000", url.PathEscape(roomID)), token, nil)
	if status != 200 {
		t.Fatalf("/messages: %d %v", status, res)
	}
	var got []string
	for _, e := range res["chunk"].([]any) {
		ev := e.(map[string]any)
		if ev["type"] == "m.room.message" {
			got = append(got, ev["content"].(map[string]any)["body"].(string))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages: got %q, want %q", got, want)
	}
	status, res = do(t, h, "GET", "/_matrix/client/v3/joined_rooms", token, nil)
	if rooms, _ := res["joined_rooms"].([]any); status != 200 || len(rooms) != 1 || rooms[0] != roomID {
		t.Fatalf("joined_rooms: %d %v; want only %s", status, res, roomID)
	}
	// The warm-up's account is not in this homeserver.
	status, res = do(t, h, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": "warm"}, "password": warmUpPassword})
	if status != 403 {
		t.Fatalf("login as the warm-up's owner: %d %v; want 403", status, res)
	}
}

// TestWarmUpGivesWay checks that the warm-up makes no request of its own
// while the tab's homeserver is busy, and goes on once it is not.
func TestWarmUpGivesWay(t *testing.T) {
	var busy atomic.Bool
	var asked atomic.Int32
	busy.Store(true)
	made := warmUpRequests.Load()
	waiting := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, _, err := warmUp(context.Background(), 2, nil, func() bool {
			if asked.Add(1) == 3 {
				close(waiting)
			}
			return busy.Load()
		})
		done <- err
	}()
	// The warm-up asked three times and was told to wait each time: it
	// has made no request.
	<-waiting
	if n := warmUpRequests.Load() - made; n != 0 {
		t.Fatalf("the warm-up made %d requests while the tab was busy", n)
	}
	busy.Store(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := warmUpRequests.Load() - made; n != 8 {
		t.Fatalf("the warm-up made %d requests; want 8", n)
	}
	// login, createRoom, /sync, 2 x (send, /sync), /messages, and the
	// three times it waited.
	if n := asked.Load(); n < 3+8 {
		t.Fatalf("busy asked %d times; want at least once per request after the three waits", n)
	}
}
