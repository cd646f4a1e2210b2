package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
)

func TestNotificationsAPI(t *testing.T) {
	// Bob's messages go through the room pipeline, whose persisting path
	// runs alice's push rules and records her notifications.
	ps := newTestServer(t)
	alice := ps.registerTestUser(t, "alice")
	bob := ps.registerTestUser(t, "bob")
	status, body := ps.do(t, "POST", "/_matrix/client/v3/createRoom", bob.AccessToken, `{"preset":"public_chat"}`)
	wantOK(t, "createRoom", status, body)
	room, _ := body["room_id"].(string)
	status, body = ps.do(t, "POST", "/_matrix/client/v3/join/"+url.PathEscape(room), alice.AccessToken, `{}`)
	wantOK(t, "alice joins", status, body)
	var evs []string
	for i, c := range []string{`{"msgtype":"m.text","body":"one"}`,
		`{"msgtype":"m.text","body":"hey","m.mentions":{"user_ids":["` + alice.UserID + `"]}}`,
		`{"msgtype":"m.text","body":"three"}`} {
		status, body = ps.do(t, "PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/n%d", url.PathEscape(room), i), bob.AccessToken, c)
		wantOK(t, "send", status, body)
		id, _ := body["event_id"].(string)
		evs = append(evs, id)
	}
	status, body = ps.do(t, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/receipt/m.read/"+url.PathEscape(evs[0]), alice.AccessToken, `{}`)
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
