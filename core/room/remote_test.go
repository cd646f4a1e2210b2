package room_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/core/signing"
)

// A remote join and message are accepted, become the room's forward
// extremity and change its current state.
func TestReceivePDUsAccepts(t *testing.T) {
	for _, version := range []string{"1", "6", "10", "11", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			f := newFedFixture(t)
			roomID, v, join := f.publicRoomWithBob(t, version)
			if got := f.current(t, roomID)[core.StateKey{Type: "m.room.member", StateKey: bob}]; got != join.id {
				t.Fatalf("bob's membership in current state is %q, want %q", got, join.id)
			}
			msg := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"hi","msgtype":"m.text"}`,
				prevs: []*pdu.PDU{join.ev}, state: f.current(t, roomID)})
			if err := f.receive(t, msg); err != nil {
				t.Fatalf("message: %v", err)
			}
			if got := f.tip(t, roomID).EventID; got != msg.id {
				t.Fatalf("forward extremity is %s, want the message %s", got, msg.id)
			}
			e := f.event(t, msg.id)
			if e.Stored.Outlier || e.Stored.Rejected != "" || e.Stored.SoftFailed {
				t.Fatalf("message stored as outlier=%v rejected=%q soft-failed=%v", e.Stored.Outlier, e.Stored.Rejected, e.Stored.SoftFailed)
			}
			// The pipeline builds the next local event on the remote one.
			id, err := f.p.Send(context.Background(), roomID, room.Proto{Type: "m.room.message", Sender: alice, Content: json.RawMessage(`{"body":"hello bob"}`)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if prevs := f.event(t, id).PDU.PrevEvents; len(prevs) != 1 || prevs[0] != msg.id {
				t.Fatalf("local event's prev_events = %v, want [%s]", prevs, msg.id)
			}
		})
	}
}

// Check 1: an event that does not follow the room version's format is
// dropped.
func TestReceivePDUsDropsInvalid(t *testing.T) {
	f := newFedFixture(t)
	roomID, v, join := f.publicRoomWithBob(t, "11")
	cases := map[string]func(b built) json.RawMessage{
		"depth not an integer": func(b built) json.RawMessage {
			return json.RawMessage(replaceDepth(b.raw))
		},
		"too large": func(b built) json.RawMessage {
			big := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"` + strings.Repeat("x", pdu.MaxSize) + `"}`,
				prevs: []*pdu.PDU{join.ev}, state: f.current(t, roomID)})
			return big.raw
		},
		"non-canonical number": func(b built) json.RawMessage {
			return json.RawMessage(strings.Replace(string(b.raw), `"content":{`, `"content":{"n":1.5,`, 1))
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			msg := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"hi"}`,
				prevs: []*pdu.PDU{join.ev}, state: f.current(t, roomID)})
			res := f.fed.ReceivePDUs(context.Background(), remoteName, []json.RawMessage{mk(msg)})
			if len(res) != 1 {
				t.Fatalf("results = %v, want one", res)
			}
			for key, err := range res {
				if !errors.Is(err, room.ErrPDUInvalid) {
					t.Fatalf("result = %v, want ErrPDUInvalid", err)
				}
				// Keyed by the event's ID (the spec's PDU processing
				// results), which its reference hash gives.
				if !strings.HasPrefix(key, "$") {
					t.Fatalf("result keyed by %q, want the event ID", key)
				}
			}
			if got := f.tip(t, roomID).EventID; got != join.id {
				t.Fatalf("forward extremity moved to %s", got)
			}
		})
	}
	t.Run("unknown room", func(t *testing.T) {
		msg := f.remoteEvent(t, v, "!nowhere:remote.test", spec{typ: "m.room.message", content: `{}`,
			prevs: []*pdu.PDU{join.ev}, auth: []string{}})
		res := f.fed.ReceivePDUs(context.Background(), remoteName, []json.RawMessage{msg.raw})
		if err := res["#0"]; len(res) != 1 || !errors.Is(err, room.ErrPDUInvalid) {
			t.Fatalf("results = %v, want #0: ErrPDUInvalid", res)
		}
	})
}

// replaceDepth writes depth as a string.
func replaceDepth(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	m["depth"] = json.RawMessage(`"` + string(m["depth"]) + `"`)
	b, _ := json.Marshal(m)
	return string(b)
}

// Check 2: an event not signed by its sender's server, or with a signature
// that does not verify, is dropped and not stored.
func TestReceivePDUsDropsBadSignature(t *testing.T) {
	f := newFedFixture(t)
	roomID, v, join := f.publicRoomWithBob(t, "11")
	other, err := signing.GenerateKey("other")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]built{
		// Signed by a key the remote server does not have.
		"unknown key": build(t, v, roomID, remoteName, other, spec{sender: bob, typ: "m.room.message", content: `{"body":"x"}`,
			prevs: []*pdu.PDU{join.ev}, state: f.current(t, roomID)}),
	}
	// A field the signature covers changed after signing.
	forged := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"x"}`,
		prevs: []*pdu.PDU{join.ev}, state: f.current(t, roomID)})
	forged.ev.OriginServerTS++
	forged.raw, _ = forged.ev.MarshalFor(v)
	forged.id, _ = forged.ev.ComputeEventID(v)
	cases["field changed after signing"] = forged
	// Signed by the remote server for a user of this server.
	cases["sender of another server"] = build(t, v, roomID, remoteName, f.remote.key, spec{sender: alice, typ: "m.room.message",
		content: `{"body":"x"}`, prevs: []*pdu.PDU{join.ev}, state: f.current(t, roomID)})
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if err := f.receive(t, b); !errors.Is(err, room.ErrPDUSignature) {
				t.Fatalf("result = %v, want ErrPDUSignature", err)
			}
			if _, err := f.events.Event(context.Background(), b.id); !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("event stored: %v", err)
			}
		})
	}
}

