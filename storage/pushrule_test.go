package storage

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/push"
)

func contentRule(t *testing.T, id, pattern string) push.Rule {
	t.Helper()
	r, err := push.ParseRule(push.Content, id, []byte(`{"pattern":"`+pattern+`","actions":["notify"]}`))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ruleIDs(rules []push.Rule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.RuleID)
	}
	return out
}

func TestPushRuleOrder(t *testing.T) {
	ctx := context.Background()
	s := NewPushRuleStore(mustOpen(t))
	const u = "@alice:example.org"
	steps := []struct {
		id, before, after string
		want              []string
	}{
		{"a", "", "", []string{"a"}},
		{"b", "", "", []string{"b", "a"}},                  // new rules go first
		{"c", "a", "", []string{"b", "c", "a"}},            // just before a
		{"d", "", "b", []string{"b", "d", "c", "a"}},       // just after b
		{"a", "", "", []string{"b", "d", "c", "a"}},        // an update keeps its place
		{"a", "b", "", []string{"a", "b", "d", "c"}},       // unless moved
		{"e", "c", "b", []string{"a", "b", "d", "e", "c"}}, // before wins
	}
	for _, st := range steps {
		if err := s.PutPushRule(ctx, u, push.Content, contentRule(t, st.id, st.id), st.before, st.after); err != nil {
			t.Fatalf("PutPushRule(%s before %q after %q): %v", st.id, st.before, st.after, err)
		}
		rs, err := s.PushRules(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(st.want, ruleIDs(rs.Content)); diff != "" {
			t.Errorf("after putting %s (before %q, after %q) (-want +got):\n%s", st.id, st.before, st.after, diff)
		}
	}
	err := s.PutPushRule(ctx, u, push.Content, contentRule(t, "f", "f"), "nope", "")
	wantErrIs(t, "unknown before", err, core.ErrUnknown)
	err = s.PutPushRule(ctx, u, push.Content, contentRule(t, "f", "f"), ".m.rule.master", "")
	wantErrIs(t, "before a default rule", err, core.ErrUnknown)
	// Other users are not affected.
	if rs, _ := s.PushRules(ctx, "@bob:example.org"); len(rs.Content) != 0 {
		t.Errorf("bob's content rules = %v", ruleIDs(rs.Content))
	}
}

func TestPushRuleChanges(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	s := NewPushRuleStore(db)
	ad := NewAccountDataStore(db)
	const u = "@alice:example.org"

	// Warm the cache, then check every change is seen by the evaluator.
	msg, _ := push.NewEvent([]byte(`{"type":"m.room.message","sender":"@bob:example.org","room_id":"!r:example.org","content":{"body":"cake time"}}`))
	eval := func() push.Result {
		ev, err := s.Evaluator(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return ev.Evaluate(msg, &push.Context{UserID: u, MemberCount: 5})
	}
	if r := eval(); r.RuleID != ".m.rule.message" {
		t.Fatalf("default rule = %s", r.RuleID)
	}

	if err := s.SetPushRuleEnabled(ctx, u, push.Underride, ".m.rule.message", false); err != nil {
		t.Fatal(err)
	}
	if r := eval(); r.Matched {
		t.Errorf("with .m.rule.message disabled, %s matched", r.RuleID)
	}
	if err := s.PutPushRule(ctx, u, push.Content, contentRule(t, "cake", "cake"), "", ""); err != nil {
		t.Fatal(err)
	}
	if r := eval(); r.RuleID != "cake" || !r.Actions.Notify {
		t.Errorf("content rule: got %s", r.RuleID)
	}
	if err := s.SetPushRuleActions(ctx, u, push.Content, "cake", []json.RawMessage{json.RawMessage(`{"set_tweak":"highlight"}`)}); err != nil {
		t.Fatal(err)
	}
	if r := eval(); r.RuleID != "cake" || r.Actions.Notify || !r.Actions.Highlight {
		t.Errorf("after new actions: %s %+v", r.RuleID, r.Actions)
	}
	if err := s.SetPushRuleEnabled(ctx, u, push.Content, "cake", false); err != nil {
		t.Fatal(err)
	}
	// An update keeps a disabled rule disabled.
	if err := s.PutPushRule(ctx, u, push.Content, contentRule(t, "cake", "cake"), "", ""); err != nil {
		t.Fatal(err)
	}
	if r := eval(); r.Matched {
		t.Errorf("disabled rule matched: %s", r.RuleID)
	}
	if err := s.SetPushRuleActions(ctx, u, push.Underride, ".m.rule.message", []json.RawMessage{}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPushRuleEnabled(ctx, u, push.Underride, ".m.rule.message", true); err != nil {
		t.Fatal(err)
	}
	if r := eval(); r.RuleID != ".m.rule.message" || r.Actions.Notify {
		t.Errorf("default with empty actions: %s %+v", r.RuleID, r.Actions)
	}

	// Errors.
	wantErrIs(t, "enable unknown", s.SetPushRuleEnabled(ctx, u, push.Content, "nope", true), core.ErrNotFound)
	wantErrIs(t, "actions unknown", s.SetPushRuleActions(ctx, u, push.Override, "cake", nil), core.ErrNotFound)
	wantErrIs(t, "default rule of another kind", s.SetPushRuleEnabled(ctx, u, push.Override, ".m.rule.message", true), core.ErrNotFound)
	wantErrIs(t, "delete default", s.DeletePushRule(ctx, u, push.Underride, ".m.rule.message"), core.ErrInvalidParam)
	wantErrIs(t, "delete unknown", s.DeletePushRule(ctx, u, push.Content, "nope"), core.ErrNotFound)
	if err := s.DeletePushRule(ctx, u, push.Content, "cake"); err != nil {
		t.Fatal(err)
	}

	// m.push_rules account data follows every change.
	c, err := ad.AccountData(ctx, u, "", core.AccountDataPushRules)
	if err != nil {
		t.Fatal(err)
	}
	var stored struct{ Global push.Ruleset }
	if err := json.Unmarshal(c, &stored); err != nil {
		t.Fatal(err)
	}
	current, _ := s.PushRules(ctx, u)
	a, _ := json.Marshal(stored.Global)
	b, _ := json.Marshal(current)
	if string(a) != string(b) {
		t.Errorf("m.push_rules = %s\nwant %s", a, b)
	}
	if len(current.Content) != 0 {
		t.Errorf("content rules after delete = %v", ruleIDs(current.Content))
	}
}
