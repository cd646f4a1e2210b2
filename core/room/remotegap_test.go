package room_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
)

// Missing prev_events are fetched with get_missing_events and taken in,
// oldest first.
func TestReceivePDUsFetchesMissingEvents(t *testing.T) {
	f := newFedFixture(t)
	roomID, v, join := f.publicRoomWithBob(t, "11")
	state := f.current(t, roomID)
	m1 := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"1"}`, prevs: []*pdu.PDU{join.ev}, state: state})
	m2 := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"2"}`, prevs: []*pdu.PDU{m1.ev}, state: state})
	m3 := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"3"}`, prevs: []*pdu.PDU{m2.ev}, state: state})
	var asked map[string]any
	f.client.handle("POST /_matrix/federation/v1/get_missing_events/", func(path string, body any) (any, error) {
		asked = body.(map[string]any)
		return map[string]any{"events": []json.RawMessage{m2.raw, m1.raw}}, nil
	})
	if err := f.receive(t, m3); err != nil {
		t.Fatal(err)
	}
	if got := asked["latest_events"].([]string); !slices.Equal(got, []string{m3.id}) {
		t.Fatalf("latest_events = %v", got)
	}
	if got := asked["earliest_events"].([]string); !slices.Equal(got, []string{join.id}) {
		t.Fatalf("earliest_events = %v, want bob's join", got)
	}
	for _, b := range []built{m1, m2, m3} {
		if e := f.event(t, b.id); e.Stored.Outlier || e.Stored.Rejected != "" {
			t.Fatalf("%s stored as outlier=%v rejected=%q", e.PDU.Content, e.Stored.Outlier, e.Stored.Rejected)
		}
	}
	if f.event(t, m1.id).Stored.StreamOrdering >= f.event(t, m3.id).Stored.StreamOrdering {
		t.Fatal("m1 was stored after m3")
	}
	if got := f.tip(t, roomID).EventID; got != m3.id {
		t.Fatalf("forward extremity is %s, want m3", got)
	}
}

// When get_missing_events does not close the gap, the state at the missing
// prev_event comes from /state_ids and /event; the prev_event is stored as
// an outlier and becomes a backward extremity.
func TestReceivePDUsFetchesStateAtGap(t *testing.T) {
	f := newFedFixture(t)
	ctx := context.Background()
	roomID, v, join := f.publicRoomWithBob(t, "11")
	state := f.current(t, roomID)
	// bob changes his display name (a state event) and writes after it;
	// only the message reaches this server.
	name := f.remoteEvent(t, v, roomID, spec{typ: "m.room.member", stateKey: sk(bob),
		content: `{"membership":"join","displayname":"Bob"}`, prevs: []*pdu.PDU{join.ev}, state: state})
	afterName := maps(state, core.StateKey{Type: "m.room.member", StateKey: bob}, name.id)
	msg := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"x"}`, prevs: []*pdu.PDU{name.ev}, state: afterName})
	f.client.handle("POST /_matrix/federation/v1/get_missing_events/", func(string, any) (any, error) {
		return map[string]any{"events": []json.RawMessage{}}, nil
	})
	f.client.handle("GET /_matrix/federation/v1/state_ids/", func(path string, _ any) (any, error) {
		if !strings.Contains(path, "event_id="+strings.ReplaceAll(name.id, "$", "%24")) {
			t.Errorf("state_ids asked for %s", path)
		}
		ids := []string{}
		for _, id := range state {
			ids = append(ids, id)
		}
		return map[string]any{"pdu_ids": ids, "auth_chain_ids": ids}, nil
	})
	f.client.handle("GET /_matrix/federation/v1/event_auth/", func(string, any) (any, error) {
		return map[string]any{"auth_chain": []json.RawMessage{name.raw}}, nil
	})
	f.client.handle("GET /_matrix/federation/v1/event/", func(path string, _ any) (any, error) {
		id := pathUnescape(t, strings.TrimPrefix(path, "/_matrix/federation/v1/event/"))
		if id != name.id {
			return nil, core.ErrNotFound
		}
		return map[string]any{"origin": remoteName, "pdus": []json.RawMessage{name.raw}}, nil
	})
	if err := f.receive(t, msg); err != nil {
		t.Fatal(err)
	}
	if e := f.event(t, name.id); !e.Stored.Outlier {
		t.Fatal("the missing prev_event is not an outlier")
	}
	if got := f.stateAt(t, msg.id)[core.StateKey{Type: "m.room.member", StateKey: bob}]; got != name.id {
		t.Fatalf("bob's membership at the message is %s, want the display name change", got)
	}
	back, err := f.events.BackwardExtremities(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(back, name.id) {
		t.Fatalf("backward extremities %v lack the gap %s", back, name.id)
	}
	// The gap's state is the room's current state now.
	if got := f.current(t, roomID)[core.StateKey{Type: "m.room.member", StateKey: bob}]; got != name.id {
		t.Fatalf("current membership of bob is %s, want %s", got, name.id)
	}
}

