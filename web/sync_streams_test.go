package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
)

// streamsResponse is the non-timeline part of a /sync response.
type streamsResponse struct {
	NextBatch   string `json:"next_batch"`
	AccountData struct {
		Events []struct {
			Type    string          `json:"type"`
			Content json.RawMessage `json:"content"`
		} `json:"events"`
	} `json:"account_data"`
	PresenceEvents struct {
		Events []struct {
			Type    string         `json:"type"`
			Sender  string         `json:"sender"`
			Content map[string]any `json:"content"`
		} `json:"events"`
	} `json:"presence"`
	ToDevice struct {
		Events []struct {
			Sender  string         `json:"sender"`
			Type    string         `json:"type"`
			Content map[string]any `json:"content"`
		} `json:"events"`
	} `json:"to_device"`
	OneTimeKeys     map[string]int                    `json:"device_one_time_keys_count"`
	UnusedFallbacks []string                          `json:"device_unused_fallback_key_types"`
	DeviceLists     *struct{ Changed, Left []string } `json:"device_lists"`
	Rooms           struct {
		Join map[string]struct {
			Ephemeral struct {
				Events []struct {
					Type    string          `json:"type"`
					Content json.RawMessage `json:"content"`
				} `json:"events"`
			} `json:"ephemeral"`
			AccountData struct {
				Events []struct {
					Type    string          `json:"type"`
					Content json.RawMessage `json:"content"`
				} `json:"events"`
			} `json:"account_data"`
			Timeline struct {
				Events []syncEvent `json:"events"`
			} `json:"timeline"`
		} `json:"join"`
		Invite map[string]json.RawMessage `json:"invite"`
	} `json:"rooms"`
}

func (e *syncEnv) syncStreams(token string, params ...string) streamsResponse {
	e.tb.Helper()
	_, r := e.sync(token, params...)
	var out streamsResponse
	r.JSON(e.tb, &out)
	return out
}

func TestSyncEphemeralAndAccountData(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	msg := e.send(alice, roomID, "t1", "hello")
	s0 := e.syncStreams(alice)
	if s0.OneTimeKeys == nil || s0.UnusedFallbacks == nil {
		t.Errorf("initial sync lacks the key counts: %v, %v", s0.OneTimeKeys, s0.UnusedFallbacks)
	}
	aliceID, bobID := "@alice:"+roomTestServer, "@bob:"+roomTestServer

	// Typing wakes a waiting sync.
	waiting := waitForSync(t)
	done := make(chan streamsResponse, 1)
	go func() {
		r := e.do("GET", cs+"/sync?timeout=600000&since="+url.QueryEscape(s0.NextBatch), alice, nil)
		var out streamsResponse
		json.Unmarshal(r.Body, &out)
		done <- out
	}()
	select {
	case <-waiting:
	case res := <-done:
		t.Fatalf("the sync returned without waiting: %+v", res)
	}
	e.must("PUT", cs+"/rooms/"+roomID+"/typing/"+url.PathEscape(bobID), bob, map[string]any{"typing": true, "timeout": 30000}, nil)
	s1 := <-done
	eph := s1.Rooms.Join[roomID].Ephemeral.Events
	if len(eph) != 1 || eph[0].Type != "m.typing" || string(eph[0].Content) != `{"user_ids":["`+bobID+`"]}` {
		t.Errorf("ephemeral after typing = %+v", eph)
	}

	// A receipt, global and room account data, a tag.
	e.must("POST", cs+"/rooms/"+roomID+"/receipt/m.read/"+url.PathEscape(msg), bob, map[string]any{}, nil)
	e.must("PUT", cs+"/user/"+url.PathEscape(aliceID)+"/account_data/org.example.config", alice, map[string]any{"theme": "dark"}, nil)
	e.must("PUT", cs+"/user/"+url.PathEscape(aliceID)+"/rooms/"+roomID+"/account_data/org.example.room", alice, map[string]any{"muted": true}, nil)
	e.must("PUT", cs+"/user/"+url.PathEscape(aliceID)+"/rooms/"+roomID+"/tags/u.work", alice, map[string]any{"order": 0.5}, nil)
	s2 := e.syncStreams(alice, "since", s1.NextBatch)
	jr := s2.Rooms.Join[roomID]
	var receipt json.RawMessage
	for _, ev := range jr.Ephemeral.Events {
		if ev.Type == "m.receipt" {
			receipt = ev.Content
		}
	}
	var rc map[string]map[string]map[string]any
	if err := json.Unmarshal(receipt, &rc); err != nil || rc[msg]["m.read"][bobID] == nil {
		t.Errorf("receipt = %s, want bob's m.read on %s", receipt, msg)
	}
	var global []string
	for _, ev := range s2.AccountData.Events {
		global = append(global, ev.Type)
	}
	if !slices.Contains(global, "org.example.config") {
		t.Errorf("global account data = %v", global)
	}
	var roomData []string
	for _, ev := range jr.AccountData.Events {
		roomData = append(roomData, ev.Type)
	}
	slices.Sort(roomData)
	if !slices.Equal(roomData, []string{"m.tag", "org.example.room"}) {
		t.Errorf("room account data = %v, want m.tag and org.example.room", roomData)
	}
	if len(jr.Timeline.Events) != 0 {
		t.Errorf("a room with only ephemeral and account data changes has timeline events %v", timelineIDs(jr.Timeline.Events))
	}
	// Filters pick account data by type, ephemeral events by type.
	s3 := e.syncStreams(alice, "since", s1.NextBatch, "filter", `{"account_data":{"types":["m.nothing"]},"room":{"ephemeral":{"not_types":["m.receipt"]},"account_data":{"types":["m.tag"]}}}`)
	if len(s3.AccountData.Events) != 0 {
		t.Errorf("filtered global account data = %+v", s3.AccountData.Events)
	}
	for _, ev := range s3.Rooms.Join[roomID].Ephemeral.Events {
		if ev.Type == "m.receipt" {
			t.Error("filtered ephemeral events hold a receipt")
		}
	}
	if ad := s3.Rooms.Join[roomID].AccountData.Events; len(ad) != 1 || ad[0].Type != "m.tag" {
		t.Errorf("filtered room account data = %+v", ad)
	}

	// Presence: bob goes online; alice sees it. A sync with
	// set_presence=offline does not mark bob online.
	e.must("PUT", cs+"/presence/"+url.PathEscape(bobID)+"/status", bob, map[string]any{"presence": "unavailable", "status_msg": "away"}, nil)
	s4 := e.syncStreams(alice, "since", s2.NextBatch)
	found := false
	for _, ev := range s4.PresenceEvents.Events {
		if ev.Sender == bobID && ev.Type == "m.presence" {
			found = true
			if ev.Content["presence"] != "unavailable" || ev.Content["status_msg"] != "away" {
				t.Errorf("bob's presence = %v", ev.Content)
			}
		}
	}
	if !found {
		t.Errorf("no presence for bob in %+v", s4.PresenceEvents.Events)
	}
	e.syncStreams(bob, "set_presence", "offline")
	var p map[string]any
	e.must("GET", cs+"/presence/"+url.PathEscape(bobID)+"/status", alice, nil, &p)
	if p["presence"] != "unavailable" {
		t.Errorf("after a set_presence=offline sync bob is %v, want still unavailable", p["presence"])
	}
}

