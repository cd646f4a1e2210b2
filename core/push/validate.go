package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"hearth.dev/hearth/core/id"
)

// The errors of ParseRule and CheckActions, for errors.Is: ErrInvalidRule
// for a value that is wrong, ErrMissingParam for one that is absent.
var (
	ErrInvalidRule  = errors.New("invalid push rule")
	ErrMissingParam = errors.New("missing push rule parameter")
)

// maxPatternLen bounds glob patterns and condition keys, so a rule cannot
// make a huge regular expression.
const maxPatternLen = 4096

// CheckRuleID checks the ID of a user-defined rule of kind k: not empty, no
// leading dot (reserved for server-default rules), no slash or backslash; a
// room rule's ID is a room ID and a sender rule's a user ID.
func CheckRuleID(k Kind, ruleID string) error {
	switch {
	case ruleID == "":
		return fmt.Errorf("%w: empty rule ID", ErrInvalidRule)
	case IsDefaultRuleID(ruleID):
		return fmt.Errorf("%w: rule IDs starting with '.' are reserved for server-default rules", ErrInvalidRule)
	case strings.ContainsAny(ruleID, `/\`):
		return fmt.Errorf("%w: rule IDs may not contain '/' or '\\'", ErrInvalidRule)
	}
	switch k {
	case Room:
		if _, err := id.ParseRoomID(ruleID); err != nil {
			return fmt.Errorf("%w: the rule ID of a room rule must be a room ID", ErrInvalidRule)
		}
	case Sender:
		if _, err := id.ParseUserID(ruleID); err != nil {
			return fmt.Errorf("%w: the rule ID of a sender rule must be a user ID", ErrInvalidRule)
		}
	}
	return nil
}

// ParseRule reads the body of PUT /pushrules/global/{kind}/{ruleId} into a
// new enabled user-defined rule: actions are required; content rules need
// a pattern; override and underride rules may have conditions (others'
// conditions and patterns are ignored). The historical actions dont_notify
// and coalesce are dropped. Errors wrap ErrInvalidRule or ErrMissingParam.
func ParseRule(k Kind, ruleID string, body []byte) (Rule, error) {
	if err := CheckRuleID(k, ruleID); err != nil {
		return Rule{}, err
	}
	var b struct {
		Actions    json.RawMessage `json:"actions"`
		Conditions json.RawMessage `json:"conditions"`
		Pattern    json.RawMessage `json:"pattern"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return Rule{}, fmt.Errorf("%w: the body must be a JSON object", ErrInvalidRule)
	}
	actions, err := parseActionList(b.Actions)
	if err != nil {
		return Rule{}, err
	}
	r := Rule{RuleID: ruleID, Enabled: true, Actions: actions}
	switch k {
	case Content:
		if isAbsent(b.Pattern) {
			return Rule{}, fmt.Errorf("%w: content rules need a pattern", ErrMissingParam)
		}
		var p string
		if json.Unmarshal(b.Pattern, &p) != nil {
			return Rule{}, fmt.Errorf("%w: pattern must be a string", ErrInvalidRule)
		}
		if len(p) > maxPatternLen {
			return Rule{}, fmt.Errorf("%w: pattern too long", ErrInvalidRule)
		}
		r.Pattern = &p
	case Override, Underride:
		r.Conditions = []Condition{}
		if !isAbsent(b.Conditions) {
			var conds []json.RawMessage
			if json.Unmarshal(b.Conditions, &conds) != nil {
				return Rule{}, fmt.Errorf("%w: conditions must be an array", ErrInvalidRule)
			}
			for i, raw := range conds {
				c, err := checkCondition(raw)
				if err != nil {
					return Rule{}, fmt.Errorf("condition %d: %w", i, err)
				}
				r.Conditions = append(r.Conditions, c)
			}
		}
	}
	return r, nil
}

// CheckActions reads the actions list of PUT .../actions (or of a rule):
// each is "notify" or {"set_tweak": name, ...}; "dont_notify" and
// "coalesce" are accepted and dropped. Errors wrap ErrInvalidRule or
// ErrMissingParam.
func CheckActions(raw json.RawMessage) ([]json.RawMessage, error) {
	return parseActionList(raw)
}

func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

func parseActionList(raw json.RawMessage) ([]json.RawMessage, error) {
	if isAbsent(raw) {
		return nil, fmt.Errorf("%w: actions", ErrMissingParam)
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil, fmt.Errorf("%w: actions must be an array", ErrInvalidRule)
	}
	out := []json.RawMessage{}
	for _, a := range list {
		var s string
		if json.Unmarshal(a, &s) == nil {
			switch s {
			case "notify":
				out = append(out, json.RawMessage(`"notify"`))
			case "dont_notify", "coalesce":
				// Historical actions: ignored.
			default:
				return nil, fmt.Errorf("%w: unknown action %q", ErrInvalidRule, s)
			}
			continue
		}
		var t map[string]json.RawMessage
		if json.Unmarshal(a, &t) != nil {
			return nil, fmt.Errorf("%w: an action must be a string or an object", ErrInvalidRule)
		}
		var name string
		if json.Unmarshal(t["set_tweak"], &name) != nil || name == "" {
			return nil, fmt.Errorf("%w: an action object needs a set_tweak string", ErrInvalidRule)
		}
		if v, ok := t["value"]; ok && name == "highlight" {
			var b bool
			if json.Unmarshal(v, &b) != nil {
				return nil, fmt.Errorf("%w: the highlight tweak takes a boolean", ErrInvalidRule)
			}
		}
		out = append(out, compact(a))
	}
	return out, nil
}

// checkCondition checks the parameters of the conditions this server
// knows; conditions of other kinds are kept (they never match).
func checkCondition(raw json.RawMessage) (Condition, error) {
	var c Condition
	if json.Unmarshal(raw, &c) != nil {
		return c, fmt.Errorf("%w: a condition must be an object with string kind, key, pattern and is", ErrInvalidRule)
	}
	c.Raw = compact(c.Raw)
	if c.Kind == "" {
		return c, fmt.Errorf("%w: kind", ErrMissingParam)
	}
	if len(c.Key) > maxPatternLen || c.Pattern != nil && len(*c.Pattern) > maxPatternLen {
		return c, fmt.Errorf("%w: key or pattern too long", ErrInvalidRule)
	}
	needKey := func() error {
		if c.Key == "" {
			return fmt.Errorf("%w: %s needs a key", ErrMissingParam, c.Kind)
		}
		return nil
	}
	switch c.Kind {
	case "event_match":
		if err := needKey(); err != nil {
			return c, err
		}
		if c.Pattern == nil {
			return c, fmt.Errorf("%w: event_match needs a pattern", ErrMissingParam)
		}
	case "event_property_is", "event_property_contains":
		if err := needKey(); err != nil {
			return c, err
		}
		if len(c.Value) == 0 {
			return c, fmt.Errorf("%w: %s needs a value", ErrMissingParam, c.Kind)
		}
		if _, ok := parseScalar(c.Value); !ok {
			return c, fmt.Errorf("%w: value must be a string, an integer, a boolean or null", ErrInvalidRule)
		}
	case "room_member_count":
		if c.Is == "" {
			return c, fmt.Errorf("%w: room_member_count needs is", ErrMissingParam)
		}
		if _, _, ok := ParseMemberCount(c.Is); !ok {
			return c, fmt.Errorf("%w: bad room_member_count is %q", ErrInvalidRule, c.Is)
		}
	case "sender_notification_permission":
		if err := needKey(); err != nil {
			return c, err
		}
	}
	return c, nil
}
