package room_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/room"
)

// TestRemoteKnock: the resident side of a knock. make_knock gives a
// template only where the join rule is knock; send_knock takes in the
// remote user's knock and answers the room's stripped state.
func TestRemoteKnock(t *testing.T) {
	ctx := context.Background()
	f := newFedFixture(t)
	roomID, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, Preset: room.PresetPublicChat, RoomVersion: "10"})
	if err != nil {
		t.Fatal(err)
	}
	// A public room: a knock is refused.
	if _, _, err := f.fed.MakeMembership(ctx, remoteName, roomID, bob, "knock", []string{"10"}); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("make_knock in a public room: %v, want M_FORBIDDEN", err)
	}
	jr := ""
	if _, err := f.p.SendState(ctx, roomID, room.Proto{Type: "m.room.join_rules", StateKey: &jr, Sender: alice, Content: json.RawMessage(`{"join_rule":"knock"}`)}); err != nil {
		t.Fatal(err)
	}
	// Another server's user, or a version the remote lacks: refused.
	if _, _, err := f.fed.MakeMembership(ctx, remoteName, roomID, "@eve:evil.test", "knock", []string{"10"}); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("make_knock for another server's user: %v", err)
	}
	if _, _, err := f.fed.MakeMembership(ctx, remoteName, roomID, bob, "knock", []string{"6"}); !errors.Is(err, core.ErrIncompatibleRoomVer) {
		t.Errorf("make_knock without the room's version: %v", err)
	}
	version, template, err := f.fed.MakeMembership(ctx, remoteName, roomID, bob, "knock", []string{"10"})
	if err != nil || version != "10" {
		t.Fatalf("make_knock: %q %v", version, err)
	}
	var tpl struct {
		Type     string `json:"type"`
		StateKey string `json:"state_key"`
		Sender   string `json:"sender"`
		Content  struct {
			Membership string `json:"membership"`
		} `json:"content"`
		PrevEvents []string `json:"prev_events"`
	}
	if err := json.Unmarshal(template, &tpl); err != nil || tpl.Type != "m.room.member" || tpl.StateKey != bob || tpl.Sender != bob ||
		tpl.Content.Membership != "knock" || len(tpl.PrevEvents) != 1 {
		t.Fatalf("template %s: %v", template, err)
	}
	v, _ := f.p.Version(ctx, roomID)
	knock := f.remoteEvent(t, v, roomID, spec{typ: "m.room.member", stateKey: sk(bob), content: `{"membership":"knock"}`,
		prevs: []*pdu.PDU{f.tip(t, roomID)}, state: f.current(t, roomID)})
	// The wrong membership for the endpoint, or the wrong event ID.
	if _, err := f.fed.SendMembership(ctx, remoteName, roomID, knock.id, "join", knock.raw); !errors.Is(err, core.ErrBadJSON) {
		t.Errorf("a knock sent as a join: %v", err)
	}
	if _, err := f.fed.SendMembership(ctx, remoteName, roomID, "$other", "knock", knock.raw); !errors.Is(err, core.ErrBadJSON) {
		t.Errorf("a knock under another event ID: %v", err)
	}
	resp, err := f.fed.SendMembership(ctx, remoteName, roomID, knock.id, "knock", knock.raw)
	if err != nil {
		t.Fatalf("send_knock: %v", err)
	}
	types := map[string]bool{}
	for _, raw := range resp.State {
		var e struct {
			Type string `json:"type"`
		}
		json.Unmarshal(raw, &e)
		types[e.Type] = true
	}
	if !types["m.room.create"] || !types["m.room.join_rules"] {
		t.Errorf("knock_room_state has %v, want the create and join rules events", types)
	}
	if m := f.current(t, roomID)[core.StateKey{Type: "m.room.member", StateKey: bob}]; m != knock.id {
		t.Errorf("bob's member event is %s, want the knock %s", m, knock.id)
	}
}