func TestSyncToDevice(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	bobID := "@bob:" + roomTestServer
	first := e.syncStreams(bob)
	for i := range 3 {
		e.must("PUT", cs+"/sendToDevice/m.test/"+fmt.Sprint("txn", i), alice, map[string]any{
			"messages": map[string]any{bobID: map[string]any{e.devices[bob]: map[string]any{"n": i}}},
		}, nil)
	}
	s1 := e.syncStreams(bob, "since", first.NextBatch)
	if len(s1.ToDevice.Events) != 3 || s1.ToDevice.Events[0].Sender != "@alice:"+roomTestServer || s1.ToDevice.Events[2].Content["n"] != 2.0 {
		t.Fatalf("to_device = %+v, want three messages from alice in order", s1.ToDevice.Events)
	}
	// Acknowledged by the next sync: not delivered again.
	s2 := e.syncStreams(bob, "since", s1.NextBatch)
	if len(s2.ToDevice.Events) != 0 {
		t.Errorf("to_device delivered again: %+v", s2.ToDevice.Events)
	}
	// Retrying the same since token before acknowledging gets them again.
	again := e.syncStreams(bob, "since", first.NextBatch)
	if len(again.ToDevice.Events) != 0 {
		// The messages up to s1 were deleted when s2 used s1's token; a
		// sync from the older token finds nothing left.
		t.Errorf("messages deleted after acknowledgement came back: %+v", again.ToDevice.Events)
	}
	// Another of bob's devices gets nothing.
	other := e.user("bob", false)
	if s := e.syncStreams(other); len(s.ToDevice.Events) != 0 {
		t.Errorf("bob's other device got %+v", s.ToDevice.Events)
	}
}

func TestSyncIgnoredUsers(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	aliceID, bobID := "@alice:"+roomTestServer, "@bob:"+roomTestServer
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	e.must("PUT", cs+"/user/"+url.PathEscape(aliceID)+"/account_data/m.ignored_user_list", alice, map[string]any{"ignored_users": map[string]any{bobID: map[string]any{}}}, nil)
	first, _ := e.sync(alice)
	fromBob := e.send(bob, roomID, "b1", "spam")
	fromAlice := e.send(alice, roomID, "a1", "hi")
	var topic struct {
		EventID string `json:"event_id"`
	}
	e.must("PUT", cs+"/rooms/"+roomID+"/state/m.room.topic", alice, map[string]string{"topic": "t"}, &topic)
	resp, _ := e.sync(alice, "since", first.NextBatch)
	got := timelineIDs(resp.Rooms.Join[roomID].Timeline.Events)
	if slices.Contains(got, fromBob) || !slices.Contains(got, fromAlice) {
		t.Errorf("timeline = %v, want alice's message without bob's %s", got, fromBob)
	}
	if msgs := e.allEvents(alice, roomID); slices.Contains(msgs, fromBob) {
		t.Errorf("/messages shows an ignored user's message")
	}
	// Bob's state events still come through: his leave.
	e.must("POST", cs+"/rooms/"+roomID+"/leave", bob, map[string]any{}, nil)
	resp, _ = e.sync(alice, "since", resp.NextBatch)
	var sawLeave bool
	for _, ev := range resp.Rooms.Join[roomID].Timeline.Events {
		sawLeave = sawLeave || ev.Type == "m.room.member" && ev.Sender == bobID
	}
	if !sawLeave {
		t.Error("an ignored user's state event was left out")
	}
	// Invites from an ignored user are dropped.
	bobRoom := e.createRoom(bob, map[string]any{"preset": "private_chat"})
	e.must("POST", cs+"/rooms/"+bobRoom+"/invite", bob, map[string]string{"user_id": aliceID}, nil)
	s := e.syncStreams(alice, "since", resp.NextBatch)
	if _, ok := s.Rooms.Invite[bobRoom]; ok {
		t.Error("an invite from an ignored user reached the client")
	}
}
