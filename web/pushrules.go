package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/push"
)

// registerPushRuleRoutes serves the push rule API. The only scope is "global".
func (s *Server) registerPushRuleRoutes() {
	const base = "/_matrix/client/v3/pushrules/"
	s.mux.HandleFunc("GET "+base+"{$}", s.authed(s.getPushRules))
	s.mux.HandleFunc("GET "+base+"{scope}/{$}", s.authed(s.getPushRuleScope))
	s.mux.HandleFunc("GET "+base+"{scope}/{kind}/{ruleId}", s.authed(s.getPushRule))
	s.mux.HandleFunc("PUT "+base+"{scope}/{kind}/{ruleId}", s.authed(s.putPushRule))
	s.mux.HandleFunc("DELETE "+base+"{scope}/{kind}/{ruleId}", s.authed(s.deletePushRule))
	s.mux.HandleFunc("GET "+base+"{scope}/{kind}/{ruleId}/enabled", s.authed(s.getPushRuleEnabled))
	s.mux.HandleFunc("PUT "+base+"{scope}/{kind}/{ruleId}/enabled", s.authed(s.putPushRuleEnabled))
	s.mux.HandleFunc("GET "+base+"{scope}/{kind}/{ruleId}/actions", s.authed(s.getPushRuleActions))
	s.mux.HandleFunc("PUT "+base+"{scope}/{kind}/{ruleId}/actions", s.authed(s.putPushRuleActions))
}

var errPushRuleNotFound = core.ErrNotFound.WithMessage("The push rule was not found")

// pushRulePath reads scope, kind and rule ID from the path: 400
// M_INVALID_PARAM for a scope other than global or an unknown kind.
func pushRulePath(r *http.Request) (push.Kind, string, error) {
	if r.PathValue("scope") != "global" {
		return "", "", core.ErrInvalidParam.WithMessage("Unknown push rule scope; the only one is global")
	}
	k, ok := push.ParseKind(r.PathValue("kind"))
	if !ok {
		return "", "", core.ErrInvalidParam.WithMessage("Unknown push rule kind")
	}
	return k, r.PathValue("ruleId"), nil
}

// pushRuleError turns the errors of push.ParseRule and push.CheckActions
// into Matrix errors.
func pushRuleError(err error) error {
	switch {
	case errors.Is(err, push.ErrMissingParam):
		return core.ErrMissingParam.WithMessage("%v", err)
	case errors.Is(err, push.ErrInvalidRule):
		return core.ErrInvalidParam.WithMessage("%v", err)
	}
	return err
}

// getPushRules answers GET /pushrules/.
func (s *Server) getPushRules(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	rs, err := s.opts.PushRules.PushRules(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]push.Ruleset{"global": rs})
	return nil
}

// getPushRuleScope answers GET /pushrules/global/.
func (s *Server) getPushRuleScope(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if r.PathValue("scope") != "global" {
		return core.ErrInvalidParam.WithMessage("Unknown push rule scope; the only one is global")
	}
	rs, err := s.opts.PushRules.PushRules(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rs)
	return nil
}

// findPushRule returns the rule named by the path.
func (s *Server) findPushRule(r *http.Request, sess *core.Session) (*push.Rule, error) {
	k, id, err := pushRulePath(r)
	if err != nil {
		return nil, err
	}
	rs, err := s.opts.PushRules.PushRules(r.Context(), sess.UserID)
	if err != nil {
		return nil, err
	}
	rule := rs.Find(k, id)
	if rule == nil {
		return nil, errPushRuleNotFound
	}
	return rule, nil
}

// getPushRule answers GET /pushrules/global/{kind}/{ruleId}.
func (s *Server) getPushRule(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	rule, err := s.findPushRule(r, sess)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rule)
	return nil
}

// putPushRule answers PUT /pushrules/global/{kind}/{ruleId}, with the
// before and after query parameters.
func (s *Server) putPushRule(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	k, id, err := pushRulePath(r)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	raw, err := readJSONObject(r, &body)
	if err != nil {
		return err
	}
	rule, err := push.ParseRule(k, id, raw)
	if err != nil {
		return pushRuleError(err)
	}
	q := r.URL.Query()
	if err := s.opts.PushRules.PutPushRule(r.Context(), sess.UserID, k, rule, q.Get("before"), q.Get("after")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// deletePushRule answers DELETE /pushrules/global/{kind}/{ruleId}.
func (s *Server) deletePushRule(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	k, id, err := pushRulePath(r)
	if err != nil {
		return err
	}
	if err := s.opts.PushRules.DeletePushRule(r.Context(), sess.UserID, k, id); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			err = errPushRuleNotFound
		}
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// getPushRuleEnabled answers GET .../{ruleId}/enabled.
func (s *Server) getPushRuleEnabled(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	rule, err := s.findPushRule(r, sess)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"enabled": rule.Enabled})
	return nil
}

// putPushRuleEnabled answers PUT .../{ruleId}/enabled.
func (s *Server) putPushRuleEnabled(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	k, id, err := pushRulePath(r)
	if err != nil {
		return err
	}
	var body struct {
		Enabled *bool `json:"enabled"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Enabled == nil {
		return core.ErrMissingParam.WithMessage("enabled is required")
	}
	if err := s.opts.PushRules.SetPushRuleEnabled(r.Context(), sess.UserID, k, id, *body.Enabled); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			err = errPushRuleNotFound
		}
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// getPushRuleActions answers GET .../{ruleId}/actions.
func (s *Server) getPushRuleActions(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	rule, err := s.findPushRule(r, sess)
	if err != nil {
		return err
	}
	actions := rule.Actions
	if actions == nil {
		actions = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"actions": actions})
	return nil
}

// putPushRuleActions answers PUT .../{ruleId}/actions.
func (s *Server) putPushRuleActions(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	k, id, err := pushRulePath(r)
	if err != nil {
		return err
	}
	var body struct {
		Actions json.RawMessage `json:"actions"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	actions, err := push.CheckActions(body.Actions)
	if err != nil {
		return pushRuleError(err)
	}
	if err := s.opts.PushRules.SetPushRuleActions(r.Context(), sess.UserID, k, id, actions); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			err = errPushRuleNotFound
		}
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
