package web

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// Registration modes (Options.Registration).
const (
	registrationClosed = "closed"
	registrationToken  = "token"
	registrationOpen   = "open"
)

// registerRequest is the body of POST /register.
type registerRequest struct {
	// Type is m.login.application_service for an application service's
	// registration of a user in its namespace.
	Type                     string          `json:"type"`
	Auth                     json.RawMessage `json:"auth"`
	Username                 string          `json:"username"`
	Password                 string          `json:"password"`
	DeviceID                 string          `json:"device_id"`
	InitialDeviceDisplayName string          `json:"initial_device_display_name"`
	InhibitLogin             bool            `json:"inhibit_login"`
	RefreshToken             bool            `json:"refresh_token"`
}

// registrationAuth returns what interactive auth asks of a registration, or
// M_FORBIDDEN when registration is closed to everyone.
//
// open: m.login.dummy. token: m.login.registration_token. closed: nothing,
// except that while no account exists the one-time setup token is accepted
// (as m.login.registration_token) in every mode; it makes the first owner.
func (s *Server) registrationAuth(r *http.Request) (uiaRequest, error) {
	req := uiaRequest{op: "register"}
	mode := s.opts.Registration
	hasAccounts, err := s.opts.Accounts.HasAccounts(r.Context())
	if err != nil {
		return req, err
	}
	switch mode {
	case registrationOpen:
		req.flows = [][]string{{authDummy}}
		if !hasAccounts {
			req.flows = append(req.flows, []string{authRegistrationToken})
		}
		req.tokenAllowed = func(t core.RegistrationToken) bool { return true }
	case registrationToken:
		req.flows = [][]string{{authRegistrationToken}}
	default:
		if hasAccounts {
			return req, core.ErrForbidden.WithMessage("Registration is closed on this server")
		}
		req.flows = [][]string{{authRegistrationToken}}
		req.tokenAllowed = func(t core.RegistrationToken) bool { return t.Setup }
	}
	return req, nil
}

