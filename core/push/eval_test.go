package push

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// evalOne compiles a single override rule with the given conditions and
// reports whether it matches event.
func evalOne(t *testing.T, conds string, event string, c *Context) bool {
	t.Helper()
	var cs []Condition
	if err := json.Unmarshal([]byte(conds), &cs); err != nil {
		t.Fatalf("conditions %s: %v", conds, err)
	}
	rs := Ruleset{Override: []Rule{{RuleID: "r", Enabled: true, Conditions: cs, Actions: []json.RawMessage{json.RawMessage(`"notify"`)}}}}
	ev, err := NewEvent([]byte(event))
	if err != nil {
		t.Fatalf("NewEvent(%s): %v", event, err)
	}
	if c == nil {
		c = &Context{UserID: "@me:example.org"}
	}
	return Compile(&rs).Evaluate(ev, c).Matched
}

// TestSpecConditionExamples runs the examples of the spec's "Conditions"
// section (client-server API, push module).
func TestSpecConditionExamples(t *testing.T) {
	topic := func(v string) string {
		return `{"content":{"topic":` + v + `},"event_id":"$143273582443PhrSn:example.org","room_id":"!636q39766251:example.com","sender":"@example:example.org","state_key":"","type":"m.room.topic"}`
	}
	body := func(v string) string {
		return `{"content":{"body":` + v + `},"event_id":"$143273976499sgjks:example.org","room_id":"!636q39766251:example.com","sender":"@example:example.org","type":"m.room.message"}`
	}
	create := func(v string) string {
		return `{"content":{"creator":"@example:example.org","m.federate":` + v + `,"predecessor":{"event_id":"$something:example.org","room_id":"!oldroom:example.org"},"room_version":"1"},"event_id":"$143273582443PhrSn:example.org","room_id":"!636q39766251:example.com","sender":"@example:example.org","state_key":"","type":"m.room.create"}`
	}
	aliases := func(v string) string {
		return `{"content":{"alias":"#somewhere:localhost","alt_aliases":` + v + `},"event_id":"$143273582443PhrSn:example.org","origin_server_ts":1432735824653,"room_id":"!jEsUZKDJdhlrceRyVU:example.org","sender":"@example:example.org","state_key":"","type":"m.room.canonical_alias","unsigned":{"age":1234}}`
	}
	const topicCond = `[{"kind":"event_match","key":"content.topic","pattern":"lunc?*"}]`
	const bodyCond = `[{"kind":"event_match","key":"content.body","pattern":"ex*ple"}]`
	const federateCond = `[{"kind":"event_property_is","key":"content.m\\.federate","value":true}]`
	const aliasCond = `[{"kind":"event_property_contains","key":"content.alt_aliases","value":"#myroom:example.com"}]`
	tests := []struct {
		name  string
		conds string
		event string
		want  bool
	}{
		{"topic Lunch plans", topicCond, topic(`"Lunch plans"`), true},
		{"topic LUNCH", topicCond, topic(`"LUNCH"`), true},
		{"topic leading space", topicCond, topic(`" lunch"`), false},
		{"topic lunc", topicCond, topic(`"lunc"`), false},
		{"topic null", topicCond, topic(`null`), false},
		{"body example", bodyCond, body(`"An example event."`), true},
		{"body exple", bodyCond, body(`"exple"`), true},
		{"body across words", bodyCond, body(`"An exciting triple-whammy"`), true},
		{"body inside a word", bodyCond, body(`"examplesque"`), false},
		{"body after a letter", bodyCond, body(`"reexample"`), false},
		{"body underscore is a word char", bodyCond, body(`"_example"`), false},
		{"m.federate true", federateCond, create(`true`), true},
		{"m.federate string", federateCond, create(`"true"`), false},
		{"m.federate 1", federateCond, create(`1`), false},
		{"alt_aliases contains", aliasCond, aliases(`["#somewhere:example.org","#myroom:example.com"]`), true},
		{"alt_aliases partial", aliasCond, aliases(`["#somewhere:example.org",":example.com"]`), false},
		{"alt_aliases not an array", aliasCond, aliases(`"#myroom:example.com"`), false},
		{"absent key, pattern *", `[{"kind":"event_match","key":"content.nope","pattern":"*"}]`, topic(`"x"`), false},
		{"non-string, pattern *", `[{"kind":"event_match","key":"content.topic","pattern":"*"}]`, topic(`5`), false},
		{"unknown condition never matches", `[{"kind":"org.example.always"}]`, topic(`"x"`), false},
		{"no conditions always match", `[]`, topic(`"x"`), true},
		{"event_match without pattern", `[{"kind":"event_match","key":"type"}]`, topic(`"x"`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := evalOne(t, tt.conds, tt.event, nil); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPropertyValues(t *testing.T) {
	ev := `{"type":"x","sender":"@s:x","content":{"n":42,"big":9007199254740993,"f":1.5,"z":null,"b":false,"s":"str","arr":[1,"str",null,true,{"o":1},[2]],"a.b":{"c\\d":"deep"}}}`
	tests := []struct {
		name  string
		conds string
		want  bool
	}{
		{"integer", `[{"kind":"event_property_is","key":"content.n","value":42}]`, true},
		{"integer vs string", `[{"kind":"event_property_is","key":"content.n","value":"42"}]`, false},
		{"out of range never equal", `[{"kind":"event_property_is","key":"content.big","value":9007199254740993}]`, false},
		{"float never matches", `[{"kind":"event_property_is","key":"content.f","value":1.5}]`, false},
		{"null", `[{"kind":"event_property_is","key":"content.z","value":null}]`, true},
		{"false", `[{"kind":"event_property_is","key":"content.b","value":false}]`, true},
		{"string exact, case matters", `[{"kind":"event_property_is","key":"content.s","value":"STR"}]`, false},
		{"object is not a scalar", `[{"kind":"event_property_is","key":"content.arr","value":1}]`, false},
		{"contains integer", `[{"kind":"event_property_contains","key":"content.arr","value":1}]`, true},
		{"contains null", `[{"kind":"event_property_contains","key":"content.arr","value":null}]`, true},
		{"contains true", `[{"kind":"event_property_contains","key":"content.arr","value":true}]`, true},
		{"contains false", `[{"kind":"event_property_contains","key":"content.arr","value":false}]`, false},
		{"escaped dot and backslash", `[{"kind":"event_property_is","key":"content.a\\.b.c\\\\d","value":"deep"}]`, true},
		{"unescaped dot misses", `[{"kind":"event_property_is","key":"content.a.b.c\\\\d","value":"deep"}]`, false},
		{"event_match on escaped path", `[{"kind":"event_match","key":"content.a\\.b.c\\\\d","pattern":"D*P"}]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := evalOne(t, tt.conds, ev, nil); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMemberCountAndPermission(t *testing.T) {
	ev := `{"type":"m.room.message","sender":"@s:x","content":{"body":"hi"}}`
	tests := []struct {
		is    string
		count int
		want  bool
	}{
		{"2", 2, true}, {"2", 3, false}, {"==2", 2, true}, {"<10", 9, true}, {"<10", 10, false},
		{"<=10", 10, true}, {">2", 3, true}, {">2", 2, false}, {">=2", 2, true},
		{"", 2, false}, {"two", 2, false}, {"=2", 2, false}, {"<-1", 0, false},
	}
	for _, tt := range tests {
		conds := `[{"kind":"room_member_count","is":"` + tt.is + `"}]`
		if got := evalOne(t, conds, ev, &Context{UserID: "@me:x", MemberCount: tt.count}); got != tt.want {
			t.Errorf("room_member_count is %q with %d members = %v, want %v", tt.is, tt.count, got, tt.want)
		}
	}
	perm := `[{"kind":"sender_notification_permission","key":"room"}]`
	for _, tt := range []struct {
		level  int64
		levels map[string]int64
		want   bool
	}{
		{50, nil, true}, {49, nil, false}, {10, map[string]int64{"room": 10}, true}, {9, map[string]int64{"room": 10}, false},
	} {
		c := &Context{UserID: "@me:x", SenderPowerLevel: tt.level, NotificationLevels: tt.levels}
		if got := evalOne(t, perm, ev, c); got != tt.want {
			t.Errorf("sender_notification_permission with level %d, levels %v = %v, want %v", tt.level, tt.levels, got, tt.want)
		}
	}
}

func TestContainsDisplayName(t *testing.T) {
	conds := `[{"kind":"contains_display_name"}]`
	tests := []struct {
		name, body string
		want       bool
	}{
		{"Alice", "hello alice!", true},
		{"Alice", "hello Alicette", false},
		{"Alice", "malice", false},
		{"A.B (away)", "ping a.b (AWAY) now", true},
		{"A.B (away)", "ping aXb (away)", false},
		{"", "anything", false},
	}
	for _, tt := range tests {
		ev := `{"type":"m.room.message","sender":"@s:x","content":{"body":` + quote(tt.body) + `}}`
		if got := evalOne(t, conds, ev, &Context{UserID: "@me:x", DisplayName: tt.name}); got != tt.want {
			t.Errorf("display name %q in %q = %v, want %v", tt.name, tt.body, got, tt.want)
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestDefaultRules evaluates the server-default ruleset against events each
// default rule is meant for.
func TestDefaultRules(t *testing.T) {
	const me = "@me:example.org"
	ev := func(typ, content string, extra string) string {
		return `{"type":"` + typ + `","sender":"@them:example.org","room_id":"!r:example.org","event_id":"$e","content":` + content + extra + `}`
	}
	tests := []struct {
		name    string
		event   string
		members int
		level   int64
		rule    string
		notify  bool
		high    bool
		sound   string
	}{
		{"group message", ev("m.room.message", `{"msgtype":"m.text","body":"hello"}`, ""), 5, 0, ".m.rule.message", true, false, ""},
		{"one to one message", ev("m.room.message", `{"msgtype":"m.text","body":"hello"}`, ""), 2, 0, ".m.rule.room_one_to_one", true, false, "default"},
		{"notice", ev("m.room.message", `{"msgtype":"m.notice","body":"bot"}`, ""), 2, 0, ".m.rule.suppress_notices", false, false, ""},
		{"user mention", ev("m.room.message", `{"body":"hey","m.mentions":{"user_ids":["@x:y","`+me+`"]}}`, ""), 5, 0, ".m.rule.is_user_mention", true, true, "default"},
		{"mention of someone else", ev("m.room.message", `{"body":"hey","m.mentions":{"user_ids":["@x:y"]}}`, ""), 5, 0, ".m.rule.message", true, false, ""},
		{"room mention by moderator", ev("m.room.message", `{"body":"@room","m.mentions":{"room":true}}`, ""), 5, 50, ".m.rule.is_room_mention", true, true, ""},
		{"room mention without power", ev("m.room.message", `{"body":"@room","m.mentions":{"room":true}}`, ""), 5, 0, ".m.rule.message", true, false, ""},
		{"body mention is not a mention", ev("m.room.message", `{"body":"@me:example.org me"}`, ""), 5, 0, ".m.rule.message", true, false, ""},
		{"invite for me", ev("m.room.member", `{"membership":"invite"}`, `,"state_key":"`+me+`"`), 5, 0, ".m.rule.invite_for_me", true, false, "default"},
		{"invite for another", ev("m.room.member", `{"membership":"invite"}`, `,"state_key":"@other:x"`), 5, 0, ".m.rule.member_event", false, false, ""},
		{"tombstone", ev("m.room.tombstone", `{"body":"gone","replacement_room":"!n:x"}`, `,"state_key":""`), 5, 0, ".m.rule.tombstone", true, true, ""},
		{"tombstone message type without state key", ev("m.room.tombstone", `{}`, ""), 5, 0, "", false, false, ""},
		{"reaction", ev("m.reaction", `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$x","key":"👍"}}`, ""), 2, 0, ".m.rule.reaction", false, false, ""},
		{"server acl", ev("m.room.server_acl", `{"allow":["*"]}`, `,"state_key":""`), 5, 0, ".m.rule.room.server_acl", false, false, ""},
		{"edit", ev("m.room.message", `{"body":"* fix","m.relates_to":{"rel_type":"m.replace","event_id":"$x"}}`, ""), 2, 0, ".m.rule.suppress_edits", false, false, ""},
		{"call", ev("m.call.invite", `{"call_id":"1"}`, ""), 5, 0, ".m.rule.call", true, false, "ring"},
		{"encrypted one to one", ev("m.room.encrypted", `{"algorithm":"m.megolm.v1.aes-sha2"}`, ""), 2, 0, ".m.rule.encrypted_room_one_to_one", true, false, "default"},
		{"encrypted group", ev("m.room.encrypted", `{"algorithm":"m.megolm.v1.aes-sha2"}`, ""), 3, 0, ".m.rule.encrypted", true, false, ""},
		{"topic change", ev("m.room.topic", `{"topic":"t"}`, `,"state_key":""`), 5, 0, "", false, false, ""},
	}
	evalr := Compile(ptr(Defaults(me)))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEvent([]byte(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			got := evalr.Evaluate(e, &Context{UserID: me, MemberCount: tt.members, SenderPowerLevel: tt.level})
			if got.RuleID != tt.rule || got.Matched != (tt.rule != "") {
				t.Fatalf("rule = %q (matched %v), want %q", got.RuleID, got.Matched, tt.rule)
			}
			if got.Actions.Notify != tt.notify || got.Actions.Highlight != tt.high || got.Actions.Sound != tt.sound {
				t.Errorf("actions = notify %v highlight %v sound %q, want %v %v %q",
					got.Actions.Notify, got.Actions.Highlight, got.Actions.Sound, tt.notify, tt.high, tt.sound)
			}
		})
	}
}

func TestOwnEventsNeverMatch(t *testing.T) {
	me := "@me:x"
	e, _ := NewEvent([]byte(`{"type":"m.room.message","sender":"@me:x","content":{"body":"hi"}}`))
	if r := Compile(ptr(Defaults(me))).Evaluate(e, &Context{UserID: me, MemberCount: 2}); r.Matched {
		t.Errorf("own message matched %s", r.RuleID)
	}
}

func TestMasterAndUserRules(t *testing.T) {
	me := "@me:x"
	msg, _ := NewEvent([]byte(`{"type":"m.room.message","sender":"@spam:x","room_id":"!r:x","content":{"body":"I really like cake and tea"}}`))
	on := true
	tests := []struct {
		name    string
		user    Ruleset
		changes map[RuleKey]DefaultChange
		rule    string
		notify  bool
	}{
		{"defaults", Ruleset{}, nil, ".m.rule.message", true},
		{"master on", Ruleset{Override: []Rule{{RuleID: "mine", Enabled: true, Conditions: []Condition{}, Actions: raws(`"notify"`)}}},
			map[RuleKey]DefaultChange{{Override, MasterRuleID}: {Enabled: &on}}, MasterRuleID, false},
		{"room rule silences", Ruleset{Room: []Rule{{RuleID: "!r:x", Enabled: true, Actions: raws()}}}, nil, "!r:x", false},
		{"sender rule silences", Ruleset{Sender: []Rule{{RuleID: "@spam:x", Enabled: true, Actions: raws()}}}, nil, "@spam:x", false},
		{"content before room", Ruleset{
			Content: []Rule{{RuleID: "cake", Enabled: true, Pattern: ptr("cake"), Actions: raws(`"notify"`, `{"set_tweak":"sound","value":"cakealarm.wav"}`)}},
			Room:    []Rule{{RuleID: "!r:x", Enabled: true, Actions: raws()}}}, nil, "cake", true},
		{"content order", Ruleset{Content: []Rule{
			{RuleID: "nocake", Enabled: true, Pattern: ptr("cake*lie"), Actions: raws()},
			{RuleID: "tea", Enabled: true, Pattern: ptr("tea"), Actions: raws(`"dont_notify"`)},
			{RuleID: "cake", Enabled: true, Pattern: ptr("cake"), Actions: raws(`"notify"`)}}}, nil, "tea", false},
		{"disabled user rule skipped", Ruleset{Content: []Rule{{RuleID: "cake", Enabled: false, Pattern: ptr("cake"), Actions: raws()}}}, nil, ".m.rule.message", true},
		{"override with beer conditions does not match", Ruleset{Override: []Rule{{RuleID: "beer", Enabled: true, Actions: raws(`"notify"`),
			Conditions: []Condition{{Kind: "event_match", Key: "content.body", Pattern: ptr("beer")}, {Kind: "room_member_count", Is: "<=10"}}}}}, nil, ".m.rule.message", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := Merge(me, tt.user, tt.changes)
			got := Compile(&rs).Evaluate(msg, &Context{UserID: me, MemberCount: 5})
			if got.RuleID != tt.rule || got.Actions.Notify != tt.notify {
				t.Errorf("got rule %q notify %v, want %q %v", got.RuleID, got.Actions.Notify, tt.rule, tt.notify)
			}
		})
	}
}

func raws(s ...string) []json.RawMessage {
	out := []json.RawMessage{}
	for _, x := range s {
		out = append(out, json.RawMessage(x))
	}
	return out
}

func TestParseActions(t *testing.T) {
	a := ParseActions(raws(`"notify"`, `"coalesce"`, `{"set_tweak":"sound","value":"bing"}`, `{"set_tweak":"highlight"}`, `{"set_tweak":"org.example.light","value":"red"}`))
	want := Actions{
		Notify: true, Highlight: true, Sound: "bing",
		Tweaks: map[string]json.RawMessage{"sound": json.RawMessage(`"bing"`), "highlight": json.RawMessage(`true`), "org.example.light": json.RawMessage(`"red"`)},
		Raw:    raws(`"notify"`, `{"set_tweak":"sound","value":"bing"}`, `{"set_tweak":"highlight"}`, `{"set_tweak":"org.example.light","value":"red"}`),
	}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("ParseActions (-want +got):\n%s", diff)
	}
	if a := ParseActions(raws(`{"set_tweak":"highlight","value":false}`)); a.Highlight || a.Notify {
		t.Errorf("highlight false = %+v", a)
	}
	if a := ParseActions(raws(`"dont_notify"`)); a.Notify || len(a.Raw) != 0 {
		t.Errorf("dont_notify = %+v, want nothing", a)
	}
}

func TestThreadID(t *testing.T) {
	tests := []struct{ event, want string }{
		{`{"content":{"m.relates_to":{"rel_type":"m.thread","event_id":"$root"}}}`, "$root"},
		{`{"content":{"m.relates_to":{"rel_type":"m.annotation","event_id":"$x"}}}`, "main"},
		{`{"content":{"body":"x"}}`, "main"},
		{`{"content":{"m.relates_to":{"rel_type":"m.thread"}}}`, "main"},
	}
	for _, tt := range tests {
		e, err := NewEvent([]byte(tt.event))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.ThreadID(); got != tt.want {
			t.Errorf("ThreadID(%s) = %q, want %q", tt.event, got, tt.want)
		}
	}
}

func TestNewEventRefusesNonObjects(t *testing.T) {
	for _, s := range []string{``, `[]`, `"x"`, `{`, `{"a":1`, `null`} {
		if _, err := NewEvent([]byte(s)); err == nil {
			t.Errorf("NewEvent(%q) = nil error", s)
		}
	}
}

func TestNotificationLevels(t *testing.T) {
	tests := []struct {
		content string
		want    map[string]int64
	}{
		{`{"notifications":{"room":20}}`, map[string]int64{"room": 20}},
		{`{"notifications":{"room":"30"}}`, map[string]int64{"room": 30}},
		{`{"notifications":{"room":"x","other":5}}`, map[string]int64{"other": 5}},
		{`{"users":{}}`, nil},
		{`not json`, nil},
	}
	for _, tt := range tests {
		if got := NotificationLevels([]byte(tt.content)); !cmp.Equal(got, tt.want) {
			t.Errorf("NotificationLevels(%s) = %v, want %v", tt.content, got, tt.want)
		}
	}
}
