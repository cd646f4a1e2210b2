package hearth

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/federation"
)

// signedMembership asks a (make_join or make_leave) for bob's template in
// roomID and returns it filled in and signed by b, with its event ID.
func signedMembership(t *testing.T, a, b *fedServer, make, roomID, membership string) (string, json.RawMessage) {
	t.Helper()
	var made struct {
		RoomVersion string                     `json:"room_version"`
		Event       map[string]json.RawMessage `json:"event"`
	}
	path := "/_matrix/federation/v1/" + make + "/" + url.PathEscape(roomID) + "/" + url.PathEscape(b.user)
	if make == "make_join" {
		path += "?ver=10&ver=11&ver=12"
	}
	if err := b.hs.FederationClient.Request(context.Background(), "a.test", "GET", path, nil, &made); err != nil {
		t.Fatalf("%s: %v", make, err)
	}
	v, err := roomversion.Lookup(roomversion.ID(made.RoomVersion))
	if err != nil {
		t.Fatalf("%s: room version %q: %v", make, made.RoomVersion, err)
	}
	made.Event["content"], _ = json.Marshal(map[string]string{"membership": membership})
	made.Event["origin_server_ts"], _ = json.Marshal(time.Now().UnixMilli())
	raw, _ := json.Marshal(made.Event)
	ev, err := pdu.Parse(v, raw)
	if err != nil {
		t.Fatalf("%s template: %v", make, err)
	}
	key := b.hs.FederationClient.Key
	if err := signing.SignEvent(v, ev, "b.test", key.ID, key.Private); err != nil {
		t.Fatal(err)
	}
	js, err := ev.MarshalFor(v)
	if err != nil {
		t.Fatal(err)
	}
	// The event ID is the reference hash, which covers the content hash.
	signed, err := pdu.Parse(v, js)
	if err != nil {
		t.Fatal(err)
	}
	return signed.EventID, js
}

// The deprecated v1 PUT /send_join and /send_leave still work, and answer
// as the spec has them: [200, {...}] (send_join's object with the room's
// state and auth chain, send_leave's empty).
func TestV1SendJoinAndLeave(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")
	roomID, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "public_chat", "name": "Old"})["room_id"].(string)
	bobMember := func() any {
		_, m := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
		return m["membership"]
	}

	eventID, join := signedMembership(t, a, b, "make_join", roomID, "join")
	var answer []json.RawMessage
	if err := b.hs.FederationClient.Request(context.Background(), "a.test", "PUT",
		"/_matrix/federation/v1/send_join/"+url.PathEscape(roomID)+"/"+url.PathEscape(eventID), join, &answer); err != nil {
		t.Fatalf("v1 send_join: %v", err)
	}
	var code int
	var resp struct {
		State     []map[string]any `json:"state"`
		AuthChain []map[string]any `json:"auth_chain"`
		Origin    string           `json:"origin"`
	}
	if len(answer) != 2 || json.Unmarshal(answer[0], &code) != nil || code != 200 || json.Unmarshal(answer[1], &resp) != nil {
		t.Fatalf("v1 send_join answered %s, want [200, {...}]", answer)
	}
	types := map[string]bool{}
	for _, e := range resp.State {
		types[e["type"].(string)] = true
	}
	if !types["m.room.create"] || !types["m.room.name"] || !types["m.room.member"] || len(resp.AuthChain) == 0 {
		t.Errorf("v1 send_join: state has %v, %d auth chain events", types, len(resp.AuthChain))
	}
	if resp.Origin != "" && resp.Origin != "a.test" {
		t.Errorf("v1 send_join: origin %q", resp.Origin)
	}
	if got := bobMember(); got != "join" {
		t.Fatalf("bob on a after v1 send_join: %v", got)
	}

	eventID, leave := signedMembership(t, a, b, "make_leave", roomID, "leave")
	answer = nil
	if err := b.hs.FederationClient.Request(context.Background(), "a.test", "PUT",
		"/_matrix/federation/v1/send_leave/"+url.PathEscape(roomID)+"/"+url.PathEscape(eventID), leave, &answer); err != nil {
		t.Fatalf("v1 send_leave: %v", err)
	}
	if len(answer) != 2 || string(answer[0]) != "200" || string(answer[1]) != "{}" {
		t.Errorf("v1 send_leave answered %s, want [200, {}]", answer)
	}
	if got := bobMember(); got != "leave" {
		t.Errorf("bob on a after v1 send_leave: %v", got)
	}

	// A leave sent again for an event not bob's: refused with a Matrix
	// error, in v1 as in v2.
	var re *federation.RemoteError
	if err := b.hs.FederationClient.Request(context.Background(), "a.test", "PUT",
		"/_matrix/federation/v1/send_leave/"+url.PathEscape(roomID)+"/"+url.PathEscape("$nope"), map[string]any{"type": "m.room.member"}, nil); !errors.As(err, &re) || re.Status != 400 {
		t.Errorf("v1 send_leave of a malformed event: %v, want 400", err)
	}
}