// postRegister answers POST /register.
func (s *Server) postRegister(w http.ResponseWriter, r *http.Request) error {
	switch kind := r.URL.Query().Get("kind"); kind {
	case "", "user":
	case "guest":
		return core.ErrGuestAccessForbid.WithMessage("Guest accounts are not supported")
	default:
		return core.ErrInvalidParam.WithMessage("Unknown kind %q", kind)
	}
	if err := s.checkRateLimit(w, r, actionRegister); err != nil {
		return err
	}
	var body registerRequest
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Type == loginAppService {
		return s.registerAppServiceUser(w, r, body)
	}
	req, err := s.registrationAuth(r)
	if err != nil {
		return err
	}
	// "Homeservers MUST perform the relevant checks and return these codes
	// before performing User-Interactive Authentication."
	var userID string
	if body.Username != "" {
		if userID, err = s.availableUserID(r, body.Username); err != nil {
			return err
		}
		if err := s.exclusiveUser(userID, nil); err != nil {
			return err
		}
	}
	if len(body.Password) > maxPasswordLength {
		return core.ErrInvalidParam.WithMessage("password too long")
	}
	if err := checkDeviceID(body.DeviceID); err != nil {
		return err
	}
	done, err := s.interactiveAuth(r, body.Auth, req)
	if err != nil {
		return err
	}
	if body.Password == "" {
		return core.ErrMissingParam.WithMessage("password is required")
	}
	if userID == "" {
		userID = s.generatedUserID()
	}
	if err := s.opts.Modules.CheckRegistrationForSpam(r.Context(), core.RegistrationCheck{
		Username: id.UserID(userID).Localpart(), DeviceID: body.DeviceID,
		IP: s.clientIP(r), UserAgent: r.UserAgent(),
	}); err != nil {
		return err
	}
	acct, err := s.opts.Accounts.CreateAccount(r.Context(), core.NewAccount{
		UserID:            userID,
		Password:          body.Password,
		RegistrationToken: done.regToken,
	})
	if err != nil {
		return err
	}
	// The account counts against the address's registrations now; the
	// answer does not depend on it.
	_ = s.rateLimit(nil, r, actionRegister)
	s.acct.uia.finish(done)
	// The localpart is the display name until the user picks one, as
	// in Synapse. The account exists already: a failure here is
	// logged, not answered.
	local := id.UserID(acct.UserID).Localpart()
	if err := s.opts.ProfileUpdates.SetNames(r.Context(), acct.UserID, &local, nil); err != nil {
		slog.WarnContext(r.Context(), "registration: initial display name", "user", acct.UserID, "err", err)
	}
	resp := map[string]any{"user_id": acct.UserID, "home_server": s.opts.ServerName}
	if !body.InhibitLogin {
		tok, err := s.opts.Tokens.IssueTokens(r.Context(), core.NewLogin{
			UserID:            acct.UserID,
			DeviceID:          body.DeviceID,
			DeviceDisplayName: body.InitialDeviceDisplayName,
			Refreshable:       body.RefreshToken,
		})
		if err != nil {
			return err
		}
		addTokens(resp, tok)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// addTokens puts issued tokens into a login or registration answer.
func addTokens(resp map[string]any, tok core.Tokens) {
	resp["access_token"] = tok.AccessToken
	resp["device_id"] = tok.DeviceID
	if tok.RefreshToken != "" {
		resp["refresh_token"] = tok.RefreshToken
	}
	if tok.ExpiresIn > 0 {
		resp["expires_in_ms"] = tok.ExpiresIn.Milliseconds()
	}
}

// availableUserID checks a requested username: downcased, it must be a
// valid localpart (M_INVALID_USERNAME) not taken by any account, even a
// deactivated one (M_USER_IN_USE).
func (s *Server) availableUserID(r *http.Request, username string) (string, error) {
	uid, err := id.NewUserID(strings.ToLower(username), id.ServerName(s.opts.ServerName))
	if err != nil {
		return "", core.ErrInvalidUsername.WithMessage("User IDs may only contain a-z, 0-9, and . _ = - / +")
	}
	_, err = s.opts.Accounts.Account(r.Context(), string(uid))
	switch {
	case err == nil:
		return "", core.ErrUserInUse.WithMessage("User ID already taken")
	case !errors.Is(err, core.ErrNotFound):
		return "", err
	}
	return string(uid), nil
}

// generatedUserID makes a user ID for a registration without a username.
func (s *Server) generatedUserID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "@u" + string(b) + ":" + s.opts.ServerName
}

// checkDeviceID refuses device IDs a client may not choose: longer than 255
// bytes or with control characters.
func checkDeviceID(deviceID string) error {
	if len(deviceID) > 255 {
		return core.ErrInvalidParam.WithMessage("device_id is too long")
	}
	for _, c := range deviceID {
		if c < 0x20 || c == 0x7f {
			return core.ErrInvalidParam.WithMessage("device_id has control characters")
		}
	}
	return nil
}

// getRegisterAvailable answers GET /register/available.
func (s *Server) getRegisterAvailable(w http.ResponseWriter, r *http.Request) error {
	if err := s.rateLimit(w, r, actionRegisterQuery); err != nil {
		return err
	}
	username := r.URL.Query().Get("username")
	if username == "" {
		return core.ErrMissingParam.WithMessage("username is required")
	}
	if _, err := s.availableUserID(r, username); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"available": true})
	return nil
}

// getRegistrationTokenValidity answers GET
// /v1/register/m.login.registration_token/validity. A setup token counts
// as valid while it can be used, in every registration mode.
func (s *Server) getRegistrationTokenValidity(w http.ResponseWriter, r *http.Request) error {
	if err := s.rateLimit(w, r, actionRegisterQuery); err != nil {
		return err
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		return core.ErrMissingParam.WithMessage("token is required")
	}
	if _, err := s.registrationAuth(r); err != nil {
		// Closed to everyone: "all tokens are considered invalid".
		return core.ErrForbidden.WithMessage("Registration is not enabled on this homeserver.")
	}
	valid, err := s.opts.RegistrationTokens.RegistrationTokenValid(r.Context(), token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"valid": valid})
	return nil
}
