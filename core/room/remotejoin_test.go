package room_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// A send_join answer large enough to be checked by several workers: the
// forged events among it are dropped wherever they are, every other event
// is stored, the state is whole, and the answer's bytes are consumed.
func TestStoreSendJoinChecksLargeAnswer(t *testing.T) {
	v, _ := roomversion.Lookup("10")
	f := newFedFixture(t)
	roomID := "!large:" + remoteName
	mk := func(s spec) built {
		if s.sender == "" {
			s.sender = bob
		}
		return build(t, v, roomID, remoteName, f.remote.key, s)
	}
	create := mk(spec{typ: "m.room.create", stateKey: sk(""), content: `{"room_version":"10","creator":"` + bob + `"}`, auth: []string{}})
	st := core.StateMap{{Type: "m.room.create"}: create.id}
	bobJoin := mk(spec{typ: "m.room.member", stateKey: sk(bob), content: `{"membership":"join"}`, prevs: []*pdu.PDU{create.ev}, state: st})
	st[core.StateKey{Type: "m.room.member", StateKey: bob}] = bobJoin.id
	jr := mk(spec{typ: "m.room.join_rules", stateKey: sk(""), content: `{"join_rule":"public"}`, prevs: []*pdu.PDU{bobJoin.ev}, state: st})
	st[core.StateKey{Type: "m.room.join_rules"}] = jr.id
	state := []json.RawMessage{jr.raw, bobJoin.raw, create.raw}
	prev := jr.ev
	var members, forged []string
	for i := range 500 {
		user := fmt.Sprintf("@u%d:%s", i, remoteName)
		m := mk(spec{sender: user, typ: "m.room.member", stateKey: sk(user), content: `{"membership":"join"}`, prevs: []*pdu.PDU{prev}, state: st})
		if i%97 == 5 {
			m.ev.OriginServerTS++ // the signature no longer matches
			m.raw, _ = m.ev.MarshalFor(v)
			forged = append(forged, user)
		} else {
			members = append(members, user)
		}
		state = append(state, m.raw)
		prev = m.ev
	}
	join := build(t, v, roomID, server, f.key, spec{sender: alice, typ: "m.room.member", stateKey: sk(alice),
		content: `{"membership":"join"}`, prevs: []*pdu.PDU{prev}, auth: []string{create.id, jr.id}})
	resp := &core.SendJoinResponse{State: state, AuthChain: []json.RawMessage{create.raw, bobJoin.raw, jr.raw}}
	if _, err := f.fed.StoreSendJoin(context.Background(), remoteName, "10", join.raw, resp); err != nil {
		t.Fatal(err)
	}
	if resp.State != nil || resp.AuthChain != nil {
		t.Error("StoreSendJoin kept the answer's events")
	}
	cur := f.current(t, roomID)
	if got, want := len(cur), 3+len(members)+1; got != want {
		t.Fatalf("current state has %d entries, want %d", got, want)
	}
	for _, u := range members {
		if cur[core.StateKey{Type: "m.room.member", StateKey: u}] == "" {
			t.Fatalf("%s's join is not in the state", u)
		}
	}
	for _, u := range forged {
		if id := cur[core.StateKey{Type: "m.room.member", StateKey: u}]; id != "" {
			t.Fatalf("the forged join of %s is in the state as %s", u, id)
		}
	}
	if len(forged) < 4 {
		t.Fatalf("only %d forged events", len(forged))
	}
}

// JoinRemote takes in the send_join answer while it is read, a chunk at a
// time: here the state comes first, its members before the m.room.create
// and join rules they need, and the auth chain last, over several chunks.
func TestJoinRemoteTakesAnswerInChunks(t *testing.T) {
	v, _ := roomversion.Lookup("10")
	f := newFedFixture(t)
	roomID := "!chunks:" + remoteName
	mk := func(s spec) built {
		if s.sender == "" {
			s.sender = bob
		}
		return build(t, v, roomID, remoteName, f.remote.key, s)
	}
	create := mk(spec{typ: "m.room.create", stateKey: sk(""), content: `{"room_version":"10","creator":"` + bob + `"}`, auth: []string{}})
	st := core.StateMap{{Type: "m.room.create"}: create.id}
	bobJoin := mk(spec{typ: "m.room.member", stateKey: sk(bob), content: `{"membership":"join"}`, prevs: []*pdu.PDU{create.ev}, state: st})
	st[core.StateKey{Type: "m.room.member", StateKey: bob}] = bobJoin.id
	jr := mk(spec{typ: "m.room.join_rules", stateKey: sk(""), content: `{"join_rule":"public"}`, prevs: []*pdu.PDU{bobJoin.ev}, state: st})
	st[core.StateKey{Type: "m.room.join_rules"}] = jr.id
	var state []json.RawMessage
	prev := jr.ev
	const members = 1200
	for i := range members {
		user := fmt.Sprintf("@u%d:%s", i, remoteName)
		m := mk(spec{sender: user, typ: "m.room.member", stateKey: sk(user), content: `{"membership":"join"}`, prevs: []*pdu.PDU{prev}, state: st})
		state = append(state, m.raw)
		prev = m.ev
	}
	state = append(state, jr.raw, bobJoin.raw, create.raw)
	f.client.handle("GET /_matrix/federation/v1/make_join/", func(string, any) (any, error) {
		return map[string]any{"room_version": "10", "event": map[string]any{
			"type": "m.room.member", "room_id": roomID, "sender": alice, "state_key": alice,
			"content": map[string]any{"membership": "join"}, "auth_events": []string{create.id, jr.id},
			"prev_events": []string{prev.EventID}, "depth": prev.Depth + 1, "origin": server,
		}}, nil
	})
	f.client.handle("PUT /_matrix/federation/v2/send_join/", func(string, any) (any, error) {
		return map[string]any{"origin": remoteName, "state": state,
			"auth_chain": []json.RawMessage{create.raw, bobJoin.raw, jr.raw}}, nil
	})
	id, err := f.fed.JoinRemote(context.Background(), roomID, alice, "", []string{remoteName})
	if err != nil {
		t.Fatal(err)
	}
	cur := f.current(t, roomID)
	if got, want := len(cur), 3+members+1; got != want {
		t.Fatalf("current state has %d entries, want %d", got, want)
	}
	if cur[core.StateKey{Type: "m.room.member", StateKey: alice}] != id {
		t.Fatalf("alice's membership is %s, want her join %s", cur[core.StateKey{Type: "m.room.member", StateKey: alice}], id)
	}
	for _, raw := range state {
		e, err := pdu.Parse(v, raw)
		if err != nil {
			t.Fatal(err)
		}
		if se := f.event(t, e.EventID).Stored; !se.Outlier || se.Rejected != "" {
			t.Fatalf("%s stored as outlier=%v rejected=%q", e.EventID, se.Outlier, se.Rejected)
		}
	}
}
