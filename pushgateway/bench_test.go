package pushgateway

import (
	"context"
	"testing"

	"hearth.dev/hearth/core"
)

// benchPersist persists one message per iteration into the test room
// (three members, two of them local), through the push step of the
// event-persisting path or not.
func benchPersist(b *testing.B, wrap bool) {
	r := newPushTestRoom(b)
	ctx := context.Background()
	var s core.EventStore = r.events
	if wrap {
		s, _ = persistPath(b, r, nil)
	}
	b.ReportAllocs()
	for b.Loop() {
		ev := r.event("m.room.message", nil, "@carol:elsewhere.example", `{"msgtype":"m.text","body":"hello there"}`)
		if _, err := s.PersistEvents(ctx, []core.NewEvent{ev}, core.PersistOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPersistMessage is the baseline: persisting without push rules.
func BenchmarkPersistMessage(b *testing.B) { benchPersist(b, false) }

// BenchmarkPersistMessagePushed adds the push rules of the two local
// members and the recording of their notifications.
func BenchmarkPersistMessagePushed(b *testing.B) { benchPersist(b, true) }
