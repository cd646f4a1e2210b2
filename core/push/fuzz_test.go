package push

import (
	"encoding/json"
	"testing"
)

// FuzzSplitJoinPath checks that JoinPath and SplitPath are inverses on any
// list of names.
func FuzzSplitJoinPath(f *testing.F) {
	f.Add("content", `m.relates_to`, `a\b`)
	f.Add("", ".", `\\.`)
	f.Fuzz(func(t *testing.T, a, b, c string) {
		names := []string{a, b, c}
		got := SplitPath(JoinPath(names...))
		if len(got) != 3 || got[0] != a || got[1] != b || got[2] != c {
			t.Fatalf("SplitPath(JoinPath(%q)) = %q", names, got)
		}
	})
}

// FuzzEvaluate feeds arbitrary events and rules to the evaluator: no input
// may make it panic, and an accepted rule must survive a JSON round trip.
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte(benchMessage), "content.body", "lunch*", []byte(`{"actions":["notify"],"pattern":"x*"}`))
	f.Add([]byte(`{"content":{"a.b":[1,null,"x"]},"sender":"@x:y"}`), `content.a\.b`, "?", []byte(`{"conditions":[{"kind":"event_property_contains","key":"content.a\\.b","value":null}],"actions":[]}`))
	f.Add([]byte(`{"content":"x"}`), "content.x.y", "", []byte(`{"conditions":[{"kind":"room_member_count","is":">=1"}],"actions":[{"set_tweak":"highlight"}]}`))
	f.Fuzz(func(t *testing.T, event []byte, key, pattern string, ruleBody []byte) {
		rs := Defaults("@me:x")
		rs.Override = append(rs.Override, Rule{RuleID: "f", Enabled: true, Actions: raws(`"notify"`),
			Conditions: []Condition{{Kind: "event_match", Key: key, Pattern: &pattern}, {Kind: "event_property_is", Key: key, Value: json.RawMessage(`"x"`)}}})
		for _, k := range Kinds {
			if r, err := ParseRule(k, "fz", ruleBody); err == nil {
				b, err := json.Marshal(r)
				if err != nil {
					t.Fatalf("Marshal(%+v): %v", r, err)
				}
				var back Rule
				if err := json.Unmarshal(b, &back); err != nil {
					t.Fatalf("Unmarshal(%s): %v", b, err)
				}
				*rs.Rules(k) = append([]Rule{r}, *rs.Rules(k)...)
			}
		}
		e, err := NewEvent(event)
		if err != nil {
			return
		}
		c := &Context{UserID: "@me:x", DisplayName: pattern, MemberCount: 2}
		Compile(&rs).Evaluate(e, c)
		e.ThreadID()
	})
}
