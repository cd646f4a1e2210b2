package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"hearth.dev/hearth/core"
)

// loginTokenLifetime is how long a token from /login/get_token is valid
// (the spec recommends two minutes).
const loginTokenLifetime = 2 * time.Minute

// getLogin answers GET /login with the login types hearth supports
// (m.login.application_service while application services are
// registered).
func (s *Server) getLogin(w http.ResponseWriter, r *http.Request) error {
	flows := []map[string]any{
		{"type": "m.login.password"},
		{"type": "m.login.token", "get_login_token": true},
	}
	if len(s.opts.AppServices.All()) > 0 {
		flows = append(flows, map[string]any{"type": loginAppService})
	}
	for _, t := range s.opts.Modules.LoginTypes() {
		flows = append(flows, map[string]any{"type": t})
	}
	writeJSON(w, http.StatusOK, map[string]any{"flows": flows})
	return nil
}

// loginRequest is the body of POST /login.
type loginRequest struct {
	Type                     string          `json:"type"`
	Identifier               *userIdentifier `json:"identifier"`
	User                     string          `json:"user"`
	Medium                   string          `json:"medium"`
	Address                  string          `json:"address"`
	Password                 string          `json:"password"`
	Token                    string          `json:"token"`
	DeviceID                 string          `json:"device_id"`
	InitialDeviceDisplayName string          `json:"initial_device_display_name"`
	RefreshToken             bool            `json:"refresh_token"`
}

// postLogin answers POST /login: m.login.password (identifier m.id.user or
// the deprecated user field) and m.login.token.
func (s *Server) postLogin(w http.ResponseWriter, r *http.Request) error {
	if err := s.rateLimit(w, r, actionLogin); err != nil {
		return err
	}
	var raw json.RawMessage
	if err := readJSON(r, &raw); err != nil {
		return err
	}
	var body loginRequest
	if err := json.Unmarshal(raw, &body); err != nil {
		return core.ErrBadJSON.WithMessage("%v", err)
	}
	if err := checkDeviceID(body.DeviceID); err != nil {
		return err
	}
	var userID string
	switch body.Type {
	case "m.login.password":
		ident := body.Identifier
		if ident == nil && body.Medium != "" {
			// The deprecated top-level third-party fields.
			ident = &userIdentifier{Type: "m.id.thirdparty", Medium: body.Medium, Address: body.Address}
		}
		uid, err := s.identifiedUser(ident, body.User)
		if err != nil {
			return err
		}
		if err := s.checkPassword(w, r, uid, body.Password); err != nil {
			return err
		}
		userID = uid
	case loginAppService:
		uid, err := s.appServiceLoginUser(r, body)
		if err != nil {
			return err
		}
		userID = uid
	case "m.login.token":
		if body.Token == "" {
			return core.ErrMissingParam.WithMessage("token is required")
		}
		uid, err := s.opts.Tokens.ConsumeLoginToken(r.Context(), body.Token)
		if err != nil {
			return err
		}
		userID = uid
	case "":
		return core.ErrMissingParam.WithMessage("type is required")
	default:
		if !slices.Contains(s.opts.Modules.LoginTypes(), body.Type) {
			return core.ErrUnknown.WithStatus(http.StatusBadRequest).WithMessage("Bad login type.")
		}
		// A login type of a module: the module names the user.
		uid, err := s.opts.Modules.CheckAuth(r.Context(), body.Type, raw)
		if err != nil {
			return err
		}
		if _, err := s.opts.Accounts.Account(r.Context(), uid); err != nil {
			if errors.Is(err, core.ErrNotFound) {
				return core.ErrForbidden.WithMessage("The module's user %s does not exist", uid)
			}
			return err
		}
		userID = uid
	}
	tok, err := s.opts.Tokens.IssueTokens(r.Context(), core.NewLogin{
		UserID:            userID,
		DeviceID:          body.DeviceID,
		DeviceDisplayName: body.InitialDeviceDisplayName,
		Refreshable:       body.RefreshToken,
	})
	if err != nil {
		return err
	}
	resp := map[string]any{"user_id": userID, "home_server": s.opts.ServerName}
	addTokens(resp, tok)
	if s.opts.PublicBaseURL != "" {
		resp["well_known"] = s.wellKnownClient(r)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// postLoginGetToken answers POST /v1/login/get_token: after the user
// confirms their password (every time, as the spec demands), a single-use
// m.login.token for another client.
func (s *Server) postLoginGetToken(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body struct {
		Auth json.RawMessage `json:"auth"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	done, err := s.interactiveAuth(r, body.Auth, uiaRequest{op: "get_token", flows: passwordFlows, userID: sess.UserID})
	if err != nil {
		return err
	}
	// "Servers are encouraged to apply stricter than normal rate limiting to
	// this endpoint": counted per token issued, so a rate-limited client
	// keeps its completed session and may retry.
	if err := s.rateLimit(w, r, actionLoginToken); err != nil {
		return err
	}
	s.acct.uia.finish(done)
	tok, err := s.opts.Tokens.CreateLoginToken(r.Context(), sess.UserID, loginTokenLifetime)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"login_token": tok, "expires_in_ms": loginTokenLifetime.Milliseconds()})
	return nil
}

// postRefresh answers POST /refresh.
func (s *Server) postRefresh(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.RefreshToken == "" {
		return core.ErrMissingParam.WithMessage("refresh_token is required")
	}
	tok, err := s.opts.Tokens.Refresh(r.Context(), body.RefreshToken)
	if err != nil {
		return err
	}
	resp := map[string]any{"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken}
	if tok.ExpiresIn > 0 {
		resp["expires_in_ms"] = tok.ExpiresIn.Milliseconds()
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// postLogout answers POST /logout: the token and its device are deleted.
func (s *Server) postLogout(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if err := s.opts.Tokens.Logout(r.Context(), sess); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// postLogoutAll answers POST /logout/all: every token and device of the
// user is deleted.
func (s *Server) postLogoutAll(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if err := s.opts.Tokens.LogoutAll(r.Context(), sess.UserID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
