package clientsync

import (
	"errors"
	"testing"

	"hearth.dev/hearth/core"
)

func TestParseFilter(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		code     *core.Error // nil: valid
	}{
		{"empty", `{}`, nil},
		{"spec example", `{"room":{"state":{"types":["m.room.*"],"not_rooms":["!726s6s6q:example.com"]},
			"timeline":{"limit":10,"types":["m.room.message"],"not_rooms":["!726s6s6q:example.com"],"not_senders":["@spam:example.com"]},
			"ephemeral":{"types":["m.receipt","m.typing"],"not_rooms":["!726s6s6q:example.com"],"not_senders":["@spam:example.com"]}},
			"presence":{"types":["m.presence"],"not_senders":["@alice:example.com"]},
			"event_format":"client","event_fields":["type","content","sender"]}`, nil},
		{"lazy loading", `{"room":{"state":{"lazy_load_members":true,"include_redundant_members":true}}}`, nil},
		{"unknown fields are ignored", `{"org.example":1,"room":{"timeline":{"x":[]}}}`, nil},
		{"null lists", `{"room":{"rooms":null}}`, nil},
		{"not JSON", `{"room":`, core.ErrNotJSON},
		{"not an object", `[]`, core.ErrBadJSON},
		{"string", `"x"`, core.ErrBadJSON},
		{"limit zero", `{"room":{"timeline":{"limit":0}}}`, core.ErrBadJSON},
		{"limit negative", `{"presence":{"limit":-1}}`, core.ErrBadJSON},
		{"limit not integer", `{"room":{"timeline":{"limit":1.5}}}`, core.ErrBadJSON},
		{"limit a string", `{"room":{"timeline":{"limit":"10"}}}`, core.ErrBadJSON},
		{"types not a list", `{"room":{"timeline":{"types":"m.room.message"}}}`, core.ErrBadJSON},
		{"types of numbers", `{"account_data":{"types":[1]}}`, core.ErrBadJSON},
		{"bad room id", `{"room":{"rooms":["#alias:x"]}}`, core.ErrBadJSON},
		{"bad room id in a room event filter", `{"room":{"state":{"not_rooms":["x"]}}}`, core.ErrBadJSON},
		{"bad sender", `{"room":{"timeline":{"senders":["alice"]}}}`, core.ErrBadJSON},
		{"bad event_format", `{"event_format":"raw"}`, core.ErrBadJSON},
		{"include_leave not bool", `{"room":{"include_leave":"yes"}}`, core.ErrBadJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFilter([]byte(tc.in))
			if tc.code == nil {
				if err != nil {
					t.Errorf("ParseFilter(%s): %v", tc.in, err)
				}
				return
			}
			if !errors.Is(err, tc.code) {
				t.Errorf("ParseFilter(%s) = %v, want %s", tc.in, err, tc.code.ErrCode)
			}
		})
	}
}

func TestRoomEventFilterMatch(t *testing.T) {
	yes, no := true, false
	ev := func(room, sender, typ, content string) *core.StoredEvent {
		return &core.StoredEvent{RoomID: room, Sender: sender, Type: typ, JSON: []byte(`{"content":` + content + `}`)}
	}
	msg := ev("!a:x", "@alice:x", "m.room.message", `{"body":"hi"}`)
	img := ev("!a:x", "@bob:x", "m.room.message", `{"body":"pic","url":"mxc://x/y"}`)
	name := ev("!b:x", "@bob:x", "m.room.name", `{"name":"n"}`)
	for _, tc := range []struct {
		name string
		f    RoomEventFilter
		want [3]bool // msg, img, name
	}{
		{"nothing", RoomEventFilter{}, [3]bool{true, true, true}},
		{"types", RoomEventFilter{EventFilter: EventFilter{Types: []string{"m.room.message"}}}, [3]bool{true, true, false}},
		{"wildcard", RoomEventFilter{EventFilter: EventFilter{Types: []string{"m.room.*"}}}, [3]bool{true, true, true}},
		{"wildcard middle", RoomEventFilter{EventFilter: EventFilter{Types: []string{"m.*.name"}}}, [3]bool{false, false, true}},
		{"empty types match nothing", RoomEventFilter{EventFilter: EventFilter{Types: []string{}}}, [3]bool{false, false, false}},
		{"not_types wins", RoomEventFilter{EventFilter: EventFilter{Types: []string{"*"}, NotTypes: []string{"m.room.n*"}}}, [3]bool{true, true, false}},
		{"senders", RoomEventFilter{EventFilter: EventFilter{Senders: []string{"@bob:x"}}}, [3]bool{false, true, true}},
		{"not_senders", RoomEventFilter{EventFilter: EventFilter{NotSenders: []string{"@bob:x"}}}, [3]bool{true, false, false}},
		{"rooms", RoomEventFilter{Rooms: []string{"!b:x"}}, [3]bool{false, false, true}},
		{"not_rooms", RoomEventFilter{Rooms: []string{"!a:x", "!b:x"}, NotRooms: []string{"!b:x"}}, [3]bool{true, true, false}},
		{"contains_url", RoomEventFilter{ContainsURL: &yes}, [3]bool{false, true, false}},
		{"no url", RoomEventFilter{ContainsURL: &no}, [3]bool{true, false, true}},
	} {
		for i, e := range []*core.StoredEvent{msg, img, name} {
			if got := tc.f.Match(e); got != tc.want[i] {
				t.Errorf("%s: Match(%s from %s in %s) = %v, want %v", tc.name, e.Type, e.Sender, e.RoomID, got, tc.want[i])
			}
		}
	}
}

func TestMatchGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"m.room.message", "m.room.message", true},
		{"m.room.message", "m.room.messages", false},
		{"*", "", true},
		{"m.*", "m.room.name", true},
		{"*.name", "m.room.name", true},
		{"m.*.name", "m.room.name", true},
		{"m.*.name", "m.name", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"a*a", "a", false},
		{"**", "x", true},
	} {
		if got := MatchGlob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestSelectFields(t *testing.T) {
	in := []byte(`{"content":{"body":"hi","a.b":1,"msgtype":"m.text"},"type":"m.room.message","sender":"@a:x","unsigned":{"age":1}}`)
	got, err := selectFields(in, []string{"type", "content.body", `content.a\.b`, "content.nope", "nope.deeper"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"content":{"a.b":1,"body":"hi"},"type":"m.room.message"}`; string(got) != want {
		t.Errorf("selectFields = %s, want %s", got, want)
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`{}`, `{"room":{"timeline":{"limit":5,"types":["*"]}}}`, `[]`, `{"event_fields":["a\\.b"]}`, `{"room":{"rooms":["!x"]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := ParseFilter(data)
		if err != nil {
			var me *core.Error
			if !errors.As(err, &me) {
				t.Fatalf("ParseFilter error %v is not a Matrix error", err)
			}
			return
		}
		// A valid filter can be applied to anything without trouble.
		ev := &core.StoredEvent{RoomID: "!r:x", Sender: "@s:x", Type: "m.room.message", JSON: data}
		flt.Room.Timeline.Match(ev)
		flt.Room.State.Match(ev)
		_ = flt.Room.Timeline.LimitOr(10, 100)
		if _, err := selectFields([]byte(`{"content":{"a":1}}`), flt.EventFields); err != nil {
			t.Fatalf("selectFields: %v", err)
		}
	})
}
