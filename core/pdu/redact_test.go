package pdu

import (
	"fmt"
	"strings"
	"testing"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/roomversion"
)

// redactionEvent builds an event of type typ with content, carrying every
// top-level key that some room version keeps plus some that none keeps.
func redactionEvent(typ, content string) string {
	return `{"auth_events":[],"content":` + content + `,"depth":1,"event_id":"$e:x","extra":1,` +
		`"hashes":{"sha256":"h"},"membership":"join","origin":"x","origin_server_ts":1,"prev_events":[],` +
		`"prev_state":[],"redacts":"$r:x","room_id":"!r:x","sender":"@u:x","signatures":{"x":{"ed25519:1":"s"}},` +
		`"state_key":"","type":"` + typ + `","unsigned":{"age":1}}`
}

// redactedEvent is what redactionEvent leaves after redaction with the
// given content: the top-level keys of the version's list only.
func redactedEvent(v *roomversion.Version, typ, content string) string {
	old := ""
	if v.ID != "11" && v.ID != "12" {
		old = `"membership":"join","origin":"x",`
	}
	prevState := ""
	if old != "" {
		prevState = `"prev_state":[],`
	}
	return `{"auth_events":[],"content":` + content + `,"depth":1,"event_id":"$e:x",` +
		`"hashes":{"sha256":"h"},` + old + `"origin_server_ts":1,"prev_events":[],` + prevState +
		`"room_id":"!r:x","sender":"@u:x","signatures":{"x":{"ed25519:1":"s"}},"state_key":"","type":"` + typ + `"}`
}

func TestRedactJSON(t *testing.T) {
	const (
		member  = `{"displayname":"n","join_authorised_via_users_server":"@a:x","membership":"join","third_party_invite":{"display_name":"d","signed":{"mxid":"@u:x","token":"t"}}}`
		create  = `{"creator":"@u:x","m.federate":true,"room_version":"1"}`
		join    = `{"allow":[{"room_id":"!a:x","type":"m.room_membership"}],"join_rule":"restricted","other":1}`
		power   = `{"ban":50,"events":{"m.room.name":50},"events_default":0,"invite":0,"kick":50,"notifications":{"room":50},"other":1,"redact":50,"state_default":50,"users":{"@u:x":100},"users_default":0}`
		aliases = `{"aliases":["#a:x"],"other":1}`
		history = `{"history_visibility":"shared","other":1}`
		redact  = `{"reason":"spam","redacts":"$x:x"}`
		message = `{"body":"hello","msgtype":"m.text"}`
	)
	powerOld := `{"ban":50,"events":{"m.room.name":50},"events_default":0,"kick":50,"redact":50,"state_default":50,"users":{"@u:x":100},"users_default":0}`
	powerNew := `{"ban":50,"events":{"m.room.name":50},"events_default":0,"invite":0,"kick":50,"redact":50,"state_default":50,"users":{"@u:x":100},"users_default":0}`
	type want struct {
		from, to int
		content  string
	}
	tests := []struct {
		typ, content string
		want         []want
	}{
		{"m.room.member", member, []want{
			{1, 8, `{"membership":"join"}`},
			{9, 10, `{"join_authorised_via_users_server":"@a:x","membership":"join"}`},
			{11, 12, `{"join_authorised_via_users_server":"@a:x","membership":"join","third_party_invite":{"signed":{"mxid":"@u:x","token":"t"}}}`},
		}},
		{"m.room.member", `{"membership":"invite","third_party_invite":{"display_name":"d"}}`, []want{
			{1, 10, `{"membership":"invite"}`},
			{11, 12, `{"membership":"invite","third_party_invite":{}}`},
		}},
		{"m.room.member", `{"membership":"invite","third_party_invite":"odd"}`, []want{{1, 12, `{"membership":"invite"}`}}},
		{"m.room.create", create, []want{{1, 10, `{"creator":"@u:x"}`}, {11, 12, create}}},
		{"m.room.join_rules", join, []want{
			{1, 7, `{"join_rule":"restricted"}`},
			{8, 12, `{"allow":[{"room_id":"!a:x","type":"m.room_membership"}],"join_rule":"restricted"}`},
		}},
		{"m.room.power_levels", power, []want{{1, 10, powerOld}, {11, 12, powerNew}}},
		{"m.room.aliases", aliases, []want{{1, 5, `{"aliases":["#a:x"]}`}, {6, 12, `{}`}}},
		{"m.room.history_visibility", history, []want{{1, 12, `{"history_visibility":"shared"}`}}},
		{"m.room.redaction", redact, []want{{1, 10, `{}`}, {11, 12, `{"redacts":"$x:x"}`}}},
		{"m.room.message", message, []want{{1, 12, `{}`}}},
		{"m.room.message", `{}`, []want{{1, 12, `{}`}}},
	}
	for _, tc := range tests {
		covered := 0
		for _, w := range tc.want {
			for n := w.from; n <= w.to; n++ {
				covered++
				v, err := roomversion.Lookup(roomversion.ID(fmt.Sprint(n)))
				if err != nil {
					t.Fatal(err)
				}
				got, err := RedactJSON(v, []byte(redactionEvent(tc.typ, tc.content)))
				if err != nil {
					t.Fatalf("v%d %s: %v", n, tc.typ, err)
				}
				exp, err := canonicaljson.Canonicalize([]byte(redactedEvent(v, tc.typ, w.content)), canonicaljson.Strict)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(exp) {
					t.Errorf("v%d %s %s:\n got %s\nwant %s", n, tc.typ, tc.content, got, exp)
				}
				// Redaction is idempotent.
				again, err := RedactJSON(v, got)
				if err != nil || string(again) != string(got) {
					t.Errorf("v%d %s: redacting twice gives %s, %v", n, tc.typ, again, err)
				}
			}
		}
		if covered != 12 {
			t.Errorf("%s: table covers %d versions, want 12", tc.typ, covered)
		}
	}
}

