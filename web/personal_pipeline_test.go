package web

import (
	"context"
	"net/url"
	"testing"

	"hearth.dev/hearth/core"
)

// TestPersonalDataOnPipeline runs the personal data endpoints on the real
// room pipeline, wired by hearth.Open's own wiring (services): events pushed through
// the push step of the event-persisting path, memberships from the room state, event
// formatting for /notifications and display names in member events from
// the profile store.
func TestPersonalDataOnPipeline(t *testing.T) {
	ps := newTestServer(t)
	notices := ps.Graph.Notifications
	alice := ps.registerTestUser(t, "alice")
	bob := ps.registerTestUser(t, "bob")
	carol := ps.registerTestUser(t, "carol")
	status, body := ps.do(t, "PUT", "/_matrix/client/v3/profile/"+bob.UserID+"/displayname", bob.AccessToken, `{"displayname":"Bob"}`)
	wantOK(t, "displayname", status, body)

	status, body = ps.do(t, "POST", "/_matrix/client/v3/createRoom", alice.AccessToken, `{"preset":"public_chat"}`)
	wantOK(t, "createRoom", status, body)
	roomID := body["room_id"].(string)
	esc := url.PathEscape(roomID)
	status, body = ps.do(t, "POST", "/_matrix/client/v3/join/"+esc, bob.AccessToken, `{}`)
	wantOK(t, "bob joins", status, body)

	// Bob's join carries his display name.
	status, body = ps.do(t, "GET", "/_matrix/client/v3/rooms/"+esc+"/state/m.room.member/"+url.PathEscape(bob.UserID), alice.AccessToken, nil)
	if status != 200 || body["displayname"] != "Bob" {
		t.Errorf("bob's member content = %d %v", status, body)
	}

	// A new display name reaches bob's member event.
	status, body = ps.do(t, "PUT", "/_matrix/client/v3/profile/"+bob.UserID+"/displayname", bob.AccessToken, `{"displayname":"Robert"}`)
	wantOK(t, "new displayname", status, body)
	status, body = ps.do(t, "GET", "/_matrix/client/v3/rooms/"+esc+"/state/m.room.member/"+url.PathEscape(bob.UserID), alice.AccessToken, nil)
	if status != 200 || body["displayname"] != "Robert" || body["membership"] != "join" {
		t.Errorf("bob's member content after the change = %d %v", status, body)
	}

	status, body = ps.do(t, "PUT", "/_matrix/client/v3/rooms/"+esc+"/send/m.room.message/t1", bob.AccessToken,
		`{"msgtype":"m.text","body":"hi Alice","m.mentions":{"user_ids":["`+alice.UserID+`"]}}`)
	wantOK(t, "bob sends", status, body)
	mention := body["event_id"].(string)
	status, body = ps.do(t, "PUT", "/_matrix/client/v3/rooms/"+esc+"/send/m.room.message/t2", bob.AccessToken, `{"msgtype":"m.text","body":"and more"}`)
	wantOK(t, "bob sends again", status, body)
	plain := body["event_id"].(string)

	ctx := context.Background()
	all, _, err := notices.RoomUnread(ctx, alice.UserID, roomID)
	if err != nil || all != (core.UnreadCounts{Notifications: 2, Highlights: 1}) {
		t.Errorf("alice's unread = %+v, %v; want 2 with 1 highlight", all, err)
	}
	if all, _, _ := notices.RoomUnread(ctx, bob.UserID, roomID); all.Notifications != 0 {
		t.Errorf("bob's own messages counted for him: %+v", all)
	}

	// GET /notifications formats the events through the pipeline.
	status, body = ps.do(t, "GET", "/_matrix/client/v3/notifications", alice.AccessToken, nil)
	list, _ := body["notifications"].([]any)
	if status != 200 || len(list) != 2 {
		t.Fatalf("notifications = %d %v", status, body)
	}
	first := list[0].(map[string]any)
	ev, _ := first["event"].(map[string]any)
	if ev["event_id"] != plain || ev["sender"] != bob.UserID || first["room_id"] != roomID || first["read"] != false {
		t.Errorf("first notification = %v", first)
	}
	if _, has := ev["room_id"]; has {
		t.Errorf("notification event has room_id: %v", ev)
	}

	// Receipts need membership, and clear the counts.
	status, body = ps.do(t, "POST", "/_matrix/client/v3/rooms/"+esc+"/receipt/m.read/"+url.PathEscape(mention), carol.AccessToken, `{}`)
	wantError(t, "carol is not in the room", status, body, 403, "M_FORBIDDEN")
	status, body = ps.do(t, "POST", "/_matrix/client/v3/rooms/"+esc+"/read_markers", alice.AccessToken,
		`{"m.fully_read":"`+mention+`","m.read.private":"`+plain+`"}`)
	wantOK(t, "read markers", status, body)
	if all, _, _ := notices.RoomUnread(ctx, alice.UserID, roomID); all != (core.UnreadCounts{}) {
		t.Errorf("alice's unread after her receipt = %+v", all)
	}
	status, body = ps.do(t, "PUT", "/_matrix/client/v3/rooms/"+esc+"/typing/"+url.PathEscape(alice.UserID), alice.AccessToken, `{"typing":true,"timeout":1000}`)
	wantOK(t, "typing in a joined room", status, body)
	status, body = ps.do(t, "PUT", "/_matrix/client/v3/rooms/"+esc+"/typing/"+url.PathEscape(carol.UserID), carol.AccessToken, `{"typing":true,"timeout":1000}`)
	wantError(t, "typing outside", status, body, 403, "M_FORBIDDEN")
}
