package push

import "testing"

// benchMessage is a typical federation-format message event in a group room.
var benchMessage = []byte(`{"auth_events":["$a1:example.org","$a2:example.org","$a3:example.org"],"content":{"body":"Are we still on for lunch tomorrow? I can book the usual place.","msgtype":"m.text","m.mentions":{}},"depth":1234,"hashes":{"sha256":"Xq9/aSh1oZ6Ylu7bpM4uxBWqKSxKQXQxjv7iZ5Wq3Jc"},"origin_server_ts":1716230000000,"prev_events":["$p1:example.org"],"room_id":"!room:example.org","sender":"@bob:example.org","signatures":{"example.org":{"ed25519:a_abcd":"dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaGFzIHRoZSByaWdodCBsZW5ndGggZm9yIG9uZQ"}},"type":"m.room.message","unsigned":{"age_ts":1716230000000}}`)

// BenchmarkEvaluateDefaults evaluates the server-default rules against a
// message event that falls through to .m.rule.message (every override rule
// is tried first), the common case for each local member of a room.
func BenchmarkEvaluateDefaults(b *testing.B) {
	rs := Defaults("@alice:example.org")
	ev := Compile(&rs)
	c := &Context{UserID: "@alice:example.org", MemberCount: 12}
	b.ReportAllocs()
	for b.Loop() {
		e, err := NewEvent(benchMessage)
		if err != nil {
			b.Fatal(err)
		}
		if r := ev.Evaluate(e, c); r.RuleID != ".m.rule.message" {
			b.Fatalf("rule %q", r.RuleID)
		}
	}
}

// BenchmarkCompileDefaults builds and compiles a user's default ruleset
// (done once per user and cached by the caller).
func BenchmarkCompileDefaults(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		rs := Merge("@alice:example.org", Ruleset{}, nil)
		Compile(&rs)
	}
}
