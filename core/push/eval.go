package push

import (
	"encoding/json"
	"strconv"
	"strings"

	"hearth.dev/hearth/core/canonicaljson"
)

// Context is what evaluating a rule needs besides the event: the user the
// rules belong to and the room as it is when the event arrives.
type Context struct {
	// UserID owns the rules. Events the user sent never notify.
	UserID string
	// DisplayName is the user's display name in the room ("" if none), for
	// contains_display_name.
	DisplayName string
	// MemberCount is the number of joined members of the room, for
	// room_member_count.
	MemberCount int
	// SenderPowerLevel is the sender's power level in the room, and
	// NotificationLevels the room's power_levels content.notifications (nil
	// when absent: "room" then defaults to 50), for
	// sender_notification_permission.
	SenderPowerLevel   int64
	NotificationLevels map[string]int64

	// displayName caches the display name as a pattern without wildcards.
	displayName []rune
	compiledFor string
}

// containsDisplayName reports whether body contains the user's display
// name between word boundaries, case-insensitively.
func (c *Context) containsDisplayName(body string) bool {
	if c.DisplayName == "" {
		return false
	}
	if c.displayName == nil || c.compiledFor != c.DisplayName {
		c.displayName, c.compiledFor = globTokens(c.DisplayName, false), c.DisplayName
	}
	return matchTokens(c.displayName, body, true)
}

// Actions are what a matched rule asks for.
type Actions struct {
	// Notify is set by the "notify" action.
	Notify bool
	// Highlight is the highlight tweak (true when given without a value).
	Highlight bool
	// Sound is the sound tweak ("" when not set).
	Sound string
	// Tweaks holds every set_tweak by name with its value (true when the
	// action had none), for the push gateway's tweaks.
	Tweaks map[string]json.RawMessage
	// Raw are the rule's actions as written, minus the historical
	// dont_notify and coalesce.
	Raw []json.RawMessage
}

// Result is the outcome of an evaluation: the first enabled rule that
// matched, and its actions. Matched is false when no rule matched (the
// event must not notify).
type Result struct {
	Matched bool
	Kind    Kind
	RuleID  string
	Actions Actions
}

// Evaluator is a ruleset compiled for evaluation. It is safe for
// concurrent use.
type Evaluator struct {
	rules []compiledRule
}

type compiledRule struct {
	kind    Kind
	id      string
	conds   []compiledCond
	actions Actions
}

type condKind int

const (
	condNever condKind = iota // unknown or malformed: matches nothing
	condEventMatch
	condPropertyIs
	condPropertyContains
	condDisplayName
	condMemberCount
	condSenderPermission
	condRoomID      // room rules: room_id is the rule ID
	condSenderID    // sender rules: sender is the rule ID
	condBodyPattern // content rules
)

type compiledCond struct {
	kind  condKind
	path  []string
	glob  glob
	value scalar
	op    string
	n     int64
	key   string
}

// Compile prepares rs for evaluation, in the spec's order: override,
// content, room, sender, underride, each list first to last. Disabled
// rules are left out. It never fails: a condition it cannot use (unknown
// kind, missing or malformed parameter) matches no event, which disables
// its rule as the spec says unrecognised conditions do.
func Compile(rs *Ruleset) *Evaluator {
	ev := &Evaluator{}
	for _, k := range Kinds {
		for _, r := range *rs.Rules(k) {
			if !r.Enabled {
				continue
			}
			cr := compiledRule{kind: k, id: r.RuleID, actions: ParseActions(r.Actions)}
			switch k {
			case Override, Underride:
				for _, c := range r.Conditions {
					cr.conds = append(cr.conds, compileCondition(c))
				}
			case Content:
				if r.Pattern == nil {
					cr.conds = []compiledCond{{kind: condNever}}
				} else {
					cr.conds = []compiledCond{{kind: condBodyPattern, path: []string{"content", "body"}, glob: compileGlob(*r.Pattern, true)}}
				}
			case Room:
				cr.conds = []compiledCond{{kind: condRoomID, key: r.RuleID}}
			case Sender:
				cr.conds = []compiledCond{{kind: condSenderID, key: r.RuleID}}
			}
			ev.rules = append(ev.rules, cr)
		}
	}
	return ev
}

func compileCondition(c Condition) compiledCond {
	never := compiledCond{kind: condNever}
	switch c.Kind {
	case "event_match":
		if c.Key == "" || c.Pattern == nil {
			return never
		}
		path := SplitPath(c.Key)
		words := len(path) == 2 && path[0] == "content" && path[1] == "body"
		return compiledCond{kind: condEventMatch, path: path, glob: compileGlob(*c.Pattern, words)}
	case "event_property_is", "event_property_contains":
		if c.Key == "" {
			return never
		}
		v, ok := parseScalar(c.Value)
		if !ok {
			return never
		}
		k := condPropertyIs
		if c.Kind == "event_property_contains" {
			k = condPropertyContains
		}
		return compiledCond{kind: k, path: SplitPath(c.Key), value: v}
	case "contains_display_name":
		return compiledCond{kind: condDisplayName}
	case "room_member_count":
		op, n, ok := ParseMemberCount(c.Is)
		if !ok {
			return never
		}
		return compiledCond{kind: condMemberCount, op: op, n: n}
	case "sender_notification_permission":
		if c.Key == "" {
			return never
		}
		return compiledCond{kind: condSenderPermission, key: c.Key}
	}
	return never
}

