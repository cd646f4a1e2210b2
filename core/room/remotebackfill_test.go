package room_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// After joining a remote room, its history before the join is fetched
// with /backfill: stored in the DAG before the join, with negative stream
// orderings, and the room has no backward extremity left.
func TestBackfill(t *testing.T) {
	f := newFedFixture(t)
	ctx := context.Background()
	v, _ := roomversion.Lookup("10")
	roomID := "!history:" + remoteName
	mk := func(s spec) built { s.sender = bob; return build(t, v, roomID, remoteName, f.remote.key, s) }
	create := mk(spec{typ: "m.room.create", stateKey: sk(""), content: `{"room_version":"10","creator":"` + bob + `"}`, auth: []string{}})
	st := core.StateMap{{Type: "m.room.create"}: create.id}
	bobJoin := mk(spec{typ: "m.room.member", stateKey: sk(bob), content: `{"membership":"join"}`, prevs: []*pdu.PDU{create.ev}, state: st})
	st[core.StateKey{Type: "m.room.member", StateKey: bob}] = bobJoin.id
	jr := mk(spec{typ: "m.room.join_rules", stateKey: sk(""), content: `{"join_rule":"public"}`, prevs: []*pdu.PDU{bobJoin.ev}, state: st})
	st[core.StateKey{Type: "m.room.join_rules"}] = jr.id
	history := []built{create, bobJoin, jr}
	prev := jr.ev
	for _, body := range []string{"one", "two", "three"} {
		m := mk(spec{typ: "m.room.message", content: `{"body":"` + body + `"}`, prevs: []*pdu.PDU{prev}, state: st})
		history = append(history, m)
		prev = m.ev
	}
	get := func(id string) *pdu.PDU {
		for _, b := range history {
			if b.id == id {
				return b.ev
			}
		}
		return nil
	}
	join := build(t, v, roomID, server, f.key, spec{sender: alice, typ: "m.room.member", stateKey: sk(alice),
		content: `{"membership":"join"}`, prevs: []*pdu.PDU{prev}, state: st, get: get})
	resp := &core.SendJoinResponse{State: []json.RawMessage{create.raw, bobJoin.raw, jr.raw}, AuthChain: []json.RawMessage{create.raw, bobJoin.raw}}
	if _, err := f.fed.StoreSendJoin(ctx, remoteName, "10", join.raw, resp); err != nil {
		t.Fatal(err)
	}
	var asked string
	f.client.handle("GET /_matrix/federation/v1/backfill/", func(path string, _ any) (any, error) {
		asked = path
		raws := make([]json.RawMessage, 0, len(history))
		for i := len(history) - 1; i >= 0; i-- {
			raws = append(raws, history[i].raw)
		}
		return map[string]any{"origin": remoteName, "pdus": raws}, nil
	})
	n, err := f.fed.Backfill(ctx, roomID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(asked, "v="+strings.ReplaceAll(history[5].id, "$", "%24")) {
		t.Fatalf("backfill asked %s, want from the join's prev_event", asked)
	}
	if n != len(history) {
		t.Fatalf("Backfill added %d events, want %d", n, len(history))
	}
	for _, b := range history {
		e := f.event(t, b.id)
		if e.Stored.Outlier || e.Stored.Rejected != "" || e.Stored.StreamOrdering >= 0 {
			t.Fatalf("%s: outlier=%v rejected=%q stream=%d; want a backfilled event", b.ev.Type, e.Stored.Outlier, e.Stored.Rejected, e.Stored.StreamOrdering)
		}
	}
	evs, _, err := f.events.RoomEventsTopological(ctx, roomID, core.TopologicalEnd, core.TopologicalStart, core.Backward, 20)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.EventID)
	}
	want := []string{join.id}
	for i := len(history) - 1; i >= 0; i-- {
		want = append(want, history[i].id)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("timeline newest first = %v, want %v", got, want)
	}
	if back, err := f.events.BackwardExtremities(ctx, roomID); err != nil || len(back) != 0 {
		t.Fatalf("backward extremities after backfilling to the create event: %v, %v", back, err)
	}
	if got := f.tip(t, roomID).EventID; got != join.id {
		t.Fatalf("forward extremity %s, want the join", got)
	}
	if n, err := f.fed.Backfill(ctx, roomID, 10); n != 0 || err != nil {
		t.Fatalf("a second Backfill = %d, %v; want nothing to do", n, err)
	}
}