// Check 3: an event whose content does not match its content hash is
// redacted before it is processed further.
func TestReceivePDUsRedactsOnHashMismatch(t *testing.T) {
	f := newFedFixture(t)
	roomID, v, join := f.publicRoomWithBob(t, "11")
	msg := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"original","msgtype":"m.text"}`,
		prevs: []*pdu.PDU{join.ev}, state: f.current(t, roomID)})
	// The signature covers the redacted event, so changing the content
	// keeps it valid but breaks the hash.
	msg.ev.Content = json.RawMessage(`{"body":"tampered","msgtype":"m.text"}`)
	msg.raw, _ = msg.ev.MarshalFor(v)
	if id, _ := msg.ev.ComputeEventID(v); id != msg.id {
		t.Fatalf("event ID changed with the content: %s != %s", id, msg.id)
	}
	if err := f.receive(t, msg); err != nil {
		t.Fatalf("result = %v, want accepted (redacted)", err)
	}
	e := f.event(t, msg.id)
	if string(e.PDU.Content) != "{}" {
		t.Fatalf("stored content = %s, want {} (redacted)", e.PDU.Content)
	}
	if got := f.tip(t, roomID).EventID; got != msg.id {
		t.Fatalf("forward extremity is %s, want %s", got, msg.id)
	}
}

// Check 4: an event whose auth_events do not match the auth events
// selection is rejected, and stored as rejected.
func TestReceivePDUsRejectsByAuthEvents(t *testing.T) {
	f := newFedFixture(t)
	roomID, v, join := f.publicRoomWithBob(t, "11")
	cur := f.current(t, roomID)
	auth := []string{cur[core.StateKey{Type: "m.room.create"}], cur[core.StateKey{Type: "m.room.power_levels"}],
		cur[core.StateKey{Type: "m.room.member", StateKey: bob}], cur[core.StateKey{Type: "m.room.join_rules"}]}
	msg := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"x"}`,
		prevs: []*pdu.PDU{join.ev}, auth: auth})
	err := f.receive(t, msg)
	if !errors.Is(err, room.ErrPDURejected) || !strings.Contains(err.Error(), "auth events") {
		t.Fatalf("result = %v, want ErrPDURejected against its auth events", err)
	}
	e := f.event(t, msg.id)
	if e.Stored.Rejected == "" {
		t.Fatal("event not recorded as rejected")
	}
	if got := f.tip(t, roomID).EventID; got != join.id {
		t.Fatalf("forward extremity moved to %s", got)
	}
}

