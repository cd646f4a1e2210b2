package room_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"hearth.dev/hearth/core/pdu"
)

// BenchmarkReceivePDUs measures the inbound PDU layer: transactions of 50
// chained messages from a remote server into one room, each checked
// (format, signature, hash, auth against its auth events, the state
// before it and the current state) and persisted through the pipeline.
func BenchmarkReceivePDUs(b *testing.B) {
	f := newFedFixture(b)
	roomID, v, join := f.publicRoomWithBob(b, "11")
	state := f.current(b, roomID)
	prev := join.ev
	n := 0
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		raws := make([]json.RawMessage, 50)
		for i := range raws {
			n++
			m := f.remoteEvent(b, v, roomID, spec{typ: "m.room.message", content: fmt.Sprintf(`{"body":"message %d","msgtype":"m.text"}`, n),
				prevs: []*pdu.PDU{prev}, state: state})
			raws[i], prev = m.raw, m.ev
		}
		b.StartTimer()
		for id, err := range f.fed.ReceivePDUs(ctx, remoteName, raws) {
			if err != nil {
				b.Fatalf("%s: %v", id, err)
			}
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "PDUs/s")
}
