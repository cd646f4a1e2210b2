package web

import (
	"encoding/json"
	"net/url"
	"testing"
)

func TestPushRulesAPI(t *testing.T) {
	ps := newPersonalServer(t)
	alice := ps.registerTestUser(t, "alice")
	const base = "/_matrix/client/v3/pushrules/"
	tok := alice.AccessToken

	status, body := ps.do(t, "GET", base, tok, nil)
	global, _ := body["global"].(map[string]any)
	if status != 200 || global == nil {
		t.Fatalf("GET /pushrules/ = %d %v", status, body)
	}
	for _, k := range []string{"override", "content", "room", "sender", "underride"} {
		if _, ok := global[k].([]any); !ok {
			t.Errorf("ruleset has no %s list", k)
		}
	}
	status, body = ps.do(t, "GET", base+"global/override/.m.rule.invite_for_me", tok, nil)
	conds, _ := body["conditions"].([]any)
	if status != 200 || len(conds) != 3 || conds[2].(map[string]any)["pattern"] != alice.UserID || body["default"] != true {
		t.Errorf("invite_for_me = %d %v", status, body)
	}

	// The spec's examples.
	roomRule := base + "global/room/" + url.PathEscape("!dj234r78wl45Gh4D:matrix.org")
	steps := []struct{ method, path, body string }{
		{"PUT", roomRule, `{"actions":[]}`},
		{"PUT", base + "global/sender/" + url.PathEscape("@spambot:matrix.org"), `{"actions":[]}`},
		{"PUT", base + "global/content/SSByZWFsbHkgbGlrZSBjYWtl", `{"pattern":"cake","actions":["notify",{"set_tweak":"sound","value":"cakealarm.wav"}]}`},
		{"PUT", base + "global/content/U3BvbmdlIGNha2UgaXMgYmVzdA?before=SSByZWFsbHkgbGlrZSBjYWtl", `{"pattern":"cake*lie","actions":["notify"]}`},
		{"PUT", base + "global/override/U2VlIHlvdSBpbiBUaGUgRHVrZQ", `{"conditions":[{"kind":"event_match","key":"content.body","pattern":"beer"},{"kind":"room_member_count","is":"<=10"}],"actions":["notify",{"set_tweak":"sound","value":"beeroclock.wav"}]}`},
	}
	for _, st := range steps {
		changed := ps.Server.opts.Notifier.Changed()
		status, body := ps.do(t, st.method, st.path, tok, st.body)
		wantOK(t, st.method+" "+st.path, status, body)
		select {
		case <-changed:
		default:
			t.Errorf("%s %s did not wake /sync", st.method, st.path)
		}
	}
	status, body = ps.do(t, "GET", base+"global/", tok, nil)
	if status != 200 {
		t.Fatalf("GET global = %d %v", status, body)
	}
	ids := func(kind string) []string {
		var out []string
		for _, r := range body[kind].([]any) {
			out = append(out, r.(map[string]any)["rule_id"].(string))
		}
		return out
	}
	if got := ids("content"); len(got) != 2 || got[0] != "U3BvbmdlIGNha2UgaXMgYmVzdA" || got[1] != "SSByZWFsbHkgbGlrZSBjYWtl" {
		t.Errorf("content order = %v", got)
	}
	if got := ids("override"); len(got) < 2 || got[0] != ".m.rule.master" || got[1] != "U2VlIHlvdSBpbiBUaGUgRHVrZQ" {
		t.Errorf("override order = %v", got)
	}
	status, body = ps.do(t, "GET", base+"global/content/U3BvbmdlIGNha2UgaXMgYmVzdA", tok, nil)
	if status != 200 || body["pattern"] != "cake*lie" || body["enabled"] != true || body["default"] != false {
		t.Errorf("GET content rule = %d %v", status, body)
	}

	// enabled and actions, on a default rule and a user rule.
	status, body = ps.do(t, "PUT", base+"global/override/.m.rule.master/enabled", tok, `{"enabled":true}`)
	wantOK(t, "enable master", status, body)
	status, body = ps.do(t, "GET", base+"global/override/.m.rule.master/enabled", tok, nil)
	if status != 200 || body["enabled"] != true {
		t.Errorf("master enabled = %d %v", status, body)
	}
	status, body = ps.do(t, "PUT", roomRule+"/actions", tok, `{"actions":["notify",{"set_tweak":"highlight"}]}`)
	wantOK(t, "set actions", status, body)
	status, body = ps.do(t, "GET", roomRule+"/actions", tok, nil)
	if acts, _ := body["actions"].([]any); status != 200 || len(acts) != 2 || acts[0] != "notify" {
		t.Errorf("GET actions = %d %v", status, body)
	}
	status, body = ps.do(t, "PUT", base+"global/underride/.m.rule.message/actions", tok, `{"actions":["dont_notify"]}`)
	wantOK(t, "set default actions", status, body)
	status, body = ps.do(t, "GET", base+"global/underride/.m.rule.message/actions", tok, nil)
	if acts, ok := body["actions"].([]any); status != 200 || !ok || len(acts) != 0 {
		t.Errorf("dont_notify is stripped: %d %v", status, body)
	}
	status, body = ps.do(t, "DELETE", roomRule, tok, nil)
	wantOK(t, "DELETE room rule", status, body)
	status, body = ps.do(t, "GET", roomRule, tok, nil)
	wantError(t, "deleted rule", status, body, 404, "M_NOT_FOUND")

	// m.push_rules account data follows.
	status, body = ps.do(t, "GET", "/_matrix/client/v3/user/"+alice.UserID+"/account_data/m.push_rules", tok, nil)
	b, _ := json.Marshal(body)
	var pr struct {
		Global struct {
			Override []struct {
				RuleID  string `json:"rule_id"`
				Enabled bool   `json:"enabled"`
			} `json:"override"`
			Room []any `json:"room"`
		} `json:"global"`
	}
	if err := json.Unmarshal(b, &pr); err != nil || status != 200 || len(pr.Global.Override) == 0 ||
		pr.Global.Override[0].RuleID != ".m.rule.master" || !pr.Global.Override[0].Enabled || len(pr.Global.Room) != 0 {
		t.Errorf("m.push_rules = %d %s", status, b)
	}

	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"unknown rule", "GET", base + "global/content/nope", "", 404, "M_NOT_FOUND"},
		{"unknown rule enabled", "GET", base + "global/content/nope/enabled", "", 404, "M_NOT_FOUND"},
		{"unknown rule actions", "GET", base + "global/content/nope/actions", "", 404, "M_NOT_FOUND"},
		{"enable unknown rule", "PUT", base + "global/content/nope/enabled", `{"enabled":false}`, 404, "M_NOT_FOUND"},
		{"actions of unknown rule", "PUT", base + "global/content/nope/actions", `{"actions":[]}`, 404, "M_NOT_FOUND"},
		{"delete unknown rule", "DELETE", base + "global/content/nope", "", 404, "M_NOT_FOUND"},
		{"default rule in the wrong kind", "GET", base + "global/content/.m.rule.master", "", 404, "M_NOT_FOUND"},
		{"delete a default rule", "DELETE", base + "global/override/.m.rule.master", "", 400, "M_INVALID_PARAM"},
		{"bad kind", "GET", base + "global/everything/x", "", 400, "M_INVALID_PARAM"},
		{"bad kind PUT", "PUT", base + "global/everything/x", `{"actions":[]}`, 400, "M_INVALID_PARAM"},
		{"bad scope", "GET", base + "device/content/x", "", 400, "M_INVALID_PARAM"},
		{"bad scope listing", "GET", base + "device/", "", 400, "M_INVALID_PARAM"},
		{"dot rule ID", "PUT", base + "global/override/.m.rule.mine", `{"actions":[]}`, 400, "M_INVALID_PARAM"},
		{"slash in rule ID", "PUT", base + "global/override/a%2Fb", `{"actions":[]}`, 400, "M_INVALID_PARAM"},
		{"unknown before", "PUT", base + "global/content/x?before=nope", `{"pattern":"x","actions":[]}`, 400, "M_UNKNOWN"},
		{"missing actions", "PUT", base + "global/override/x", `{"conditions":[]}`, 400, "M_MISSING_PARAM"},
		{"missing pattern", "PUT", base + "global/content/x", `{"actions":[]}`, 400, "M_MISSING_PARAM"},
		{"bad action", "PUT", base + "global/override/x", `{"actions":["explode"]}`, 400, "M_INVALID_PARAM"},
		{"bad condition", "PUT", base + "global/override/x", `{"actions":[],"conditions":[{"kind":"room_member_count","is":"many"}]}`, 400, "M_INVALID_PARAM"},
		{"room rule for a non-room", "PUT", base + "global/room/x", `{"actions":[]}`, 400, "M_INVALID_PARAM"},
		{"body not an object", "PUT", base + "global/override/x", `[]`, 400, "M_BAD_JSON"},
		{"body not JSON", "PUT", base + "global/override/x", `{`, 400, "M_NOT_JSON"},
		{"enabled missing", "PUT", base + "global/override/.m.rule.master/enabled", `{}`, 400, "M_MISSING_PARAM"},
		{"enabled not a boolean", "PUT", base + "global/override/.m.rule.master/enabled", `{"enabled":"yes"}`, 400, "M_BAD_JSON"},
		{"actions missing", "PUT", base + "global/override/.m.rule.master/actions", `{}`, 400, "M_MISSING_PARAM"},
		{"actions not a list", "PUT", base + "global/override/.m.rule.master/actions", `{"actions":"notify"}`, 400, "M_INVALID_PARAM"},
	}
	for _, tt := range tests {
		var body any
		if tt.body != "" {
			body = tt.body
		}
		status, got := ps.do(t, tt.method, tt.path, tok, body)
		wantError(t, tt.name, status, got, tt.status, tt.code)
	}
	status, body = ps.do(t, "GET", base, "", nil)
	wantError(t, "no token", status, body, 401, "M_MISSING_TOKEN")
}
