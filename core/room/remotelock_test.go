package room_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/room"
)

// A remote server that is slow to answer the requests a received PDU
// needs (get_missing_events, /state_ids, /event) does not hold up local
// sends to the room: those requests are made before the room's lock is
// taken. The fake remote blocks until the test has sent; with the lock
// held over the request, Send would wait forever and the test would not
// end.
func TestSlowRemoteDoesNotBlockLocalSends(t *testing.T) {
	for _, blocked := range []string{
		"POST /_matrix/federation/v1/get_missing_events/",
		"GET /_matrix/federation/v1/state_ids/",
		"GET /_matrix/federation/v1/event/",
	} {
		t.Run(strings.TrimPrefix(strings.Fields(blocked)[1], "/_matrix/federation/v1/"), func(t *testing.T) {
			f := newFedFixture(t)
			ctx := context.Background()
			roomID, v, join := f.publicRoomWithBob(t, "11")
			state := f.current(t, roomID)
			// bob changes his display name and writes after it; only the
			// message reaches this server, and the name change is either
			// given by get_missing_events or fetched as the gap's state.
			name := f.remoteEvent(t, v, roomID, spec{typ: "m.room.member", stateKey: sk(bob),
				content: `{"membership":"join","displayname":"Bob"}`, prevs: []*pdu.PDU{join.ev}, state: state})
			afterName := maps(state, core.StateKey{Type: "m.room.member", StateKey: bob}, name.id)
			msg := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"x"}`, prevs: []*pdu.PDU{name.ev}, state: afterName})
			// carol joined before the name change: the state at the gap
			// holds her join, which this server has to fetch with /event.
			carol := "@carol:" + remoteName
			carolJoin := f.remoteEvent(t, v, roomID, spec{sender: carol, typ: "m.room.member", stateKey: sk(carol),
				content: `{"membership":"join"}`, prevs: []*pdu.PDU{join.ev}, state: state})

			entered, release := make(chan struct{}), make(chan struct{})
			block := func() {
				entered <- struct{}{}
				<-release
			}
			f.client.handle("POST /_matrix/federation/v1/get_missing_events/", func(string, any) (any, error) {
				if strings.Contains(blocked, "get_missing_events") {
					block()
					return map[string]any{"events": []json.RawMessage{name.raw}}, nil
				}
				return map[string]any{"events": []json.RawMessage{}}, nil
			})
			f.client.handle("GET /_matrix/federation/v1/state_ids/", func(string, any) (any, error) {
				if strings.Contains(blocked, "state_ids") {
					block()
				}
				ids := []string{carolJoin.id}
				for _, id := range state {
					ids = append(ids, id)
				}
				return map[string]any{"pdu_ids": ids, "auth_chain_ids": ids}, nil
			})
			blockEvent := strings.HasSuffix(blocked, "/event/")
			f.client.handle("GET /_matrix/federation/v1/event/", func(path string, _ any) (any, error) {
				if blockEvent {
					blockEvent = false // the first one only
					block()
				}
				for _, b := range []built{name, carolJoin} {
					if pathUnescape(t, strings.TrimPrefix(path, "/_matrix/federation/v1/event/")) == b.id {
						return map[string]any{"origin": remoteName, "pdus": []json.RawMessage{b.raw}}, nil
					}
				}
				return nil, core.ErrNotFound
			})

			f.client.handle("GET /_matrix/federation/v1/event_auth/", func(string, any) (any, error) {
				return map[string]any{"auth_chain": []json.RawMessage{name.raw}}, nil
			})

			done := make(chan map[string]error)
			go func() { done <- f.fed.ReceivePDUs(ctx, remoteName, []json.RawMessage{msg.raw}) }()
			<-entered
			// The remote is stuck in the request: a local send goes through.
			local, err := f.p.Send(ctx, roomID, room.Proto{Type: "m.room.message", Sender: alice,
				Content: json.RawMessage(`{"body":"while the remote is slow"}`)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			close(release)
			if err := (<-done)[msg.id]; err != nil {
				t.Fatalf("the remote message: %v", err)
			}
			for _, id := range []string{local, msg.id} {
				if e := f.event(t, id); e.Stored.Outlier || e.Stored.Rejected != "" || e.Stored.SoftFailed {
					t.Fatalf("%s stored as outlier=%v rejected=%q soft_failed=%v", id, e.Stored.Outlier, e.Stored.Rejected, e.Stored.SoftFailed)
				}
			}
			st := f.stateAt(t, msg.id)
			if got := st[core.StateKey{Type: "m.room.member", StateKey: bob}]; got != name.id {
				t.Fatalf("bob's membership at the remote message is %s, want the display name change", got)
			}
			if got, want := st[core.StateKey{Type: "m.room.member", StateKey: carol}], carolJoin.id; blocked != "POST /_matrix/federation/v1/get_missing_events/" && got != want {
				t.Fatalf("carol's membership at the remote message is %q, want her join from the gap's state", got)
			}
		})
	}
}