// Check 5: an event allowed by its own auth events but not by the state
// before it (its prev_events precede the sender's join) is rejected.
func TestReceivePDUsRejectsByStateBefore(t *testing.T) {
	f := newFedFixture(t)
	ctx := context.Background()
	roomID, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, Preset: room.PresetPublicChat, RoomVersion: "11"})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := f.p.Version(ctx, roomID)
	before := f.tip(t, roomID)
	stateBefore := f.current(t, roomID)
	join := f.remoteEvent(t, v, roomID, spec{typ: "m.room.member", stateKey: sk(bob), content: `{"membership":"join"}`,
		prevs: []*pdu.PDU{before}, state: stateBefore})
	if err := f.receive(t, join); err != nil {
		t.Fatal(err)
	}
	// Auth events name bob's join, prev_events the event before it.
	msg := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"x"}`,
		prevs: []*pdu.PDU{before}, state: f.current(t, roomID)})
	err = f.receive(t, msg)
	if !errors.Is(err, room.ErrPDURejected) || !strings.Contains(err.Error(), "state before") {
		t.Fatalf("result = %v, want ErrPDURejected against the state before it", err)
	}
	e := f.event(t, msg.id)
	if e.Stored.Rejected == "" || e.Stored.Outlier {
		t.Fatalf("stored as rejected=%q outlier=%v, want a rejected event in the DAG", e.Stored.Rejected, e.Stored.Outlier)
	}
	if got := f.tip(t, roomID).EventID; got != join.id {
		t.Fatalf("forward extremity is %s, want bob's join", got)
	}
}

// Check 6: an event allowed by the state before it but not by the current
// state (bob was banned meanwhile) is soft-failed: stored, never a forward
// extremity.
func TestReceivePDUsSoftFails(t *testing.T) {
	f := newFedFixture(t)
	ctx := context.Background()
	roomID, v, join := f.publicRoomWithBob(t, "11")
	stateAtJoin := f.current(t, roomID)
	if err := f.p.Ban(ctx, roomID, alice, bob, "spam"); err != nil {
		t.Fatal(err)
	}
	banTip := f.tip(t, roomID).EventID
	msg := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"still here"}`,
		prevs: []*pdu.PDU{join.ev}, state: stateAtJoin})
	err := f.receive(t, msg)
	if !errors.Is(err, room.ErrPDUSoftFailed) {
		t.Fatalf("result = %v, want ErrPDUSoftFailed", err)
	}
	e := f.event(t, msg.id)
	if !e.Stored.SoftFailed || e.Stored.Rejected != "" {
		t.Fatalf("stored soft-failed=%v rejected=%q", e.Stored.SoftFailed, e.Stored.Rejected)
	}
	if got := f.tip(t, roomID).EventID; got != banTip {
		t.Fatalf("forward extremity is %s, want the ban %s", got, banTip)
	}
}

// A PDU received twice is stored once.
func TestReceivePDUsIgnoresDuplicates(t *testing.T) {
	f := newFedFixture(t)
	roomID, v, join := f.publicRoomWithBob(t, "11")
	msg := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"x"}`,
		prevs: []*pdu.PDU{join.ev}, state: f.current(t, roomID)})
	res := f.fed.ReceivePDUs(context.Background(), remoteName, []json.RawMessage{msg.raw, msg.raw})
	if len(res) != 1 || res[msg.id] != nil {
		t.Fatalf("results = %v, want one accepted", res)
	}
	first := f.event(t, msg.id).Stored.StreamOrdering
	if err := f.receive(t, msg); err != nil {
		t.Fatal(err)
	}
	if again := f.event(t, msg.id).Stored.StreamOrdering; again != first {
		t.Fatalf("stream ordering changed from %d to %d", first, again)
	}
}

// A transaction of chained events (messages around a state change) is
// stored in order, each with the state after its predecessor.
func TestReceivePDUsChainInOneTransaction(t *testing.T) {
	f := newFedFixture(t)
	roomID, v, join := f.publicRoomWithBob(t, "11")
	state := f.current(t, roomID)
	prev := join.ev
	var chain []built
	for i := range 6 {
		s := spec{typ: "m.room.message", content: fmt.Sprintf(`{"body":"%d"}`, i), prevs: []*pdu.PDU{prev}, state: state}
		if i == 3 {
			s = spec{typ: "m.room.member", stateKey: sk(bob), content: `{"membership":"join","displayname":"Bob"}`, prevs: []*pdu.PDU{prev}, state: state}
		}
		b := f.remoteEvent(t, v, roomID, s)
		if i == 3 {
			state = maps(state, core.StateKey{Type: "m.room.member", StateKey: bob}, b.id)
		}
		chain = append(chain, b)
		prev = b.ev
	}
	raws := make([]json.RawMessage, len(chain))
	for i, b := range chain {
		raws[i] = b.raw
	}
	for id, err := range f.fed.ReceivePDUs(context.Background(), remoteName, raws) {
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	var last int64
	for i, b := range chain {
		e := f.event(t, b.id)
		if e.Stored.StreamOrdering <= last {
			t.Fatalf("event %d stored out of order", i)
		}
		last = e.Stored.StreamOrdering
		want := join.id
		if i >= 3 {
			want = chain[3].id
		}
		if got := f.stateAt(t, b.id)[core.StateKey{Type: "m.room.member", StateKey: bob}]; got != want {
			t.Fatalf("bob's membership after event %d is %s, want %s", i, got, want)
		}
	}
	if got := f.tip(t, roomID).EventID; got != chain[5].id {
		t.Fatalf("forward extremity %s, want the last event", got)
	}
	if got := f.current(t, roomID)[core.StateKey{Type: "m.room.member", StateKey: bob}]; got != chain[3].id {
		t.Fatalf("current membership %s, want the display name change", got)
	}
}
