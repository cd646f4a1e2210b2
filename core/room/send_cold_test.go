package room_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/storage"
)

// countedEvents counts the reads of stored events by ID and records the
// IDs asked for (each read event goes into the pipeline's event cache).
type countedEvents struct {
	*storage.EventStore
	reads atomic.Int64
	mu    sync.Mutex
	asked []string
}

func (c *countedEvents) Events(ctx context.Context, ids []string) (map[string]*core.StoredEvent, error) {
	c.reads.Add(1)
	c.mu.Lock()
	c.asked = append(c.asked, ids...)
	c.mu.Unlock()
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
			// What the one read takes into the event cache is what
			// building and authorising the message reads, each once: its
			// prev event, its auth events and the create event (not among
			// the auth events where the room ID is its hash), nothing of
			// the room's other state.
			sent := f.event(t, first).PDU
			want := slices.Concat(sent.PrevEvents, sent.AuthEvents, []string{"$" + strings.TrimPrefix(roomID, "!")})
			if vid != "12" {
				want = want[:len(want)-1]
			}
			slices.Sort(want)
			asked := slices.Clone(counted.asked)
			slices.Sort(asked)
			if !slices.Equal(asked, slices.Compact(want)) {
				t.Errorf("a cold send read events %v, want its prev and auth events %v", asked, want)
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
