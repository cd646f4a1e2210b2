package web

import (
	"encoding/json"
	"net/http"
	"testing"
)

// GET /rooms/{roomId}/event/{eventId} carries bundled aggregations, as the
// spec asks of every endpoint that returns a single event.
func TestGetEventBundlesAggregations(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	root := e.send(alice, roomID, "root", "original")
	edit := e.sendContent(alice, roomID, "e1", map[string]any{
		"msgtype": "m.text", "body": "* changed",
		"m.new_content": map[string]any{"msgtype": "m.text", "body": "changed"},
		"m.relates_to":  relatesTo("m.replace", root),
	})
	r := e.do("GET", cs+"/rooms/"+roomID+"/event/"+root, alice, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET event: %d %s", r.Status, r.Body)
	}
	var ev struct {
		Unsigned struct {
			Relations map[string]json.RawMessage `json:"m.relations"`
		} `json:"unsigned"`
	}
	r.JSON(t, &ev)
	var replace struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(ev.Unsigned.Relations["m.replace"], &replace); err != nil || replace.EventID != edit {
		t.Errorf("unsigned.m.relations.m.replace = %s, want the edit %s", ev.Unsigned.Relations["m.replace"], edit)
	}
}
