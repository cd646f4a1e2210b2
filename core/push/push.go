// Package push implements the push rules of the client-server API ("Push
// Notifications"): the rule and ruleset types with their JSON forms, the
// spec's server-default rules, the checks on a rule a client sends, the
// merge of a user's rules with the defaults, and the evaluation of a
// ruleset against an event (conditions event_match with glob patterns,
// event_property_is, event_property_contains, contains_display_name,
// room_member_count and sender_notification_permission, on dot-separated
// property paths with backslash escapes) into actions: notify, highlight,
// sound and the other tweaks.
//
// It also holds the whole line from a new event to its notifications: the
// room context the rules need (members, display names, power levels,
// member count, read from the room's current state), and Service, which
// evaluates each local member's rules on each new live event before it is
// stored (storage records the notifications in the event's own write) and
// hands them to a Deliverer (the push gateways) after commit. Service is
// called by core.PushHook on the event-persisting path.
//
// The package does no I/O of its own: it reads and writes through the small
// interfaces it declares. Importing it has no side effects.
package push

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Kind is the kind of a push rule, which sets its priority class.
type Kind string

// The rule kinds, in the order they are checked.
const (
	Override  Kind = "override"
	Content   Kind = "content"
	Room      Kind = "room"
	Sender    Kind = "sender"
	Underride Kind = "underride"
)

// Kinds lists every kind in evaluation order.
var Kinds = [...]Kind{Override, Content, Room, Sender, Underride}

// ParseKind returns the kind named s, or false.
func ParseKind(s string) (Kind, bool) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, true
		}
	}
	return "", false
}

// HasConditions reports whether rules of kind k carry a conditions list
// (override and underride); the others have predefined conditions.
func (k Kind) HasConditions() bool { return k == Override || k == Underride }

// Condition is one condition of an override or underride rule. Raw keeps
// the condition as the client sent it, so conditions of kinds this server
// does not know (which never match) are returned unchanged.
type Condition struct {
	Kind    string
	Key     string
	Pattern *string
	Is      string
	Value   json.RawMessage
	Raw     json.RawMessage
}

