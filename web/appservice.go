package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/appservice"
)

// loginAppService is the login (and registration) type of application
// services.
const loginAppService = "m.login.application_service"

// appService returns the application service whose as_token the request
// carries, or nil.
func (s *Server) appService(r *http.Request) *appservice.Registration {
	return s.opts.AppServices.ByASToken(accessToken(r))
}

// appServiceSession is the session of a request made with as's as_token
// (application service API, "Identity assertion"): the user named by the
// user_id query parameter, which must be in the service's user
// namespaces (M_EXCLUSIVE otherwise) and registered (M_FORBIDDEN), or
// the service's sender; the device named by device_id, which must be the
// user's (M_UNKNOWN_DEVICE), or none.
func (s *Server) appServiceSession(r *http.Request, as *appservice.Registration) (*core.Session, error) {
	q := r.URL.Query()
	userID := q.Get("user_id")
	if userID == "" {
		userID = as.Sender
	}
	if !as.IsUser(userID) {
		return nil, core.ErrForbidden.WithMessage("The application service cannot act as %s: it is not in its namespaces", userID)
	}
	sess := &core.Session{UserID: userID}
	if userID != as.Sender {
		acct, err := s.opts.Accounts.Account(r.Context(), userID)
		if errors.Is(err, core.ErrNotFound) || err == nil && acct.Deactivated {
			return nil, core.ErrForbidden.WithMessage("The application service has not registered %s", userID)
		}
		if err != nil {
			return nil, err
		}
		sess.IsAdmin = acct.Admin
	}
	if deviceID := q.Get("device_id"); deviceID != "" {
		_, err := s.opts.Devices.Device(r.Context(), userID, deviceID)
		if errors.Is(err, core.ErrNotFound) {
			return nil, core.ErrUnknownDevice.WithMessage("%s has no device %s", userID, deviceID)
		}
		if err != nil {
			return nil, err
		}
		sess.DeviceID = deviceID
	}
	return sess, nil
}

// exclusiveUser refuses a user ID that an application service holds
// exclusively to anyone but that service (as, nil for a user).
func (s *Server) exclusiveUser(userID string, as *appservice.Registration) error {
	if owner := s.opts.AppServices.ExclusiveUserOwner(userID); owner != nil && owner != as {
		return core.ErrExclusive.WithMessage("%s is reserved by an application service", userID)
	}
	return nil
}

// exclusiveAlias refuses an alias outside the namespaces of the service
// making the request (as), or, for anyone else, inside a namespace a
// service holds exclusively.
func (s *Server) exclusiveAlias(alias string, as *appservice.Registration) error {
	if as != nil && !as.IsAlias(alias) {
		return core.ErrExclusive.WithMessage("%s is not in the application service's namespaces", alias)
	}
	if owner := s.opts.AppServices.ExclusiveAliasOwner(alias); owner != nil && owner != as {
		return core.ErrExclusive.WithMessage("%s is reserved by an application service", alias)
	}
	return nil
}

// appServiceFromToken is the service of a registration or login of type
// m.login.application_service: M_MISSING_TOKEN without an access token,
// M_UNKNOWN_TOKEN for one that is no service's as_token.
func (s *Server) appServiceFromToken(r *http.Request) (*appservice.Registration, error) {
	tok := accessToken(r)
	if tok == "" {
		return nil, core.ErrMissingToken
	}
	as := s.opts.AppServices.ByASToken(tok)
	if as == nil {
		return nil, core.ErrUnknownToken
	}
	return as, nil
}

// registerAppServiceUser answers POST /register with type
// m.login.application_service: a passwordless account in the service's
// user namespaces, without interactive auth.
func (s *Server) registerAppServiceUser(w http.ResponseWriter, r *http.Request, body registerRequest) error {
	as, err := s.appServiceFromToken(r)
	if err != nil {
		return err
	}
	if body.Username == "" {
		return core.ErrMissingParam.WithMessage("username is required")
	}
	userID, err := s.availableUserID(r, body.Username)
	if err != nil {
		return err
	}
	if !as.IsUser(userID) {
		return core.ErrExclusive.WithMessage("%s is not in the application service's namespaces", userID)
	}
	if err := s.exclusiveUser(userID, as); err != nil {
		return err
	}
	if err := checkDeviceID(body.DeviceID); err != nil {
		return err
	}
	acct, err := s.opts.Accounts.CreateAccount(r.Context(), core.NewAccount{UserID: userID})
	if err != nil {
		return err
	}
	local := body.Username
	if err := s.opts.ProfileUpdates.SetNames(r.Context(), acct.UserID, &local, nil); err != nil {
		slog.WarnContext(r.Context(), "registration: initial display name", "user", acct.UserID, "err", err)
	}
	resp := map[string]any{"user_id": acct.UserID, "home_server": s.opts.ServerName}
	if !body.InhibitLogin {
		tok, err := s.opts.Tokens.IssueTokens(r.Context(), core.NewLogin{UserID: acct.UserID, DeviceID: body.DeviceID,
			DeviceDisplayName: body.InitialDeviceDisplayName, Refreshable: body.RefreshToken})
		if err != nil {
			return err
		}
		addTokens(resp, tok)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// appServiceLoginUser is the user a login of type
// m.login.application_service logs in: in the service's namespaces
// (M_EXCLUSIVE) and registered (M_FORBIDDEN).
func (s *Server) appServiceLoginUser(r *http.Request, body loginRequest) (string, error) {
	as, err := s.appServiceFromToken(r)
	if err != nil {
		return "", err
	}
	userID, err := s.identifiedUser(body.Identifier, body.User)
	if err != nil {
		return "", err
	}
	if !as.IsUser(userID) {
		return "", core.ErrExclusive.WithMessage("%s is not in the application service's namespaces", userID)
	}
	acct, err := s.opts.Accounts.Account(r.Context(), userID)
	if errors.Is(err, core.ErrNotFound) || err == nil && acct.Deactivated {
		return "", core.ErrForbidden.WithMessage("%s is not registered", userID)
	}
	return userID, err
}

// massagedTimestamp is the ts query parameter of a send or state PUT
// (application service API, "Timestamp massaging"): only an application
// service may give it, and it must be an origin_server_ts (a non-negative
// integer within canonical JSON's range). 0 means now.
func (s *Server) massagedTimestamp(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("ts")
	if v == "" || s.appService(r) == nil {
		return 0, nil
	}
	ts, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ts <= 0 || ts > 1<<53-1 {
		return 0, core.ErrInvalidParam.WithMessage("ts must be a timestamp in milliseconds")
	}
	return ts, nil
}
