package storage

import (
	"context"
	"fmt"
	"testing"

	"hearth.dev/hearth/core/room"
)

// BenchmarkPurgeRoom purges a room of 1,000 messages from a database that
// keeps another room of 1,000 messages with 20,000 notification rows
// (event_push_actions has no index on event_nid alone, so each deleted
// event costs a look through it).
func BenchmarkPurgeRoom(b *testing.B) {
	ctx := context.Background()
	f := newAdminRoomFixture(b)
	kept := f.createRoom(b, room.CreateRequest{Creator: arAlice})
	for i := range 1000 {
		f.send(b, kept, arAlice, fmt.Sprintf(`{"msgtype":"m.text","body":"kept %d"}`, i), nil)
	}
	for u := range 20 {
		f.exec(b, `INSERT INTO event_push_actions (user_id, event_nid, room_nid, stream_ordering, thread_id, actions, highlight, ts)
			SELECT ?, event_nid, room_nid, stream_ordering, 'main', '["notify"]', 0, 0 FROM events WHERE type = 'm.room.message'`,
			fmt.Sprintf("@u%d:%s", u, testServer))
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		doomed := f.createRoom(b, room.CreateRequest{Creator: arAlice})
		for i := range 1000 {
			f.send(b, doomed, arAlice, fmt.Sprintf(`{"msgtype":"m.text","body":"doomed %d"}`, i), nil)
		}
		b.StartTimer()
		if _, err := f.store.PurgeRoom(ctx, doomed); err != nil {
			b.Fatal(err)
		}
	}
}
