package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/push"
)

// PushRuleStore keeps users' push rules and caches each user's compiled
// ruleset for evaluation. It implements core.PushRuleStore.
type PushRuleStore struct {
	db *DB

	mu    sync.Mutex
	gen   map[string]uint64 // user -> changes made, to drop stale loads
	cache map[string]*push.Evaluator
}

var _ core.PushRuleStore = (*PushRuleStore)(nil)

// NewPushRuleStore returns the push rule store of db.
func NewPushRuleStore(db *DB) *PushRuleStore {
	return &PushRuleStore{db: db, gen: map[string]uint64{}, cache: map[string]*push.Evaluator{}}
}

const (
	sqlPushRulesOfUser  = "SELECT kind, rule FROM push_rules WHERE user_id = ? ORDER BY kind, priority DESC"
	sqlPushRulesOfKind  = "SELECT rule FROM push_rules WHERE user_id = ? AND kind = ? ORDER BY priority DESC"
	sqlPushRuleGet      = "SELECT rule FROM push_rules WHERE user_id = ? AND kind = ? AND rule_id = ?"
	sqlPushRulesClear   = "DELETE FROM push_rules WHERE user_id = ? AND kind = ?"
	sqlPushRuleInsert   = "INSERT INTO push_rules (user_id, kind, rule_id, priority, rule) VALUES (?, ?, ?, ?, ?)"
	sqlPushRuleUpdate   = "UPDATE push_rules SET rule = ? WHERE user_id = ? AND kind = ? AND rule_id = ?"
	sqlPushRuleDelete   = "DELETE FROM push_rules WHERE user_id = ? AND kind = ? AND rule_id = ?"
	sqlPushDefaultsGet  = "SELECT kind, rule_id, enabled, actions FROM push_rule_defaults WHERE user_id = ?"
	sqlPushDefaultsSetE = `INSERT INTO push_rule_defaults (user_id, kind, rule_id, enabled) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, kind, rule_id) DO UPDATE SET enabled = excluded.enabled`
	sqlPushDefaultsSetA = `INSERT INTO push_rule_defaults (user_id, kind, rule_id, actions) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, kind, rule_id) DO UPDATE SET actions = excluded.actions`
)

