package web

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"hearth.dev/hearth/core/push"
	"hearth.dev/hearth/storage"
)

func TestNotificationsAPI(t *testing.T) {
	var events *storage.EventStore
	ps := newPersonalServer(t, func(o *Options, db *storage.DB) {
		events = storage.NewEventStore(db)
		// Stands in for the room pipeline's client event format.
		o.NotificationEvents = func(ctx context.Context, userID string, ids []string) (map[string]json.RawMessage, error) {
			got, err := events.Events(ctx, ids)
			if err != nil {
				return nil, err
			}
			out := map[string]json.RawMessage{}
			for id, ev := range got {
				out[id] = ev.JSON
			}
			return out, nil
		}
	})
	alice := ps.registerTestUser(t, "alice")
	bob := ps.registerTestUser(t, "bob")
	room, evs := ps.testRoomEvents(t, "notifications", bob.UserID,
		`{"body":"one"}`, `{"body":"hey","m.mentions":{"user_ids":["`+alice.UserID+`"]}}`, `{"body":"three"}`)
	ps.joined.join(alice.UserID, room)
	ctx := context.Background()
	for _, id := range evs {
		ev, err := events.Event(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ps.pushes.Notify(ctx, room, ev.JSON, push.RoomContext{
			MemberCount: 3, Recipients: map[string]string{alice.UserID: "Alice"},
		}); err != nil {
			t.Fatal(err)
		}
	}
	status, body := ps.do(t, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/receipt/m.read/"+url.PathEscape(evs[0]), alice.AccessToken, `{}`)
	wantOK(t, "receipt", status, body)

	type notif struct {
		Actions []any          `json:"actions"`
		Event   map[string]any `json:"event"`
		Read    bool           `json:"read"`
		RoomID  string         `json:"room_id"`
		TS      int64          `json:"ts"`
	}
	get := func(query string) ([]notif, string) {
		t.Helper()
		rec := ps.record(t, "GET", "/_matrix/client/v3/notifications"+query, alice.AccessToken, nil)
		if rec.Code != 200 {
			t.Fatalf("GET /notifications%s = %d %s", query, rec.Code, rec.Body)
		}
		var resp struct {
			Next          string  `json:"next_token"`
			Notifications []notif `json:"notifications"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Notifications, resp.Next
	}
	page, next := get("?limit=2")
	if len(page) != 2 || next == "" || page[0].Event["event_id"] != evs[2] || page[1].Event["event_id"] != evs[1] ||
		page[0].Read || page[1].Read || page[0].RoomID != room || page[0].TS != ps.Clock.Now().UnixMilli() {
		t.Fatalf("first page = %+v, next %q", page, next)
	}
	page, next = get("?limit=2&from=" + next)
	if len(page) != 1 || next != "" || page[0].Event["event_id"] != evs[0] || !page[0].Read {
		t.Errorf("second page = %+v, next %q", page, next)
	}
	page, _ = get("?only=highlight")
	if len(page) != 1 || page[0].Event["event_id"] != evs[1] || len(page[0].Actions) != 3 {
		t.Errorf("highlights = %+v", page)
	}
	status, body = ps.do(t, "GET", "/_matrix/client/v3/notifications?from=x", alice.AccessToken, nil)
	wantError(t, "bad from", status, body, 400, "M_INVALID_PARAM")
	status, body = ps.do(t, "GET", "/_matrix/client/v3/notifications", bob.AccessToken, nil)
	if l, ok := body["notifications"].([]any); status != 200 || !ok || len(l) != 0 {
		t.Errorf("bob's notifications = %d %v", status, body)
	}
}