func maps(m core.StateMap, k core.StateKey, id string) core.StateMap {
	out := core.StateMap{}
	for kk, v := range m {
		out[kk] = v
	}
	out[k] = id
	return out
}

// A state fork (a local and a remote topic, both on the same parent) is
// resolved into the room's current state, and the next local event
// references both ends.
func TestReceivePDUsResolvesForks(t *testing.T) {
	f := newFedFixture(t)
	ctx := context.Background()
	roomID, v, join := f.publicRoomWithBob(t, "11")
	// bob gets power to set the topic.
	if _, err := f.p.SendState(ctx, roomID, room.Proto{Type: "m.room.power_levels", StateKey: sk(""), Sender: alice,
		Content: json.RawMessage(`{"users":{"` + alice + `":100,"` + bob + `":100}}`)}); err != nil {
		t.Fatal(err)
	}
	parent := f.tip(t, roomID)
	parentState := f.current(t, roomID)
	localTopic, err := f.p.SendState(ctx, roomID, room.Proto{Type: "m.room.topic", StateKey: sk(""), Sender: alice, Content: json.RawMessage(`{"topic":"local"}`)})
	if err != nil {
		t.Fatal(err)
	}
	local := f.event(t, localTopic)
	remoteTopic := f.remoteEvent(t, v, roomID, spec{typ: "m.room.topic", stateKey: sk(""), content: `{"topic":"remote"}`,
		prevs: []*pdu.PDU{parent}, state: parentState, ts: local.PDU.OriginServerTS + 1000})
	if err := f.receive(t, remoteTopic); err != nil {
		t.Fatal(err)
	}
	exts, err := f.events.ForwardExtremities(ctx, roomID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(exts) != 2 {
		t.Fatalf("forward extremities = %v, want the two topics", exts)
	}
	// Same power, same mainline position: the later timestamp wins.
	if got := f.current(t, roomID)[core.StateKey{Type: "m.room.topic"}]; got != remoteTopic.id {
		t.Fatalf("current topic is %s, want the remote one %s (local %s)", got, remoteTopic.id, localTopic)
	}
	id, err := f.p.Send(ctx, roomID, room.Proto{Type: "m.room.message", Sender: alice, Content: json.RawMessage(`{"body":"merge"}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prevs := f.event(t, id).PDU.PrevEvents
	slices.Sort(prevs)
	want := []string{localTopic, remoteTopic.id}
	slices.Sort(want)
	if !slices.Equal(prevs, want) {
		t.Fatalf("merge event's prev_events = %v, want %v", prevs, want)
	}
	if got := f.stateAt(t, id)[core.StateKey{Type: "m.room.topic"}]; got != remoteTopic.id {
		t.Fatalf("topic at the merge is %s", got)
	}
	_ = join
}

// A send_join answer is stored: the state and auth chain as outliers, the
// join with a state group from them, the room's current state; remote
// events after it are then accepted.
func TestStoreSendJoin(t *testing.T) {
	for _, version := range []string{"10", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			f := newFedFixture(t)
			ctx := context.Background()
			v, err := roomversion.Lookup(roomversion.ID(version))
			if err != nil {
				t.Fatal(err)
			}
			r := f.remote
			mk := func(roomID string, s spec) built {
				s.sender = bob
				return build(t, v, roomID, r.name, r.key, s)
			}
			createContent := `{"room_version":"` + version + `"` + map[bool]string{true: "", false: `,"creator":"` + bob + `"`}[v.RoomIDFromCreateEvent] + `}`
			roomID := "!remote:" + remoteName
			if v.RoomIDFromCreateEvent {
				roomID = ""
			}
			create := mk(roomID, spec{typ: "m.room.create", stateKey: sk(""), content: createContent, auth: []string{}})
			if v.RoomIDFromCreateEvent {
				roomID = "!" + strings.TrimPrefix(create.id, "$")
			}
			st := core.StateMap{{Type: "m.room.create"}: create.id}
			bobJoin := mk(roomID, spec{typ: "m.room.member", stateKey: sk(bob), content: `{"membership":"join"}`, prevs: []*pdu.PDU{create.ev}, state: st})
			st[core.StateKey{Type: "m.room.member", StateKey: bob}] = bobJoin.id
			plContent := `{"users":{"` + bob + `":100}}`
			if v.RoomIDFromCreateEvent {
				plContent = `{"users":{}}` // creators have infinite power
			}
			pl := mk(roomID, spec{typ: "m.room.power_levels", stateKey: sk(""), content: plContent, prevs: []*pdu.PDU{bobJoin.ev}, state: st})
			st[core.StateKey{Type: "m.room.power_levels"}] = pl.id
			jr := mk(roomID, spec{typ: "m.room.join_rules", stateKey: sk(""), content: `{"join_rule":"public"}`, prevs: []*pdu.PDU{pl.ev}, state: st})
			st[core.StateKey{Type: "m.room.join_rules"}] = jr.id
			all := []built{create, bobJoin, pl, jr}
			get := func(id string) *pdu.PDU {
				for _, b := range all {
					if b.id == id {
						return b.ev
					}
				}
				return nil
			}
			join := build(t, v, roomID, server, f.key, spec{sender: alice, typ: "m.room.member", stateKey: sk(alice),
				content: `{"membership":"join"}`, prevs: []*pdu.PDU{jr.ev}, state: st, get: get})
			raws := func(bs ...built) []json.RawMessage {
				out := make([]json.RawMessage, len(bs))
				for i, b := range bs {
					out[i] = b.raw
				}
				return out
			}
			// One state event forged: it is dropped, the rest stands.
			forged := mk(roomID, spec{typ: "m.room.name", stateKey: sk(""), content: `{"name":"x"}`, prevs: []*pdu.PDU{jr.ev}, state: st})
			forged.ev.OriginServerTS++
			forged.raw, _ = forged.ev.MarshalFor(v)
			resp := &core.SendJoinResponse{State: raws(jr, pl, bobJoin, create, forged), AuthChain: raws(create, bobJoin, pl)}
			id, err := f.fed.StoreSendJoin(ctx, remoteName, version, join.raw, resp)
			if err != nil {
				t.Fatal(err)
			}
			if id != join.id {
				t.Fatalf("join ID %s, want %s", id, join.id)
			}
			for _, b := range []built{create, bobJoin, pl, jr} {
				if e := f.event(t, b.id); !e.Stored.Outlier || e.Stored.Rejected != "" {
					t.Fatalf("%s: outlier=%v rejected=%q", b.ev.Type, e.Stored.Outlier, e.Stored.Rejected)
				}
			}
			cur := f.current(t, roomID)
			if len(cur) != 5 || cur[core.StateKey{Type: "m.room.member", StateKey: alice}] != join.id || cur[core.StateKey{Type: "m.room.join_rules"}] != jr.id {
				t.Fatalf("current state = %v", cur)
			}
			rooms, err := f.p.JoinedRooms(ctx, alice)
			if err != nil || !slices.Contains(rooms, roomID) {
				t.Fatalf("alice's joined rooms = %v, %v", rooms, err)
			}
			back, err := f.events.BackwardExtremities(ctx, roomID)
			if err != nil || !slices.Equal(back, []string{jr.id}) {
				t.Fatalf("backward extremities = %v, %v; want the join's prev_event", back, err)
			}
			// bob writes after alice's join: accepted on the join.
			st[core.StateKey{Type: "m.room.member", StateKey: alice}] = join.id
			msg := mk(roomID, spec{typ: "m.room.message", content: `{"body":"welcome"}`, prevs: []*pdu.PDU{join.ev}, state: st})
			if err := f.receive(t, msg); err != nil {
				t.Fatal(err)
			}
			if got := f.tip(t, roomID).EventID; got != msg.id {
				t.Fatalf("forward extremity %s, want bob's message", got)
			}
		})
	}
}

// A send_join answer whose state does not let the user join is refused.
func TestStoreSendJoinRefusesForbiddenJoin(t *testing.T) {
	f := newFedFixture(t)
	v, _ := roomversion.Lookup("10")
	roomID := "!invite-only:" + remoteName
	mk := func(s spec) built { s.sender = bob; return build(t, v, roomID, remoteName, f.remote.key, s) }
	create := mk(spec{typ: "m.room.create", stateKey: sk(""), content: `{"room_version":"10","creator":"` + bob + `"}`, auth: []string{}})
	st := core.StateMap{{Type: "m.room.create"}: create.id}
	bobJoin := mk(spec{typ: "m.room.member", stateKey: sk(bob), content: `{"membership":"join"}`, prevs: []*pdu.PDU{create.ev}, state: st})
	st[core.StateKey{Type: "m.room.member", StateKey: bob}] = bobJoin.id
	jr := mk(spec{typ: "m.room.join_rules", stateKey: sk(""), content: `{"join_rule":"invite"}`, prevs: []*pdu.PDU{bobJoin.ev}, state: st})
	st[core.StateKey{Type: "m.room.join_rules"}] = jr.id
	join := build(t, v, roomID, server, f.key, spec{sender: alice, typ: "m.room.member", stateKey: sk(alice),
		content: `{"membership":"join"}`, prevs: []*pdu.PDU{jr.ev}, state: st})
	resp := &core.SendJoinResponse{State: []json.RawMessage{create.raw, bobJoin.raw, jr.raw}, AuthChain: []json.RawMessage{create.raw, bobJoin.raw}}
	_, err := f.fed.StoreSendJoin(context.Background(), remoteName, "10", join.raw, resp)
	if err == nil || !strings.Contains(err.Error(), "M_FORBIDDEN") {
		t.Fatalf("StoreSendJoin = %v, want M_FORBIDDEN", err)
	}
	_ = signing.EncodeBase64
}
