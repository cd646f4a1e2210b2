package push

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// specDefinitions reads every "Definition:" JSON block of the spec's push
// module (testdata/push.md, a copy of the v1.19 text) with the user's ID
// put in for its placeholder, by section: override or underride.
func specDefinitions(t *testing.T, userID string) map[Kind][]map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/push.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "##### Default Override Rules")
	under := strings.Index(text, "##### Default Underride Rules")
	end := strings.Index(text, "#### Push Rules: API")
	if start < 0 || under < start || end < under {
		t.Fatal("testdata/push.md: sections not found")
	}
	block := regexp.MustCompile("(?s)Definition:\\s*```json\\s*(\\{.*?\\})\\s*```")
	read := func(s string) []map[string]any {
		var out []map[string]any
		for _, m := range block.FindAllStringSubmatch(s, -1) {
			js := strings.ReplaceAll(m[1], "[the user's Matrix ID]", userID)
			var v map[string]any
			if err := json.Unmarshal([]byte(js), &v); err != nil {
				t.Fatalf("spec definition does not parse: %v\n%s", err, js)
			}
			out = append(out, v)
		}
		return out
	}
	return map[Kind][]map[string]any{
		Override:  read(text[start:under]),
		Underride: read(text[under:end]),
	}
}

func TestDefaultsMatchSpec(t *testing.T) {
	const user = "@alice:example.com"
	want := specDefinitions(t, user)
	if len(want[Override]) != 10 || len(want[Underride]) != 5 {
		t.Fatalf("spec has %d override and %d underride definitions, want 10 and 5", len(want[Override]), len(want[Underride]))
	}
	rs := Defaults(user)
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	var got map[Kind][]map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []Kind{Override, Underride} {
		if diff := cmp.Diff(want[k], got[k]); diff != "" {
			t.Errorf("%s defaults differ from the spec (-spec +ours):\n%s", k, diff)
		}
	}
	for _, k := range []Kind{Content, Room, Sender} {
		if l, ok := got[k]; !ok || len(l) != 0 {
			t.Errorf("%s defaults = %v, want present and empty", k, l)
		}
	}
}

func TestDefaultsQuoteUserID(t *testing.T) {
	// A user ID needing JSON escapes (historical IDs allow '"') must not
	// break the rules.
	user := `@we"ird\:example.com`
	rs := Defaults(user)
	r := rs.Find(Override, ".m.rule.invite_for_me")
	if r == nil || len(r.Conditions) != 3 || r.Conditions[2].Pattern == nil || *r.Conditions[2].Pattern != user {
		t.Fatalf("invite_for_me = %+v", r)
	}
}

func TestMergeOrder(t *testing.T) {
	user := Ruleset{
		Override: []Rule{{RuleID: "mine", Enabled: true, Conditions: []Condition{}}},
		Content:  []Rule{{RuleID: "cake", Enabled: true, Pattern: ptr("cake")}},
	}
	off := false
	changes := map[RuleKey]DefaultChange{
		{Underride, ".m.rule.message"}:   {Enabled: &off},
		{Override, ".m.rule.reaction"}:   {Actions: []json.RawMessage{json.RawMessage(`"notify"`)}},
		{Override, ".m.rule.not.a.rule"}: {Enabled: &off},
	}
	rs := Merge("@a:x", user, changes)
	var ids []string
	for _, r := range rs.Override {
		ids = append(ids, r.RuleID)
	}
	want := []string{".m.rule.master", "mine", ".m.rule.suppress_notices", ".m.rule.invite_for_me",
		".m.rule.member_event", ".m.rule.is_user_mention", ".m.rule.is_room_mention", ".m.rule.tombstone",
		".m.rule.reaction", ".m.rule.room.server_acl", ".m.rule.suppress_edits"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("override order (-want +got):\n%s", diff)
	}
	if r := rs.Find(Underride, ".m.rule.message"); r == nil || r.Enabled {
		t.Errorf(".m.rule.message = %+v, want disabled", r)
	}
	if r := rs.Find(Override, ".m.rule.reaction"); r == nil || len(r.Actions) != 1 || string(r.Actions[0]) != `"notify"` {
		t.Errorf(".m.rule.reaction = %+v, want actions [notify]", r)
	}
	if len(rs.Content) != 1 || rs.Content[0].RuleID != "cake" {
		t.Errorf("content = %+v", rs.Content)
	}
}

func TestRuleJSON(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want string
	}{
		{"override with no conditions", Rule{RuleID: "x", Enabled: true, Conditions: []Condition{}},
			`{"rule_id":"x","default":false,"enabled":true,"actions":[],"conditions":[]}`},
		{"content", Rule{RuleID: "c", Enabled: true, Pattern: ptr(""), Actions: []json.RawMessage{json.RawMessage(`"notify"`)}},
			`{"rule_id":"c","default":false,"enabled":true,"pattern":"","actions":["notify"]}`},
		{"room", Rule{RuleID: "!r:x", Default: false, Enabled: false},
			`{"rule_id":"!r:x","default":false,"enabled":false,"actions":[]}`},
		{"unknown condition kept", Rule{RuleID: "u", Enabled: true, Conditions: []Condition{{Kind: "org.example", Raw: json.RawMessage(`{"kind":"org.example","foo":1}`)}}},
			`{"rule_id":"u","default":false,"enabled":true,"actions":[],"conditions":[{"kind":"org.example","foo":1}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("Marshal = %s, want %s", b, tt.want)
			}
			var back Rule
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			b2, _ := json.Marshal(back)
			if string(b2) != tt.want {
				t.Errorf("round trip = %s, want %s", b2, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
