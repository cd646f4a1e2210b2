package room_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/room"
)

// FuzzReceivePDU feeds arbitrary PDUs to a room the server is in: each
// gets exactly one result, which is either accepted or one of the
// documented outcomes, and nothing panics.
func FuzzReceivePDU(f *testing.F) {
	fx := newFedFixture(f)
	roomID, v, join := fx.publicRoomWithBob(f, "11")
	msg := fx.remoteEvent(f, v, roomID, spec{typ: "m.room.message", content: `{"body":"seed"}`,
		prevs: []*pdu.PDU{join.ev}, state: fx.current(f, roomID)})
	f.Add(string(msg.raw))
	f.Add(string(join.raw))
	f.Add(`{"room_id":"` + roomID + `"}`)
	f.Add(`{"room_id":"` + roomID + `","type":"m.room.member","sender":"@x:y","content":{},"depth":1,"prev_events":[],"auth_events":[],"origin_server_ts":1,"state_key":"@x:y"}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		res := fx.fed.ReceivePDUs(context.Background(), remoteName, []json.RawMessage{json.RawMessage(s)})
		if len(res) != 1 {
			t.Fatalf("%d results for one PDU: %v", len(res), res)
		}
		for _, err := range res {
			if err != nil && !errors.Is(err, room.ErrPDUInvalid) && !errors.Is(err, room.ErrPDUSignature) &&
				!errors.Is(err, room.ErrPDURejected) && !errors.Is(err, room.ErrPDUSoftFailed) {
				t.Fatalf("unexpected result %v", err)
			}
		}
	})
}
