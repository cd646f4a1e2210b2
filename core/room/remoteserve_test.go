package room_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/room"
)

// sendMsgs sends n messages of alice's and returns their IDs.
func (f *fedFixture) sendMsgs(t *testing.T, roomID string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id, err := f.p.Send(context.Background(), roomID, room.Proto{Type: "m.room.message", Sender: alice,
			Content: json.RawMessage(fmt.Sprintf(`{"body":"m%d","msgtype":"m.text"}`, i))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func idsOf(t *testing.T, f *fedFixture, roomID string, raws []json.RawMessage) []string {
	t.Helper()
	v, err := f.p.Version(context.Background(), roomID)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(raws))
	for i, raw := range raws {
		e, err := pdu.Parse(v, raw)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = e.EventID
	}
	return out
}

func TestServeStateIDs(t *testing.T) {
	f := newFedFixture(t)
	ctx := context.Background()
	roomID, _, join := f.publicRoomWithBob(t, "11")
	msgs := f.sendMsgs(t, roomID, 1)
	// At the message: the current state, bob's join included.
	ids, chain, err := f.fed.ServeStateIDs(ctx, remoteName, roomID, msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	cur := f.current(t, roomID)
	var want []string
	for _, id := range cur {
		want = append(want, id)
	}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("state at the message = %v, want %v", ids, want)
	}
	if !slices.Contains(chain, cur[core.StateKey{Type: "m.room.create"}]) || !slices.Contains(chain, join.id) {
		t.Fatalf("auth chain %v lacks the create event or bob's join", chain)
	}
	// At bob's join: the state before it, without bob.
	ids, _, err = f.fed.ServeStateIDs(ctx, remoteName, roomID, join.id)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ids, join.id) || len(ids) != len(cur)-1 {
		t.Fatalf("state before bob's join = %v", ids)
	}
	pdus, authChain, err := f.fed.ServeState(ctx, remoteName, roomID, join.id)
	if err != nil || len(pdus) != len(ids) || len(authChain) == 0 {
		t.Fatalf("ServeState = %d PDUs, %d auth events, %v", len(pdus), len(authChain), err)
	}
	// A server with nobody in the room is refused.
	if _, _, err := f.fed.ServeStateIDs(ctx, "stranger.test", roomID, join.id); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("a stranger's state_ids: %v, want M_FORBIDDEN", err)
	}
}

func TestServeEventHistoryVisibility(t *testing.T) {
	f := newFedFixture(t)
	ctx := context.Background()
	roomID, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, Preset: room.PresetPublicChat, RoomVersion: "11",
		InitialState: []room.StateProto{{Type: "m.room.history_visibility", Content: json.RawMessage(`{"history_visibility":"joined"}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := f.p.Version(ctx, roomID)
	before := f.sendMsgs(t, roomID, 1)[0]
	join := f.remoteEvent(t, v, roomID, spec{typ: "m.room.member", stateKey: sk(bob), content: `{"membership":"join"}`,
		prevs: []*pdu.PDU{f.tip(t, roomID)}, state: f.current(t, roomID)})
	if err := f.receive(t, join); err != nil {
		t.Fatal(err)
	}
	after := f.sendMsgs(t, roomID, 1)[0]
	got, err := f.fed.ServeEvent(ctx, remoteName, before)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct{ Content map[string]any }
	json.Unmarshal(got, &ev)
	if len(ev.Content) != 0 {
		t.Fatalf("a message from before bob joined a joined-only room reaches his server with content %v", ev.Content)
	}
	got, err = f.fed.ServeEvent(ctx, remoteName, after)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(f.event(t, after).Stored.JSON) {
		t.Fatalf("message after the join served as %s", got)
	}
	if _, err := f.fed.ServeEvent(ctx, remoteName, "$nope"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown event: %v", err)
	}
	if _, err := f.fed.ServeEvent(ctx, "stranger.test", after); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("a stranger's /event: %v, want M_FORBIDDEN", err)
	}
}

// A server the room's ACL denies is refused when it asks, and its events
// are refused when it sends them.
func TestServerACL(t *testing.T) {
	f := newFedFixture(t)
	ctx := context.Background()
	roomID, v, join := f.publicRoomWithBob(t, "11")
	if _, err := f.p.SendState(ctx, roomID, room.Proto{Type: room.TypeServerACL, StateKey: sk(""), Sender: alice,
		Content: json.RawMessage(`{"allow":["*"],"deny":["remote.test"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.fed.ServeEvent(ctx, remoteName, join.id); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("/event from a denied server: %v", err)
	}
	msg := f.remoteEvent(t, v, roomID, spec{typ: "m.room.message", content: `{"body":"x"}`, prevs: []*pdu.PDU{f.tip(t, roomID)}, state: f.current(t, roomID)})
	if err := f.receive(t, msg); !errors.Is(err, room.ErrPDUInvalid) || !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("PDU from a denied server: %v", err)
	}
}

func TestServerAllowed(t *testing.T) {
	acl := json.RawMessage(`{"allow":["*.example.org","good.test","h?st.test"],"deny":["bad.example.org"],"allow_ip_literals":false}`)
	cases := map[string]bool{
		"a.example.org":       true,
		"A.Example.ORG:8448":  true,
		"bad.example.org":     false,
		"example.org":         false,
		"good.test":           true,
		"host.test":           true,
		"hoost.test":          false,
		"127.0.0.1:8448":      false,
		"[::1]:8448":          false,
		"evil.test":           false,
		"good.test.evil.test": false,
	}
	for name, want := range cases {
		if got := room.ServerAllowed(acl, name); got != want {
			t.Errorf("ServerAllowed(%q) = %v, want %v", name, got, want)
		}
	}
	if !room.ServerAllowed(nil, "anything") {
		t.Error("no ACL denies a server")
	}
	if !room.ServerAllowed(json.RawMessage(`{"allow":["*"]}`), "127.0.0.1:1") {
		t.Error("IP literals are allowed by default")
	}
}

func TestServeBackfillAndMissingEvents(t *testing.T) {
	f := newFedFixture(t)
	ctx := context.Background()
	roomID, _, _ := f.publicRoomWithBob(t, "11")
	m := f.sendMsgs(t, roomID, 5)
	got, err := f.fed.ServeBackfill(ctx, remoteName, roomID, []string{m[4]}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if ids := idsOf(t, f, roomID, got); !slices.Equal(ids, []string{m[4], m[3], m[2]}) {
		t.Fatalf("backfill = %v, want m4 m3 m2", ids)
	}
	got, err = f.fed.ServeMissingEvents(ctx, remoteName, roomID, []string{m[0]}, []string{m[4]}, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ids := idsOf(t, f, roomID, got); !slices.Equal(ids, []string{m[1], m[2], m[3]}) {
		t.Fatalf("missing events = %v, want m1 m2 m3", ids)
	}
	if _, err := f.fed.ServeBackfill(ctx, "stranger.test", roomID, []string{m[4]}, 3); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("a stranger's backfill: %v", err)
	}
}