// ParseMemberCount reads the "is" parameter of room_member_count: a decimal
// integer optionally prefixed by ==, <, >, >= or <= (no prefix means ==).
func ParseMemberCount(is string) (op string, n int64, ok bool) {
	op = "=="
	for _, p := range [...]string{"==", ">=", "<=", "<", ">"} {
		if rest, found := strings.CutPrefix(is, p); found {
			op, is = p, rest
			break
		}
	}
	if is == "" || is[0] == '+' || is[0] == '-' {
		return "", 0, false
	}
	n, err := strconv.ParseInt(is, 10, 64)
	if err != nil {
		return "", 0, false
	}
	return op, n, true
}

// Evaluate runs the rules against ev for the user of c and returns the
// first match. An event sent by c.UserID matches nothing.
func (e *Evaluator) Evaluate(ev *Event, c *Context) Result {
	if sender, _ := ev.String([]string{"sender"}); sender == c.UserID {
		return Result{}
	}
	for i := range e.rules {
		r := &e.rules[i]
		if r.matches(ev, c) {
			return Result{Matched: true, Kind: r.kind, RuleID: r.id, Actions: r.actions}
		}
	}
	return Result{}
}

func (r *compiledRule) matches(ev *Event, c *Context) bool {
	for i := range r.conds {
		if !r.conds[i].matches(ev, c) {
			return false
		}
	}
	return true
}

func (cc *compiledCond) matches(ev *Event, c *Context) bool {
	switch cc.kind {
	case condEventMatch, condBodyPattern:
		s, ok := ev.String(cc.path)
		return ok && cc.glob.match(s)
	case condPropertyIs:
		raw, ok := ev.Lookup(cc.path)
		if !ok {
			return false
		}
		v, ok := parseScalar(raw)
		return ok && v == cc.value
	case condPropertyContains:
		raw, ok := ev.Lookup(cc.path)
		if !ok || len(raw) == 0 || raw[0] != '[' {
			return false
		}
		found := false
		canonicaljson.Elements(raw, func(el []byte) error {
			if v, ok := parseScalar(el); ok && v == cc.value {
				found = true
				return errStop
			}
			return nil
		})
		return found
	case condDisplayName:
		body, ok := ev.String([]string{"content", "body"})
		return ok && c.containsDisplayName(body)
	case condMemberCount:
		n := int64(c.MemberCount)
		switch cc.op {
		case "==":
			return n == cc.n
		case "<":
			return n < cc.n
		case ">":
			return n > cc.n
		case "<=":
			return n <= cc.n
		case ">=":
			return n >= cc.n
		}
		return false
	case condSenderPermission:
		need, ok := c.NotificationLevels[cc.key]
		if !ok {
			need = 50
		}
		return c.SenderPowerLevel >= need
	case condRoomID:
		id, ok := ev.String([]string{"room_id"})
		return ok && id == cc.key
	case condSenderID:
		id, ok := ev.String([]string{"sender"})
		return ok && id == cc.key
	}
	return false
}

// errStop ends a scan early.
var errStop = stopError{}

type stopError struct{}

func (stopError) Error() string { return "stop" }

// ParseActions reads a rule's actions: "notify", {"set_tweak": name,
// "value": v}; the historical "dont_notify" and "coalesce" are dropped, and
// other values are kept in Raw but have no effect here.
func ParseActions(raw []json.RawMessage) Actions {
	var a Actions
	for _, r := range raw {
		var s string
		if json.Unmarshal(r, &s) == nil {
			switch s {
			case "dont_notify", "coalesce":
				continue
			case "notify":
				a.Notify = true
			}
			a.Raw = append(a.Raw, r)
			continue
		}
		a.Raw = append(a.Raw, r)
		var t struct {
			SetTweak *string         `json:"set_tweak"`
			Value    json.RawMessage `json:"value"`
		}
		if json.Unmarshal(r, &t) != nil || t.SetTweak == nil {
			continue
		}
		val := t.Value
		if len(val) == 0 {
			val = json.RawMessage("true")
		}
		if a.Tweaks == nil {
			a.Tweaks = make(map[string]json.RawMessage)
		}
		a.Tweaks[*t.SetTweak] = val
		switch *t.SetTweak {
		case "highlight":
			var b bool
			if json.Unmarshal(val, &b) == nil {
				a.Highlight = b
			}
		case "sound":
			var snd string
			if json.Unmarshal(val, &snd) == nil {
				a.Sound = snd
			}
		}
	}
	return a
}
