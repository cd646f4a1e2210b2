package web

import (
	"slices"
	"testing"
)

// A user always sees their own membership events, and include_leave
// leaves out the rooms a user forgot.
func TestSyncOwnLeaveAndForgottenRooms(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	bobID := "@bob:" + roomTestServer
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	e.must("POST", cs+"/rooms/"+roomID+"/invite", alice, map[string]any{"user_id": bobID}, nil)
	b0, _ := e.sync(bob)
	if _, ok := b0.Rooms.Invite[roomID]; !ok {
		t.Fatalf("bob's sync lacks the invite: %+v", b0.Rooms.Invite)
	}

	// Bob rejects the invite: the leave section shows his leave event.
	e.must("POST", cs+"/rooms/"+roomID+"/leave", bob, map[string]any{}, nil)
	ownLeave := func(evs []syncEvent) bool {
		return slices.ContainsFunc(evs, func(ev syncEvent) bool {
			return ev.Type == "m.room.member" && ev.StateKey != nil && *ev.StateKey == bobID && ev.Content["membership"] == "leave"
		})
	}
	b1, _ := e.sync(bob, "since", b0.NextBatch)
	lr, ok := b1.Rooms.Leave[roomID]
	if !ok {
		t.Fatalf("incremental sync after rejecting lacks the room: %+v", b1.Rooms.Leave)
	}
	if !ownLeave(lr.Timeline.Events) {
		t.Errorf("rejected invite: leave timeline = %+v, want bob's leave", lr.Timeline.Events)
	}
	withLeave, _ := e.sync(bob, "filter", `{"room":{"include_leave":true}}`)
	if evs := withLeave.Rooms.Leave[roomID].Timeline.Events; !ownLeave(evs) {
		t.Errorf("include_leave after rejecting: timeline = %+v, want bob's leave", evs)
	}

	// A room left and forgotten is gone from include_leave.
	other := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+other+"/join", bob, map[string]any{}, nil)
	e.must("POST", cs+"/rooms/"+other+"/leave", bob, map[string]any{}, nil)
	withLeave, _ = e.sync(bob, "filter", `{"room":{"include_leave":true}}`)
	if _, ok := withLeave.Rooms.Leave[other]; !ok {
		t.Fatalf("include_leave lacks the left room %s", other)
	}
	e.must("POST", cs+"/rooms/"+other+"/forget", bob, map[string]any{}, nil)
	withLeave, _ = e.sync(bob, "filter", `{"room":{"include_leave":true}}`)
	if _, ok := withLeave.Rooms.Leave[other]; ok {
		t.Error("include_leave lists a room bob forgot")
	}
	full, _ := e.sync(bob, "since", b1.NextBatch, "full_state", "true", "filter", `{"room":{"include_leave":true}}`)
	if _, ok := full.Rooms.Leave[other]; ok {
		t.Error("include_leave with full_state lists a room bob forgot")
	}
}

// An incremental sync carries the presence of users who newly share a
// room with the syncing user, even if it did not change since.
func TestSyncPresenceOfNewlySharedUsers(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	bobID := "@bob:" + roomTestServer
	e.must("PUT", cs+"/presence/"+bobID+"/status", bob, map[string]any{"presence": "online", "status_msg": "here"}, nil)
	a0 := e.syncStreams(alice)
	for _, p := range a0.PresenceEvents.Events {
		if p.Sender == bobID {
			t.Fatalf("alice sees bob's presence before sharing a room: %+v", p)
		}
	}
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	a1 := e.syncStreams(alice, "since", a0.NextBatch)
	found := false
	for _, p := range a1.PresenceEvents.Events {
		if p.Sender == bobID {
			found = true
			if p.Content["presence"] != "online" || p.Content["status_msg"] != "here" {
				t.Errorf("bob's presence = %v", p.Content)
			}
		}
	}
	if !found {
		t.Errorf("after bob joined alice's room her sync has no presence of his: %+v", a1.PresenceEvents.Events)
	}

	// Bob joining a room of carol's: he receives her presence too.
	carol := e.user("carol", false)
	carolID := "@carol:" + roomTestServer
	e.must("PUT", cs+"/presence/"+carolID+"/status", carol, map[string]any{"presence": "unavailable"}, nil)
	b0 := e.syncStreams(bob)
	room2 := e.createRoom(carol, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+room2+"/join", bob, map[string]any{}, nil)
	b1 := e.syncStreams(bob, "since", b0.NextBatch)
	found = false
	for _, p := range b1.PresenceEvents.Events {
		found = found || p.Sender == carolID && p.Content["presence"] == "unavailable"
	}
	if !found {
		t.Errorf("after bob joined carol's room his sync has no presence of hers: %+v", b1.PresenceEvents.Events)
	}
}
