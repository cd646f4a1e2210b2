package room_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/core/roomversion"
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

// FuzzJoinAnswer feeds arbitrary send_join answers to a remote join: the
// join either fails with an error or leaves the user joined in the room's
// current state, and nothing panics.
func FuzzJoinAnswer(f *testing.F) {
	v, _ := roomversion.Lookup("10")
	fx := newFedFixture(f)
	roomID := "!fuzz:" + remoteName
	mk := func(s spec) built {
		if s.sender == "" {
			s.sender = bob
		}
		return build(f, v, roomID, remoteName, fx.remote.key, s)
	}
	create := mk(spec{typ: "m.room.create", stateKey: sk(""), content: `{"room_version":"10","creator":"` + bob + `"}`, auth: []string{}})
	st := core.StateMap{{Type: "m.room.create"}: create.id}
	bobJoin := mk(spec{typ: "m.room.member", stateKey: sk(bob), content: `{"membership":"join"}`, prevs: []*pdu.PDU{create.ev}, state: st})
	st[core.StateKey{Type: "m.room.member", StateKey: bob}] = bobJoin.id
	jr := mk(spec{typ: "m.room.join_rules", stateKey: sk(""), content: `{"join_rule":"public"}`, prevs: []*pdu.PDU{bobJoin.ev}, state: st})
	fx.client.handle("GET /_matrix/federation/v1/make_join/", func(string, any) (any, error) {
		return map[string]any{"room_version": "10", "event": map[string]any{
			"type": "m.room.member", "room_id": roomID, "sender": alice, "state_key": alice,
			"content": map[string]any{"membership": "join"}, "auth_events": []string{create.id, jr.id},
			"prev_events": []string{jr.id}, "depth": jr.ev.Depth + 1, "origin": server,
		}}, nil
	})
	var answer json.RawMessage
	fx.client.handle("PUT /_matrix/federation/v2/send_join/", func(string, any) (any, error) { return answer, nil })
	valid, _ := json.Marshal(map[string]any{"state": []json.RawMessage{jr.raw, bobJoin.raw, create.raw},
		"auth_chain": []json.RawMessage{create.raw, bobJoin.raw}})
	f.Add(string(valid))
	f.Add(`{"state":[` + string(jr.raw) + `],"auth_chain":[` + string(create.raw) + `]}`)
	f.Add(`{"state":null,"auth_chain":null,"event":null}`)
	f.Add(`{"state":[1,"x",{}],"auth_chain":{}}`)
	f.Add(`{"members_omitted":"yes"}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return // the transport refuses what is not JSON
		}
		answer = json.RawMessage(s)
		id, err := fx.fed.JoinRemote(context.Background(), roomID, alice, "", []string{remoteName})
		if err != nil {
			return
		}
		if got := fx.current(t, roomID)[core.StateKey{Type: "m.room.member", StateKey: alice}]; got != id {
			t.Fatalf("the join %s succeeded but alice's membership is %q", id, got)
		}
	})
}
