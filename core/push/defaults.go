package push

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// MasterRuleID is the server-default rule that, once enabled, turns every
// notification off; it outranks user-defined rules.
const MasterRuleID = ".m.rule.master"

// userPlaceholder stands for the user's Matrix ID in defaultRulesJSON, as
// "[the user's Matrix ID]" does in the spec.
const userPlaceholder = "@@USER@@"

// defaultRulesJSON holds the server-default rules of the spec (v1.19,
// "Predefined Rules"), copied from the definitions given there, in the
// order given. Since v1.17 the legacy rules that looked for mentions in
// the body (.m.rule.contains_display_name, .m.rule.contains_user_name,
// .m.rule.roomnotif) are no longer server-default rules; the
// contains_display_name condition itself still works in user rules.
const defaultRulesJSON = `{
"override": [
  {"rule_id": ".m.rule.master", "default": true, "enabled": false, "conditions": [], "actions": []},
  {"rule_id": ".m.rule.suppress_notices", "default": true, "enabled": true,
   "conditions": [{"kind": "event_match", "key": "content.msgtype", "pattern": "m.notice"}],
   "actions": []},
  {"rule_id": ".m.rule.invite_for_me", "default": true, "enabled": true,
   "conditions": [
     {"key": "type", "kind": "event_match", "pattern": "m.room.member"},
     {"key": "content.membership", "kind": "event_match", "pattern": "invite"},
     {"key": "state_key", "kind": "event_match", "pattern": "@@USER@@"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "default"}]},
  {"rule_id": ".m.rule.member_event", "default": true, "enabled": true,
   "conditions": [{"key": "type", "kind": "event_match", "pattern": "m.room.member"}],
   "actions": []},
  {"rule_id": ".m.rule.is_user_mention", "default": true, "enabled": true,
   "conditions": [{"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": "@@USER@@"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "default"}, {"set_tweak": "highlight"}]},
  {"rule_id": ".m.rule.is_room_mention", "default": true, "enabled": true,
   "conditions": [
     {"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": true},
     {"kind": "sender_notification_permission", "key": "room"}],
   "actions": ["notify", {"set_tweak": "highlight"}]},
  {"rule_id": ".m.rule.tombstone", "default": true, "enabled": true,
   "conditions": [
     {"kind": "event_match", "key": "type", "pattern": "m.room.tombstone"},
     {"kind": "event_match", "key": "state_key", "pattern": ""}],
   "actions": ["notify", {"set_tweak": "highlight"}]},
  {"rule_id": ".m.rule.reaction", "default": true, "enabled": true,
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.reaction"}],
   "actions": []},
  {"rule_id": ".m.rule.room.server_acl", "default": true, "enabled": true,
   "conditions": [
     {"kind": "event_match", "key": "type", "pattern": "m.room.server_acl"},
     {"kind": "event_match", "key": "state_key", "pattern": ""}],
   "actions": []},
  {"rule_id": ".m.rule.suppress_edits", "default": true, "enabled": true,
   "conditions": [{"kind": "event_property_is", "key": "content.m\\.relates_to.rel_type", "value": "m.replace"}],
   "actions": []}
],
"content": [],
"room": [],
"sender": [],
"underride": [
  {"rule_id": ".m.rule.call", "default": true, "enabled": true,
   "conditions": [{"key": "type", "kind": "event_match", "pattern": "m.call.invite"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "ring"}]},
  {"rule_id": ".m.rule.encrypted_room_one_to_one", "default": true, "enabled": true,
   "conditions": [
     {"kind": "room_member_count", "is": "2"},
     {"kind": "event_match", "key": "type", "pattern": "m.room.encrypted"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "default"}]},
  {"rule_id": ".m.rule.room_one_to_one", "default": true, "enabled": true,
   "conditions": [
     {"kind": "room_member_count", "is": "2"},
     {"kind": "event_match", "key": "type", "pattern": "m.room.message"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "default"}]},
  {"rule_id": ".m.rule.message", "default": true, "enabled": true,
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.message"}],
   "actions": ["notify"]},
  {"rule_id": ".m.rule.encrypted", "default": true, "enabled": true,
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.encrypted"}],
   "actions": ["notify"]}
]
}`

// Defaults returns the server-default rules for userID, freshly built (the
// caller may change them).
func Defaults(userID string) Ruleset {
	q, _ := json.Marshal(userID)
	// q is a JSON string; the placeholder sits inside quotes in the text.
	text := strings.ReplaceAll(defaultRulesJSON, `"`+userPlaceholder+`"`, string(q))
	var rs Ruleset
	if err := json.Unmarshal([]byte(text), &rs); err != nil {
		panic(fmt.Sprintf("push: default rules: %v", err)) // a bug in the constant, caught by tests
	}
	for _, l := range []*[]Rule{&rs.Override, &rs.Content, &rs.Room, &rs.Sender, &rs.Underride} {
		for i := range *l {
			// Raw forms came from the constant, with its spacing; drop them
			// so the rules marshal compactly.
			for j := range (*l)[i].Conditions {
				(*l)[i].Conditions[j].Raw = compact((*l)[i].Conditions[j].Raw)
			}
			for j := range (*l)[i].Actions {
				(*l)[i].Actions[j] = compact((*l)[i].Actions[j])
			}
		}
	}
	return rs
}

// IsDefaultRuleID reports whether id is reserved for server-default rules
// (it starts with a dot).
func IsDefaultRuleID(id string) bool { return strings.HasPrefix(id, ".") }

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}