// loadRules reads userID's own rules and changes to default rules.
func loadRules(ctx context.Context, q Queryer, userID string) (push.Ruleset, map[push.RuleKey]push.DefaultChange, error) {
	var user push.Ruleset
	rows, err := q.QueryContext(ctx, sqlPushRulesOfUser, userID)
	if err != nil {
		return user, nil, fmt.Errorf("storage: push rules of %s: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, js string
		if err := rows.Scan(&kind, &js); err != nil {
			return user, nil, fmt.Errorf("storage: push rules of %s: %w", userID, err)
		}
		k, ok := push.ParseKind(kind)
		var r push.Rule
		if !ok || json.Unmarshal([]byte(js), &r) != nil {
			continue // cannot happen: written by this package
		}
		*user.Rules(k) = append(*user.Rules(k), r)
	}
	if err := rows.Err(); err != nil {
		return user, nil, fmt.Errorf("storage: push rules of %s: %w", userID, err)
	}
	rows.Close()

	changes := map[push.RuleKey]push.DefaultChange{}
	rows, err = q.QueryContext(ctx, sqlPushDefaultsGet, userID)
	if err != nil {
		return user, nil, fmt.Errorf("storage: push rules of %s: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, id string
		var enabled sql.NullBool
		var actions sql.NullString
		if err := rows.Scan(&kind, &id, &enabled, &actions); err != nil {
			return user, nil, fmt.Errorf("storage: push rules of %s: %w", userID, err)
		}
		var ch push.DefaultChange
		if enabled.Valid {
			ch.Enabled = &enabled.Bool
		}
		if actions.Valid {
			var a []json.RawMessage
			if json.Unmarshal([]byte(actions.String), &a) == nil {
				if a == nil {
					a = []json.RawMessage{}
				}
				ch.Actions = a
			}
		}
		changes[push.RuleKey{Kind: push.Kind(kind), RuleID: id}] = ch
	}
	return user, changes, wrapErr("push rules of "+userID, rows.Err())
}

// PushRules implements core.PushRuleStore.
func (s *PushRuleStore) PushRules(ctx context.Context, userID string) (push.Ruleset, error) {
	var rs push.Ruleset
	err := s.db.Read(ctx, func(q Queryer) error {
		user, changes, err := loadRules(ctx, q, userID)
		rs = push.Merge(userID, user, changes)
		return err
	})
	return rs, err
}

// Evaluator returns userID's compiled ruleset, from the cache when it is
// current.
func (s *PushRuleStore) Evaluator(ctx context.Context, userID string) (*push.Evaluator, error) {
	s.mu.Lock()
	if ev, ok := s.cache[userID]; ok {
		s.mu.Unlock()
		return ev, nil
	}
	gen := s.gen[userID]
	s.mu.Unlock()
	// Read after gen was taken: not in a read scope's older transaction.
	rs, err := s.PushRules(core.WithReadScope(ctx, nil), userID)
	if err != nil {
		return nil, err
	}
	ev := push.Compile(&rs)
	s.mu.Lock()
	if s.gen[userID] == gen {
		s.cache[userID] = ev
	}
	s.mu.Unlock()
	return ev, nil
}

// change runs fn in a write transaction, then rewrites userID's
// m.push_rules account data in it and drops the cached ruleset.
func (s *PushRuleStore) change(ctx context.Context, userID string, fn func(q Queryer) error) error {
	s.invalidate(userID)
	defer s.invalidate(userID)
	return s.db.Write(ctx, func(q Queryer) error {
		if err := fn(q); err != nil {
			return err
		}
		user, changes, err := loadRules(ctx, q, userID)
		if err != nil {
			return err
		}
		b, err := json.Marshal(map[string]push.Ruleset{"global": push.Merge(userID, user, changes)})
		if err != nil {
			return fmt.Errorf("storage: push rules of %s: %w", userID, err)
		}
		_, err = setAccountData(ctx, q, userID, "", core.AccountDataPushRules, b)
		return err
	})
}

func (s *PushRuleStore) invalidate(userID string) {
	s.mu.Lock()
	s.gen[userID]++
	delete(s.cache, userID)
	s.mu.Unlock()
}

// PutPushRule implements core.PushRuleStore.
func (s *PushRuleStore) PutPushRule(ctx context.Context, userID string, k push.Kind, r push.Rule, before, after string) error {
	r.Default = false
	return s.change(ctx, userID, func(q Queryer) error {
		rows, err := q.QueryContext(ctx, sqlPushRulesOfKind, userID, string(k))
		if err != nil {
			return fmt.Errorf("storage: push rules of %s: %w", userID, err)
		}
		var list []push.Rule
		for rows.Next() {
			var js string
			var x push.Rule
			if err := rows.Scan(&js); err != nil {
				rows.Close()
				return fmt.Errorf("storage: push rules of %s: %w", userID, err)
			}
			if json.Unmarshal([]byte(js), &x) == nil {
				list = append(list, x)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("storage: push rules of %s: %w", userID, err)
		}

		at := slices.IndexFunc(list, func(x push.Rule) bool { return x.RuleID == r.RuleID })
		if at >= 0 {
			r.Enabled = list[at].Enabled // an update keeps the enabled state
			list = slices.Delete(list, at, at+1)
		} else {
			at = 0 // a new rule goes first
		}
		anchor := before
		if anchor == "" {
			anchor = after
		}
		if anchor != "" {
			i := slices.IndexFunc(list, func(x push.Rule) bool { return x.RuleID == anchor })
			if i < 0 {
				return fmt.Errorf("storage: push rule %s: %w", anchor,
					core.ErrUnknown.WithStatus(400).WithMessage("before/after rule not found: %s", anchor))
			}
			at = i
			if before == "" {
				at = i + 1
			}
		}
		list = slices.Insert(list, at, r)

		if _, err := q.ExecContext(ctx, sqlPushRulesClear, userID, string(k)); err != nil {
			return fmt.Errorf("storage: push rules of %s: %w", userID, err)
		}
		for i, x := range list {
			js, err := json.Marshal(x)
			if err != nil {
				return fmt.Errorf("storage: push rule %s: %w", x.RuleID, err)
			}
			if _, err := q.ExecContext(ctx, sqlPushRuleInsert, userID, string(k), x.RuleID, len(list)-i, string(js)); err != nil {
				return fmt.Errorf("storage: push rule %s: %w", x.RuleID, err)
			}
		}
		return nil
	})
}

// defaultRuleKeys are the kinds and IDs of the server-default rules.
var defaultRuleKeys = sync.OnceValue(func() map[push.RuleKey]bool {
	def := push.Defaults("")
	keys := map[push.RuleKey]bool{}
	for _, k := range push.Kinds {
		for _, r := range *def.Rules(k) {
			keys[push.RuleKey{Kind: k, RuleID: r.RuleID}] = true
		}
	}
	return keys
})

// isDefaultRule reports whether (k, ruleID) is a server-default rule.
func isDefaultRule(k push.Kind, ruleID string) bool {
	return defaultRuleKeys()[push.RuleKey{Kind: k, RuleID: ruleID}]
}

// DeletePushRule implements core.PushRuleStore.
func (s *PushRuleStore) DeletePushRule(ctx context.Context, userID string, k push.Kind, ruleID string) error {
	if isDefaultRule(k, ruleID) {
		return fmt.Errorf("storage: push rule %s: %w", ruleID,
			core.ErrInvalidParam.WithMessage("server-default rules cannot be deleted"))
	}
	return s.change(ctx, userID, func(q Queryer) error {
		res, err := q.ExecContext(ctx, sqlPushRuleDelete, userID, string(k), ruleID)
		if err != nil {
			return fmt.Errorf("storage: push rule %s: %w", ruleID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("push rule %s/%s", k, ruleID)
		}
		return nil
	})
}

// editUserRule rewrites one of the user's own rules in q.
func editUserRule(ctx context.Context, q Queryer, userID string, k push.Kind, ruleID string, edit func(*push.Rule)) error {
	var js string
	err := q.QueryRowContext(ctx, sqlPushRuleGet, userID, string(k), ruleID).Scan(&js)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("push rule %s/%s", k, ruleID)
	}
	if err != nil {
		return fmt.Errorf("storage: push rule %s: %w", ruleID, err)
	}
	var r push.Rule
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		return fmt.Errorf("storage: push rule %s: %w", ruleID, err)
	}
	edit(&r)
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("storage: push rule %s: %w", ruleID, err)
	}
	_, err = q.ExecContext(ctx, sqlPushRuleUpdate, string(b), userID, string(k), ruleID)
	return wrapErr("push rule "+ruleID, err)
}

// SetPushRuleEnabled implements core.PushRuleStore.
func (s *PushRuleStore) SetPushRuleEnabled(ctx context.Context, userID string, k push.Kind, ruleID string, enabled bool) error {
	return s.change(ctx, userID, func(q Queryer) error {
		if isDefaultRule(k, ruleID) {
			_, err := q.ExecContext(ctx, sqlPushDefaultsSetE, userID, string(k), ruleID, enabled)
			return wrapErr("push rule "+ruleID, err)
		}
		return editUserRule(ctx, q, userID, k, ruleID, func(r *push.Rule) { r.Enabled = enabled })
	})
}

// SetPushRuleActions implements core.PushRuleStore.
func (s *PushRuleStore) SetPushRuleActions(ctx context.Context, userID string, k push.Kind, ruleID string, actions []json.RawMessage) error {
	if actions == nil {
		actions = []json.RawMessage{}
	}
	return s.change(ctx, userID, func(q Queryer) error {
		if isDefaultRule(k, ruleID) {
			b, err := json.Marshal(actions)
			if err != nil {
				return fmt.Errorf("storage: push rule %s: %w", ruleID, err)
			}
			_, err = q.ExecContext(ctx, sqlPushDefaultsSetA, userID, string(k), ruleID, string(b))
			return wrapErr("push rule "+ruleID, err)
		}
		return editUserRule(ctx, q, userID, k, ruleID, func(r *push.Rule) { r.Actions = actions })
	})
}
