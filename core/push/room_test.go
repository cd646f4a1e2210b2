package push

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core/roomversion"
)

func TestRoomStateContext(t *testing.T) {
	state := []StateEvent{
		{"m.room.create", "", []byte(`{"type":"m.room.create","state_key":"","sender":"@alice:example.org","room_id":"!r:example.org","content":{"room_version":"11"},"auth_events":[],"prev_events":[],"depth":1,"origin_server_ts":1,"hashes":{"sha256":"aGFzaA"},"signatures":{}}`)},
		{"m.room.power_levels", "", []byte(`{"type":"m.room.power_levels","state_key":"","sender":"@alice:example.org","room_id":"!r:example.org","content":{"notifications":{"room":20},"users":{"@alice:example.org":100},"users_default":5},"auth_events":[],"prev_events":[],"depth":2,"origin_server_ts":1,"hashes":{"sha256":"aGFzaA"},"signatures":{}}`)},
		{"m.room.member", "@alice:example.org", []byte(`{"content":{"membership":"join","displayname":"Alice"}}`)},
		{"m.room.member", "@bob:example.org", []byte(`{"content":{"membership":"join","displayname":7}}`)},
		{"m.room.member", "@carol:elsewhere.example", []byte(`{"content":{"membership":"join","displayname":"Major Tom"}}`)},
		{"m.room.member", "@dave:example.org", []byte(`{"content":{"membership":"leave","displayname":"Dave"}}`)},
		{"m.room.name", "", []byte(`{"content":{"name":"Mission Control"}}`)},
		{"m.room.canonical_alias", "", []byte(`{"content":{"alias":"#mc:example.org"}}`)},
	}
	rs, err := ReadRoomState("11", state)
	if err != nil {
		t.Fatal(err)
	}
	local := func(u string) bool { return u != "@carol:elsewhere.example" }
	got := rs.Context("@carol:elsewhere.example", local)
	want := RoomContext{
		MemberCount: 3, Recipients: map[string]string{"@alice:example.org": "Alice", "@bob:example.org": ""},
		SenderPowerLevel: 5, PowerLevels: json.RawMessage(`{"notifications":{"room":20},"users":{"@alice:example.org":100},"users_default":5}`),
		SenderDisplayName: "Major Tom", RoomName: "Mission Control", RoomAlias: "#mc:example.org",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Context(carol) (-want +got):\n%s", diff)
	}
	if got := rs.Context("@alice:example.org", local); got.SenderPowerLevel != 100 || got.SenderDisplayName != "Alice" {
		t.Errorf("Context(alice): power %d, name %q", got.SenderPowerLevel, got.SenderDisplayName)
	}
	// Local recipients other than the sender: alice and bob are local and
	// joined, dave left, carol is remote.
	for _, tt := range []struct {
		sender string
		want   bool
	}{{"@alice:example.org", true}, {"@carol:elsewhere.example", true}} {
		if got := rs.HasRecipient(tt.sender, local); got != tt.want {
			t.Errorf("HasRecipient(%s) = %v, want %v", tt.sender, got, tt.want)
		}
	}
	alone, err := ReadRoomState("11", []StateEvent{state[0], state[2], state[4], state[5]})
	if err != nil {
		t.Fatal(err)
	}
	if alone.HasRecipient("@alice:example.org", local) {
		t.Error("HasRecipient(alice) in a room where no other local user is joined = true")
	}
	if !alone.HasRecipient("@carol:elsewhere.example", local) {
		t.Error("HasRecipient(carol) with alice joined = false")
	}
	if _, err := ReadRoomState("no such version", state); err == nil {
		t.Error("ReadRoomState of an unknown room version succeeded")
	}
}

func TestWithEventID(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"type":"x"}`, `{"event_id":"$e","type":"x"}`},
		{` {}`, `{"event_id":"$e"}`},
		{`[]`, `[]`},
	}
	for _, tt := range tests {
		if got := string(WithEventID([]byte(tt.in), "$e")); got != tt.want {
			t.Errorf("WithEventID(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestUserLevelFallback(t *testing.T) {
	tests := []struct {
		content, user string
		want          int64
	}{
		{`{"users":{"@a:x":75},"users_default":10}`, "@a:x", 75},
		{`{"users":{"@a:x":75},"users_default":10}`, "@b:x", 10},
		{`{"users":{"@a:x":"75"}}`, "@a:x", 75},
		{`{}`, "@b:x", 0},
		{`not json`, "@b:x", 0},
	}
	for _, tt := range tests {
		if got := userLevel(json.RawMessage(tt.content), tt.user); got != tt.want {
			t.Errorf("userLevel(%s, %s) = %d, want %d", tt.content, tt.user, got, tt.want)
		}
	}
}

// TestSenderAndContentExactKeys: what the push service keeps of a create
// or power levels event is read with the keys matched exactly, as the auth
// rules read them: an extra top-level "ſender" (U+017F folds to "s") or a
// content's "Name" is not taken for the sender or the name.
func TestSenderAndContentExactKeys(t *testing.T) {
	v, err := roomversion.Lookup("10")
	if err != nil {
		t.Fatal(err)
	}
	js := []byte(`{"auth_events":[],"content":{"users":{"@creator:a":100}},"depth":1,"origin_server_ts":1,"prev_events":[],` +
		`"room_id":"!r:a","sender":"@creator:a","state_key":"","type":"m.room.power_levels","ſender":"@other:b"}`)
	got, err := senderAndContent(v, "m.room.power_levels", js)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sender != "@creator:a" || string(got.Content) != `{"users":{"@creator:a":100}}` {
		t.Errorf("senderAndContent = sender %q, content %s; want @creator:a and the content", got.Sender, got.Content)
	}
	if _, err := senderAndContent(v, "m.room.create", []byte(`{"content":{},"Sender":"@x:a"}`)); err == nil {
		t.Error("an event whose only sender key is \"Sender\" was read as having a sender")
	}
	if got := userLevel([]byte(`{"Users":{"@a:x":50},"users_default":10}`), "@a:x"); got != 10 {
		t.Errorf("userLevel with only a \"Users\" key = %d, want users_default's 10", got)
	}
	if got := contentString([]byte(`{"content":{"Name":"folded","name":"exact"},"type":"m.room.name"}`), "name"); got != "exact" {
		t.Errorf("contentString = %q, want exact", got)
	}
	if got := contentString([]byte(`{"content":{"name":"sorted last","nAme":"x"},"type":"m.room.name"}`), "name"); got != "sorted last" {
		t.Errorf("contentString = %q, want the exact key's value", got)
	}
}
