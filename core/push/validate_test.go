package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitPath(t *testing.T) {
	tests := []struct {
		path string
		want []string
	}{
		{"content.body", []string{"content", "body"}},
		{`content.m\.relates_to`, []string{"content", "m.relates_to"}},
		{`content.m\\foo`, []string{"content", `m\foo`}},
		{`content.m\xfoo`, []string{"content", `m\xfoo`}},
		{`a\\.b`, []string{`a\`, "b"}},
		{`a\`, []string{`a\`}},
		{"type", []string{"type"}},
		{"a..b", []string{"a", "", "b"}},
	}
	for _, tt := range tests {
		if got := SplitPath(tt.path); !cmp.Equal(got, tt.want) {
			t.Errorf("SplitPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestParseRule(t *testing.T) {
	tests := []struct {
		name    string
		kind    Kind
		id      string
		body    string
		want    string // the rule's JSON when accepted
		wantErr error
	}{
		{"content rule", Content, "SSByZWFsbHkgbGlrZSBjYWtl", `{"pattern":"cake","actions":["notify",{"set_tweak":"sound","value":"cakealarm.wav"}]}`,
			`{"rule_id":"SSByZWFsbHkgbGlrZSBjYWtl","default":false,"enabled":true,"pattern":"cake","actions":["notify",{"set_tweak":"sound","value":"cakealarm.wav"}]}`, nil},
		{"room rule", Room, "!dj234r78wl45Gh4D:matrix.org", `{"actions":[]}`,
			`{"rule_id":"!dj234r78wl45Gh4D:matrix.org","default":false,"enabled":true,"actions":[]}`, nil},
		{"sender rule drops dont_notify", Sender, "@spambot:matrix.org", `{"actions":["dont_notify"]}`,
			`{"rule_id":"@spambot:matrix.org","default":false,"enabled":true,"actions":[]}`, nil},
		{"override rule", Override, "U2VlIHlvdSBpbiBUaGUgRHVrZQ", `{"conditions":[{"kind":"event_match","key":"content.body","pattern":"beer"},{"kind":"room_member_count","is":"<=10"}],"actions":["notify",{"set_tweak":"sound","value":"beeroclock.wav"}]}`,
			`{"rule_id":"U2VlIHlvdSBpbiBUaGUgRHVrZQ","default":false,"enabled":true,"actions":["notify",{"set_tweak":"sound","value":"beeroclock.wav"}],"conditions":[{"kind":"event_match","key":"content.body","pattern":"beer"},{"kind":"room_member_count","is":"<=10"}]}`, nil},
		{"underride without conditions", Underride, "all", `{"actions":["notify"]}`,
			`{"rule_id":"all","default":false,"enabled":true,"actions":["notify"],"conditions":[]}`, nil},
		{"unknown condition kept", Override, "x", `{"conditions":[{"kind":"org.example.cond","foo":[1]}],"actions":[]}`,
			`{"rule_id":"x","default":false,"enabled":true,"actions":[],"conditions":[{"kind":"org.example.cond","foo":[1]}]}`, nil},
		{"dot rule id", Override, ".m.rule.mine", `{"actions":[]}`, "", ErrInvalidRule},
		{"slash rule id", Override, "a/b", `{"actions":[]}`, "", ErrInvalidRule},
		{"backslash rule id", Override, `a\b`, `{"actions":[]}`, "", ErrInvalidRule},
		{"room rule id not a room", Room, "notaroom", `{"actions":[]}`, "", ErrInvalidRule},
		{"sender rule id not a user", Sender, "!room:x", `{"actions":[]}`, "", ErrInvalidRule},
		{"missing actions", Override, "x", `{}`, "", ErrMissingParam},
		{"actions not an array", Override, "x", `{"actions":"notify"}`, "", ErrInvalidRule},
		{"unknown action", Override, "x", `{"actions":["ring"]}`, "", ErrInvalidRule},
		{"tweak without name", Override, "x", `{"actions":[{"value":1}]}`, "", ErrInvalidRule},
		{"highlight not a boolean", Override, "x", `{"actions":[{"set_tweak":"highlight","value":"yes"}]}`, "", ErrInvalidRule},
		{"content without pattern", Content, "x", `{"actions":[]}`, "", ErrMissingParam},
		{"pattern not a string", Content, "x", `{"pattern":5,"actions":[]}`, "", ErrInvalidRule},
		{"condition without kind", Override, "x", `{"conditions":[{"key":"type"}],"actions":[]}`, "", ErrMissingParam},
		{"event_match without pattern", Override, "x", `{"conditions":[{"kind":"event_match","key":"type"}],"actions":[]}`, "", ErrMissingParam},
		{"event_property_is compound", Override, "x", `{"conditions":[{"kind":"event_property_is","key":"a","value":{}}],"actions":[]}`, "", ErrInvalidRule},
		{"event_property_is float", Override, "x", `{"conditions":[{"kind":"event_property_is","key":"a","value":1.5}],"actions":[]}`, "", ErrInvalidRule},
		{"bad member count", Override, "x", `{"conditions":[{"kind":"room_member_count","is":"lots"}],"actions":[]}`, "", ErrInvalidRule},
		{"conditions not an array", Override, "x", `{"conditions":{},"actions":[]}`, "", ErrInvalidRule},
		{"condition kind not a string", Override, "x", `{"conditions":[{"kind":1}],"actions":[]}`, "", ErrInvalidRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRule(tt.kind, tt.id, []byte(tt.body))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseRule error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRule: %v", err)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(r); err != nil {
				t.Fatal(err)
			}
			if b := bytes.TrimSpace(buf.Bytes()); string(b) != tt.want {
				t.Errorf("rule = %s\nwant   %s", b, tt.want)
			}
		})
	}
}
