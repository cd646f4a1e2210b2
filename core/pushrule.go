package core

import (
	"context"
	"encoding/json"

	"hearth.dev/hearth/core/push"
)

// PushRuleStore keeps users' push rules: their own rules and their changes
// to the server-default ones. Every change also rewrites the user's
// m.push_rules account data (the whole ruleset), so /sync delivers it.
type PushRuleStore interface {
	// PushRules returns userID's full ruleset (push.Merge of the defaults,
	// the user's changes to them and the user's rules).
	PushRules(ctx context.Context, userID string) (push.Ruleset, error)
	// PutPushRule creates or replaces the user-defined rule r of kind k. A
	// new rule goes first among the user's rules of its kind; a replaced
	// one keeps its place. before (or after) places it just before (or
	// after) another user-defined rule of kind k; with both, before wins.
	// It returns an error wrapping ErrUnknown (status 400) when before or
	// after names no user-defined rule of kind k.
	PutPushRule(ctx context.Context, userID string, k push.Kind, r push.Rule, before, after string) error
	// DeletePushRule deletes a user-defined rule. It returns an error
	// wrapping ErrNotFound if there is none, and ErrInvalidParam for a
	// server-default rule, which cannot be deleted.
	DeletePushRule(ctx context.Context, userID string, k push.Kind, ruleID string) error
	// SetPushRuleEnabled enables or disables a rule, user-defined or
	// server-default, and SetPushRuleActions replaces its actions. Both
	// return an error wrapping ErrNotFound for an unknown rule.
	SetPushRuleEnabled(ctx context.Context, userID string, k push.Kind, ruleID string, enabled bool) error
	SetPushRuleActions(ctx context.Context, userID string, k push.Kind, ruleID string, actions []json.RawMessage) error
}
