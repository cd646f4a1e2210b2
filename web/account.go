package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// accountState is the in-memory state of the account endpoints:
// interactive-auth sessions and rate-limit buckets.
type accountState struct {
	uia    uiaSessions
	limits rateLimiter
	nonces nonceStore // shared-secret registration
}

// registerAccountRoutes serves registration, login, logout, token refresh,
// account management, devices, capabilities and client discovery.
func (s *Server) registerAccountRoutes() {
	s.mux.HandleFunc("GET /.well-known/matrix/client", public(s.getWellKnownClient))
	s.mux.HandleFunc("GET /_matrix/client/v3/capabilities", s.authed(s.getCapabilities))

	s.mux.HandleFunc("POST /_matrix/client/v3/register", public(s.postRegister))
	s.mux.HandleFunc("GET /_matrix/client/v3/register/available", public(s.getRegisterAvailable))
	s.mux.HandleFunc("GET /_matrix/client/v1/register/m.login.registration_token/validity", public(s.getRegistrationTokenValidity))

	s.mux.HandleFunc("GET /_matrix/client/v3/login", public(s.getLogin))
	s.mux.HandleFunc("POST /_matrix/client/v3/login", public(s.postLogin))
	s.mux.HandleFunc("POST /_matrix/client/v1/login/get_token", s.authed(s.postLoginGetToken))
	s.mux.HandleFunc("POST /_matrix/client/v3/refresh", public(s.postRefresh))
	s.mux.HandleFunc("POST /_matrix/client/v3/logout", s.authed(s.postLogout))
	s.mux.HandleFunc("POST /_matrix/client/v3/logout/all", s.authed(s.postLogoutAll))

	s.mux.HandleFunc("GET /_matrix/client/v3/account/whoami", s.authed(s.getWhoami))
	s.mux.HandleFunc("POST /_matrix/client/v3/account/password", public(s.postAccountPassword))
	s.mux.HandleFunc("POST /_matrix/client/v3/account/deactivate", public(s.postAccountDeactivate))

	s.mux.HandleFunc("GET /_matrix/client/v3/devices", s.authed(s.getDevices))
	s.mux.HandleFunc("GET /_matrix/client/v3/devices/{deviceId}", s.authed(s.getDevice))
	s.mux.HandleFunc("PUT /_matrix/client/v3/devices/{deviceId}", s.authed(s.putDevice))
	s.mux.HandleFunc("DELETE /_matrix/client/v3/devices/{deviceId}", s.authed(s.deleteDevice))
	s.mux.HandleFunc("POST /_matrix/client/v3/delete_devices", s.authed(s.postDeleteDevices))
}

