package web

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestSyncFullStateAndStateAfter(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat", "name": "Room"})
	first, _ := e.sync(alice)
	msg := e.send(alice, roomID, "t1", "hello")

	// full_state: the whole state, the timeline still from since.
	full, _ := e.sync(alice, "since", first.NextBatch, "full_state", "true")
	jr := full.Rooms.Join[roomID]
	if got := timelineIDs(jr.Timeline.Events); !slices.Equal(got, []string{msg}) {
		t.Errorf("full_state timeline = %v, want [%s]", got, msg)
	}
	types := map[string]bool{}
	for _, ev := range jr.State.Events {
		types[ev.Type] = true
	}
	for _, typ := range []string{"m.room.create", "m.room.member", "m.room.power_levels", "m.room.name"} {
		if !types[typ] {
			t.Errorf("full_state lacks %s", typ)
		}
	}
	// full_state with nothing new still returns every room at once.
	again, _ := e.sync(alice, "since", full.NextBatch, "full_state", "true", "timeout", "600000")
	if _, ok := again.Rooms.Join[roomID]; !ok {
		t.Error("full_state sync without news left the room out")
	}

	// use_state_after: state_after instead of state, up to the end of the
	// timeline; a topic change in the timeline is in it.
	var topic struct {
		EventID string `json:"event_id"`
	}
	e.must("PUT", cs+"/rooms/"+roomID+"/state/m.room.topic", alice, map[string]string{"topic": "new"}, &topic)
	_, r := e.sync(alice, "since", again.NextBatch, "use_state_after", "true")
	var raw struct {
		Rooms struct {
			Join map[string]map[string]json.RawMessage `json:"join"`
		} `json:"rooms"`
	}
	r.JSON(t, &raw)
	room := raw.Rooms.Join[roomID]
	if _, ok := room["state"]; ok {
		t.Error("use_state_after response has state")
	}
	var after struct {
		Events []clientEvent `json:"events"`
	}
	if err := json.Unmarshal(room["state_after"], &after); err != nil {
		t.Fatalf("state_after: %v (%s)", err, room["state_after"])
	}
	found := false
	for _, ev := range after.Events {
		found = found || ev.EventID == topic.EventID
	}
	if !found {
		t.Errorf("state_after = %+v, want the new topic", after.Events)
	}
}

func TestSyncLeftRoomsAndDeviceLists(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	bobID := "@bob:" + roomTestServer
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	a0 := e.syncStreams(alice)

	// Bob joins: his devices are news to alice.
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	a1 := e.syncStreams(alice, "since", a0.NextBatch)
	if a1.DeviceLists == nil || !slices.Contains(a1.DeviceLists.Changed, bobID) {
		t.Errorf("device_lists after bob joined = %+v, want bob changed", a1.DeviceLists)
	}
	// Bob leaves: alice shares no room with him any more.
	e.must("POST", cs+"/rooms/"+roomID+"/leave", bob, map[string]any{}, nil)
	a2 := e.syncStreams(alice, "since", a1.NextBatch)
	if a2.DeviceLists == nil || !slices.Contains(a2.DeviceLists.Left, bobID) || slices.Contains(a2.DeviceLists.Changed, bobID) {
		t.Errorf("device_lists after bob left = %+v, want bob left", a2.DeviceLists)
	}

	// Left rooms come back in an initial sync only with include_leave.
	plain, _ := e.sync(bob)
	if _, ok := plain.Rooms.Leave[roomID]; ok {
		t.Error("an initial sync without include_leave lists a left room")
	}
	withLeave, _ := e.sync(bob, "filter", `{"room":{"include_leave":true}}`)
	lr, ok := withLeave.Rooms.Leave[roomID]
	if !ok || len(lr.Timeline.Events) == 0 {
		t.Fatalf("include_leave: room missing or empty: %+v", withLeave.Rooms.Leave)
	}
	if last := lr.Timeline.Events[len(lr.Timeline.Events)-1]; last.Sender != bobID || last.Content["membership"] != "leave" {
		t.Errorf("left room timeline ends with %s %v, want bob's leave", last.Type, last.Content)
	}
	// What happened after he left stays hidden.
	after := e.send(alice, roomID, "t1", "after bob left")
	withLeave, _ = e.sync(bob, "filter", `{"room":{"include_leave":true}}`)
	if got := timelineIDs(withLeave.Rooms.Leave[roomID].Timeline.Events); slices.Contains(got, after) {
		t.Errorf("left room timeline shows %s, sent after the leave", after)
	}
	e.wantError("GET", cs+"/rooms/"+roomID+"/context/"+after, bob, nil, 404, "M_NOT_FOUND")
}