// UnmarshalJSON reads a condition, keeping its raw form. Fields of the
// wrong type are an error.
func (c *Condition) UnmarshalJSON(b []byte) error {
	var f struct {
		Kind    *string         `json:"kind"`
		Key     *string         `json:"key"`
		Pattern *string         `json:"pattern"`
		Is      *string         `json:"is"`
		Value   json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*c = Condition{Pattern: f.Pattern, Value: f.Value, Raw: bytes.Clone(b)}
	if f.Kind != nil {
		c.Kind = *f.Kind
	}
	if f.Key != nil {
		c.Key = *f.Key
	}
	if f.Is != nil {
		c.Is = *f.Is
	}
	return nil
}

// MarshalJSON writes Raw when set, else the known fields.
func (c Condition) MarshalJSON() ([]byte, error) {
	if len(c.Raw) > 0 {
		return c.Raw, nil
	}
	m := map[string]any{"kind": c.Kind}
	if c.Key != "" {
		m["key"] = c.Key
	}
	if c.Pattern != nil {
		m["pattern"] = *c.Pattern
	}
	if c.Is != "" {
		m["is"] = c.Is
	}
	if len(c.Value) > 0 {
		m["value"] = c.Value
	}
	return marshal(m)
}

// marshal is json.Marshal without the escaping of <, > and &, so values
// come back as the client wrote them.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Rule is one push rule. Conditions is nil for content, room and sender
// rules and non-nil (possibly empty) for override and underride rules;
// Pattern is set for content rules only. Actions are kept as JSON values:
// strings ("notify") and objects ({"set_tweak": ...}).
type Rule struct {
	RuleID     string
	Default    bool
	Enabled    bool
	Conditions []Condition
	Pattern    *string
	Actions    []json.RawMessage
}

type ruleJSON struct {
	RuleID     string            `json:"rule_id"`
	Default    bool              `json:"default"`
	Enabled    bool              `json:"enabled"`
	Conditions []Condition       `json:"conditions,omitempty"`
	Pattern    *string           `json:"pattern,omitempty"`
	Actions    []json.RawMessage `json:"actions"`
}

// MarshalJSON writes the rule as the push rule API returns it: conditions
// appear (maybe as []) exactly when Conditions is non-nil.
func (r Rule) MarshalJSON() ([]byte, error) {
	j := ruleJSON{RuleID: r.RuleID, Default: r.Default, Enabled: r.Enabled, Pattern: r.Pattern, Actions: r.Actions}
	if j.Actions == nil {
		j.Actions = []json.RawMessage{}
	}
	if r.Conditions == nil {
		return marshal(j)
	}
	// omitempty would drop an empty list; write it by hand.
	type withConds struct {
		ruleJSON
		Conditions []Condition `json:"conditions"`
	}
	return marshal(withConds{ruleJSON: j, Conditions: r.Conditions})
}

// UnmarshalJSON reads a rule as MarshalJSON writes it.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var j struct {
		ruleJSON
		Conditions *[]Condition `json:"conditions"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Rule{RuleID: j.RuleID, Default: j.Default, Enabled: j.Enabled, Pattern: j.Pattern, Actions: j.Actions}
	if j.Conditions != nil {
		r.Conditions = *j.Conditions
		if r.Conditions == nil {
			r.Conditions = []Condition{}
		}
	}
	return nil
}

// Ruleset is a user's rules by kind, each list most important first. Its
// JSON form is the push_ruleset of the API, with all five lists present.
type Ruleset struct {
	Override  []Rule `json:"override"`
	Content   []Rule `json:"content"`
	Room      []Rule `json:"room"`
	Sender    []Rule `json:"sender"`
	Underride []Rule `json:"underride"`
}

// MarshalJSON writes every list, empty ones as [].
func (rs Ruleset) MarshalJSON() ([]byte, error) {
	type plain Ruleset
	p := plain(rs)
	for _, l := range []*[]Rule{&p.Override, &p.Content, &p.Room, &p.Sender, &p.Underride} {
		if *l == nil {
			*l = []Rule{}
		}
	}
	return marshal(p)
}

// Rules returns a pointer to the list of kind k (nil for an unknown kind).
func (rs *Ruleset) Rules(k Kind) *[]Rule {
	switch k {
	case Override:
		return &rs.Override
	case Content:
		return &rs.Content
	case Room:
		return &rs.Room
	case Sender:
		return &rs.Sender
	case Underride:
		return &rs.Underride
	}
	return nil
}

// Find returns the rule of kind k with ID ruleID, or nil.
func (rs *Ruleset) Find(k Kind, ruleID string) *Rule {
	l := rs.Rules(k)
	if l == nil {
		return nil
	}
	for i := range *l {
		if (*l)[i].RuleID == ruleID {
			return &(*l)[i]
		}
	}
	return nil
}

// RuleKey names a rule: its kind and ID.
type RuleKey struct {
	Kind   Kind
	RuleID string
}

func (k RuleKey) String() string { return fmt.Sprintf("%s/%s", k.Kind, k.RuleID) }

// DefaultChange is what a user changed on a server-default rule: whether it
// is enabled, and its actions. Nil fields keep the default.
type DefaultChange struct {
	Enabled *bool
	Actions []json.RawMessage
}

// Merge builds a user's full ruleset: the server-default rules for userID
// (Defaults) with the user's changes to them applied, and the user's own
// rules (Default false, most important first in each kind). As the spec
// orders them, .m.rule.master comes before every other rule; the other
// server-default rules come after the user's rules of the same kind.
func Merge(userID string, user Ruleset, changes map[RuleKey]DefaultChange) Ruleset {
	def := Defaults(userID)
	var out Ruleset
	for _, k := range Kinds {
		defs := *def.Rules(k)
		for i := range defs {
			if ch, ok := changes[RuleKey{k, defs[i].RuleID}]; ok {
				if ch.Enabled != nil {
					defs[i].Enabled = *ch.Enabled
				}
				if ch.Actions != nil {
					defs[i].Actions = ch.Actions
				}
			}
		}
		var l []Rule
		if k == Override && len(defs) > 0 && defs[0].RuleID == MasterRuleID {
			l = append(l, defs[0])
			defs = defs[1:]
		}
		l = append(l, *user.Rules(k)...)
		l = append(l, defs...)
		*out.Rules(k) = l
	}
	return out
}