// getWhoami answers GET /account/whoami.
func (s *Server) getWhoami(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	resp := map[string]any{"user_id": sess.UserID, "is_guest": false}
	// An application service acting without device_id has no device.
	if sess.DeviceID != "" {
		resp["device_id"] = sess.DeviceID
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// optionalSession resolves the access token of an endpoint that works with
// or without one (/account/password, /account/deactivate): nil without a
// token, an error for a token that is not valid.
func (s *Server) optionalSession(r *http.Request) (*core.Session, error) {
	tok := accessToken(r)
	if tok == "" {
		return nil, nil
	}
	if as := s.opts.AppServices.ByASToken(tok); as != nil {
		return s.appServiceSession(r, as)
	}
	sess, err := s.opts.Sessions.SessionByAccessToken(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	s.deviceSeen(r, sess)
	return sess, nil
}

// postAccountPassword answers POST /account/password: interactive auth by
// password, then the new password; other devices are logged out unless
// logout_devices is false.
func (s *Server) postAccountPassword(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.optionalSession(r)
	if err != nil {
		return err
	}
	var body struct {
		NewPassword   string          `json:"new_password"`
		LogoutDevices *bool           `json:"logout_devices"`
		Auth          json.RawMessage `json:"auth"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.NewPassword == "" {
		return core.ErrMissingParam.WithMessage("new_password is required")
	}
	if len(body.NewPassword) > maxPasswordLength {
		return core.ErrInvalidParam.WithMessage("password too long")
	}
	req := uiaRequest{op: "password", flows: passwordFlows}
	if sess != nil {
		req.userID = sess.UserID
	}
	done, err := s.interactiveAuth(r, body.Auth, req)
	if err != nil {
		return err
	}
	change := core.PasswordChange{UserID: done.userID, NewPassword: body.NewPassword, LogoutDevices: body.LogoutDevices == nil || *body.LogoutDevices}
	if sess != nil {
		// "The homeserver SHOULD NOT revoke the access token provided in the
		// request."
		change.KeepDeviceID = sess.DeviceID
	}
	if err := s.opts.Accounts.SetPassword(r.Context(), change); err != nil {
		return err
	}
	s.acct.uia.finish(done)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// postAccountDeactivate answers POST /account/deactivate.
func (s *Server) postAccountDeactivate(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.optionalSession(r)
	if err != nil {
		return err
	}
	var body struct {
		Auth     json.RawMessage `json:"auth"`
		IDServer string          `json:"id_server"`
		Erase    bool            `json:"erase"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	req := uiaRequest{op: "deactivate", flows: passwordFlows}
	if sess != nil {
		req.userID = sess.UserID
	}
	done, err := s.interactiveAuth(r, body.Auth, req)
	if err != nil {
		return err
	}
	if err := s.opts.Accounts.Deactivate(r.Context(), done.userID); err != nil {
		return err
	}
	s.acct.uia.finish(done)
	s.leaveAllRooms(r, done.userID)
	// hearth binds no third-party identifiers, so there is nothing to
	// unbind: the spec asks for "success" then.
	writeJSON(w, http.StatusOK, map[string]string{"id_server_unbind_result": "success"})
	return nil
}

// leaveAllRooms makes a deactivated user leave every room it is joined to
// (as Synapse does), when the room pipeline is wired. The account is
// already deactivated, so a room that cannot be left is logged, not
// answered.
func (s *Server) leaveAllRooms(r *http.Request, userID string) {
	ctx := r.Context()
	rooms, err := s.opts.Rooms.JoinedRooms(ctx, userID)
	if err != nil {
		slog.ErrorContext(ctx, "deactivation: listing joined rooms", "user", userID, "err", err)
		return
	}
	for _, roomID := range rooms {
		if err := s.opts.Rooms.Leave(ctx, roomID, userID, "Account deactivated"); err != nil {
			slog.WarnContext(ctx, "deactivation: leaving a room", "user", userID, "room", roomID, "err", err)
		}
	}
}

// maxPasswordLength bounds passwords (storage refuses longer ones too).
const maxPasswordLength = 1024

// localUserID turns what a client gave as a user (a full user ID or a
// localpart) into a local user ID, downcasing the localpart as
// registration does. It returns M_FORBIDDEN for another server's user or
// something that is no user ID at all: to a login, both are a user that
// does not exist here.
func (s *Server) localUserID(user string) (string, error) {
	local := user
	if strings.HasPrefix(user, "@") {
		uid, err := id.ParseUserID(user)
		if err != nil || string(uid.ServerName()) != s.opts.ServerName {
			return "", core.ErrForbidden.WithMessage("Invalid username or password")
		}
		local = uid.Localpart()
	}
	uid, err := id.NewUserID(strings.ToLower(local), id.ServerName(s.opts.ServerName))
	if err != nil {
		return "", core.ErrForbidden.WithMessage("Invalid username or password")
	}
	return string(uid), nil
}

// userIdentifier is the spec's user identifier object.
type userIdentifier struct {
	Type    string `json:"type"`
	User    string `json:"user"`
	Medium  string `json:"medium"`
	Address string `json:"address"`
	Country string `json:"country"`
	Phone   string `json:"phone"`
}

// identifiedUser returns the local user ID an identifier (or the deprecated
// top-level "user" field) names. Third-party identifiers are refused with
// M_FORBIDDEN, as the spec asks for unknown 3PIDs: hearth binds none.
func (s *Server) identifiedUser(ident *userIdentifier, user string) (string, error) {
	switch {
	case ident == nil && user != "":
		return s.localUserID(user)
	case ident == nil:
		return "", core.ErrMissingParam.WithMessage("identifier is required")
	case ident.Type == "m.id.user":
		if ident.User == "" {
			return "", core.ErrMissingParam.WithMessage("identifier.user is required")
		}
		return s.localUserID(ident.User)
	case ident.Type == "m.id.thirdparty", ident.Type == "m.id.phone":
		return "", core.ErrForbidden.WithMessage("No account is bound to this third-party identifier")
	}
	return "", core.ErrUnrecognized.WithStatus(http.StatusBadRequest).WithMessage("Unknown identifier type")
}