func TestRedactPDU(t *testing.T) {
	v := version(t, "11")
	ev := strings.Replace(minimalV11, `"depth":1`, `"depth":1,"origin":"example.org","unsigned":{"age":5}`, 1)
	p, err := Parse(v, []byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	p.Internal.Outlier = true
	r, err := p.Redact(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Content) != "{}" || r.Unsigned != nil || r.Unknown != nil {
		t.Errorf("redacted: content %s unsigned %s unknown %v", r.Content, r.Unsigned, r.Unknown)
	}
	if r.EventID != p.EventID || !r.Internal.Outlier || r.Sender != p.Sender || r.Depth != 1 {
		t.Errorf("redacted copy lost fields: %+v", r)
	}
	if string(p.Content) != `{"body":"hi"}` {
		t.Errorf("Redact changed the original: %s", p.Content)
	}
}

func TestRedactsEventID(t *testing.T) {
	s := func(x string) *string { return &x }
	tests := []struct {
		version, typ, content string
		top                   *string
		want                  string
		ok                    bool
	}{
		{"10", "m.room.redaction", `{}`, s("$a:x"), "$a:x", true},
		{"10", "m.room.redaction", `{"redacts":"$b:x"}`, nil, "", false},
		{"11", "m.room.redaction", `{"redacts":"$b"}`, s("$a:x"), "$b", true},
		{"11", "m.room.redaction", `{}`, s("$a:x"), "", false},
		{"12", "m.room.redaction", `{"redacts":5}`, nil, "", false},
		{"11", "m.room.message", `{"redacts":"$b"}`, s("$a"), "", false},
	}
	for _, tc := range tests {
		p := &PDU{Type: tc.typ, Content: []byte(tc.content), Redacts: tc.top}
		got, ok := p.RedactsEventID(version(t, roomversion.ID(tc.version)))
		if got != tc.want || ok != tc.ok {
			t.Errorf("v%s %s %s: RedactsEventID = %q, %v; want %q, %v", tc.version, tc.typ, tc.content, got, ok, tc.want, tc.ok)
		}
	}
}
