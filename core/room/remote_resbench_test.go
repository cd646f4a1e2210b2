package room_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/room"
)

// BenchmarkForkResolution measures taking in a remote state event that
// forks a room of 5,000 members: the room's current state is then the
// resolution (v2) of the two branches' states.
func BenchmarkForkResolution(b *testing.B) {
	f := newFedFixture(b)
	ctx := context.Background()
	roomID, v, _ := f.publicRoomWithBob(b, "11")
	if _, err := f.p.SendState(ctx, roomID, room.Proto{Type: "m.room.power_levels", StateKey: sk(""), Sender: alice,
		Content: json.RawMessage(`{"users":{"` + alice + `":100,"` + bob + `":100}}`)}); err != nil {
		b.Fatal(err)
	}
	state := f.current(b, roomID)
	prev := f.tip(b, roomID)
	const members = 5000
	for i := 0; i < members; i += 50 {
		raws := make([]json.RawMessage, 0, 50)
		for j := i; j < i+50; j++ {
			user := fmt.Sprintf("@u%d:%s", j, remoteName)
			m := f.remoteEvent(b, v, roomID, spec{sender: user, typ: "m.room.member", stateKey: sk(user),
				content: `{"membership":"join"}`, prevs: []*pdu.PDU{prev}, state: state})
			raws = append(raws, m.raw)
			prev = m.ev
		}
		for id, err := range f.fed.ReceivePDUs(ctx, remoteName, raws) {
			if err != nil {
				b.Fatalf("%s: %v", id, err)
			}
		}
	}
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		parent := f.tip(b, roomID)
		parentState := f.current(b, roomID)
		if _, err := f.p.SendState(ctx, roomID, room.Proto{Type: "m.room.topic", StateKey: sk(""), Sender: alice,
			Content: json.RawMessage(fmt.Sprintf(`{"topic":"local %d"}`, n))}); err != nil {
			b.Fatal(err)
		}
		remote := f.remoteEvent(b, v, roomID, spec{typ: "m.room.topic", stateKey: sk(""), content: fmt.Sprintf(`{"topic":"remote %d"}`, n),
			prevs: []*pdu.PDU{parent}, state: parentState})
		b.StartTimer()
		if err := f.receive(b, remote); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		// Merge the fork so the next round starts from one extremity.
		if _, err := f.p.Send(ctx, roomID, room.Proto{Type: "m.room.message", Sender: alice, Content: json.RawMessage(`{"body":"merge"}`)}, nil); err != nil {
			b.Fatal(err)
		}
		if got := len(f.current(b, roomID)); got < members {
			b.Fatalf("current state has %d entries", got)
		}
		b.StartTimer()
	}
}
