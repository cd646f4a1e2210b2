package hearth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// PUT /_matrix/federation/v1/invite: b answers a v1 invite of bob to a
// room of version 1 with [200, {"event": ...}], the event signed by a and
// b, and bob's /sync shows the invite with its stripped state. The invite
// is the one a built for /v2/invite (which b refused here, so the v1 call
// is the first b hears of it), sent by a's own signed client.
func TestInviteV1(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	var mu sync.Mutex
	var v2 struct {
		RoomVersion     string            `json:"room_version"`
		Event           map[string]any    `json:"event"`
		InviteRoomState []json.RawMessage `json:"invite_room_state"`
	}
	b := n.openWrapped(t, "b.test", "bob", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, "/_matrix/federation/v2/invite/") {
				h.ServeHTTP(w, r)
				return
			}
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			json.Unmarshal(body, &v2)
			mu.Unlock()
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"errcode":"M_FORBIDDEN","error":"held back by the test"}`))
		})
	})
	roomID, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"room_version": "1", "name": "old room"})["room_id"].(string)
	if status, _ := a.c.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/invite", a.token, map[string]any{"user_id": b.user}); status == http.StatusOK {
		t.Fatal("the invite went through although b refused /v2/invite")
	}
	mu.Lock()
	event, state, version := v2.Event, v2.InviteRoomState, v2.RoomVersion
	mu.Unlock()
	eventID, _ := event["event_id"].(string)
	if version != "1" || eventID == "" {
		t.Fatalf("a's /v2/invite: version %q, event %v", version, event)
	}
	event["unsigned"] = map[string]any{"invite_room_state": state}
	path := "/_matrix/federation/v1/invite/" + url.PathEscape(roomID) + "/" + url.PathEscape(eventID)
	var out []json.RawMessage
	if err := a.hs.FederationClient.Request(context.Background(), "b.test", "PUT", path, event, &out); err != nil {
		t.Fatalf("v1 invite: %v", err)
	}
	var answer struct {
		Event struct {
			EventID    string                    `json:"event_id"`
			StateKey   string                    `json:"state_key"`
			Signatures map[string]map[string]any `json:"signatures"`
		} `json:"event"`
	}
	if len(out) != 2 || string(out[0]) != "200" || json.Unmarshal(out[1], &answer) != nil {
		t.Fatalf("v1 invite answered %s, want [200, {\"event\": ...}]", out)
	}
	if answer.Event.EventID != eventID || answer.Event.StateKey != b.user ||
		len(answer.Event.Signatures["a.test"]) == 0 || len(answer.Event.Signatures["b.test"]) == 0 {
		t.Fatalf("signed invite = %+v, want %s for %s signed by a.test and b.test", answer.Event, eventID, b.user)
	}
	eventually(t, "bob's /sync to show the invite", func() bool {
		sync := b.c.ok("GET", "/_matrix/client/v3/sync?timeout=0", b.token, nil)
		rooms, _ := sync["rooms"].(map[string]any)
		invite, _ := rooms["invite"].(map[string]any)
		_, ok := invite[roomID]
		return ok
	})

	// Anything but an invite event of a user of b's is refused.
	event["content"] = map[string]any{"membership": "join"}
	err := a.hs.FederationClient.Request(context.Background(), "b.test", "PUT", path, event, &out)
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("a join sent as a v1 invite: %v, want a 400", err)
	}
	resp, err := a.hs.FederationClient.RequestRaw(context.Background(), "b.test", "PUT", path, []byte(`[1, 2]`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte(`"M_`)) {
		t.Fatalf("a v1 invite that is no event: %d %s, want a Matrix 400", resp.StatusCode, body)
	}
}
