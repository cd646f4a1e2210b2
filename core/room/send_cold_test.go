package room_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/storage"
)

// countedEvents counts the reads of stored events by ID.
type countedEvents struct {
	*storage.EventStore
	reads atomic.Int64
}

func (c *countedEvents) Events(ctx context.Context, ids []string) (map[string]*core.StoredEvent, error) {
	c.reads.Add(1)
	return c.EventStore.Events(ctx, ids)
}

// TestColdSendReadsEventsOnce: a send into a room whose tip and events
// no cache holds (a pipeline started afresh) reads the events it needs,
// its prev event and its auth events (the create event among them), in
// one read of storage, and the message is stored as any other. A second
// send reads none.
func TestColdSendReadsEventsOnce(t *testing.T) {
	for _, vid := range []roomversion.ID{"10", "12"} {
		t.Run("v"+string(vid), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			roomID, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, RoomVersion: string(vid), Preset: room.PresetPrivateChat})
			if err != nil {
				t.Fatal(err)
			}
			counted := &countedEvents{EventStore: f.events}
			cold, err := room.New(room.Config{ServerName: server, Key: f.key, Profiles: f.profiles}, room.Stores{
				Events: counted, Timeline: f.events, State: f.events, Groups: f.events, Rooms: f.events,
				AuthChains: f.events, Directory: storage.NewDirectoryStore(f.db),
			})
			if err != nil {
				t.Fatal(err)
			}
			send := func(body string) string {
				t.Helper()
				id, err := cold.Send(ctx, roomID, room.Proto{Type: "m.room.message", Sender: alice,
					Content: json.RawMessage(`{"body":"` + body + `","msgtype":"m.text"}`)}, nil)
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
			first := send("cold")
			cold1 := counted.reads.Load()
			if cold1 != 1 {
				t.Errorf("a send into a cold room read stored events %d times, want once", cold1)
			}
			second := send("warm")
			if n := counted.reads.Load() - cold1; n != 0 {
				t.Errorf("a second send read stored events %d times, want none", n)
			}
			exts, err := f.p.ForwardExtremities(ctx, roomID)
			if err != nil || len(exts) != 1 || exts[0] != second {
				t.Fatalf("forward extremities %v, %v; want the second message", exts, err)
			}
			if got := f.event(t, second); len(got.PDU.PrevEvents) != 1 || got.PDU.PrevEvents[0] != first {
				t.Errorf("the second message's prev events %v, want the first", got.PDU.PrevEvents)
			}
		})
	}
}
