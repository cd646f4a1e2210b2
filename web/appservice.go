package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
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
	_ = s.rateLimit(nil, r, actionRegister) // counted once created, as for users
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

func (s *Server) registerAppServiceRoutes() {
	s.mux.HandleFunc("POST /_matrix/client/v1/appservice/{appserviceId}/ping", s.authed(s.postAppServicePing))
	s.mux.HandleFunc("PUT /_matrix/client/v3/directory/list/appservice/{networkId}/{roomId}", s.authed(s.putAppServiceDirectoryVisibility))
	p := "/_matrix/client/v3/thirdparty"
	s.mux.HandleFunc("GET "+p+"/protocols", s.authed(s.getThirdPartyProtocols))
	s.mux.HandleFunc("GET "+p+"/protocol/{protocol}", s.authed(s.getThirdPartyProtocol))
	s.mux.HandleFunc("GET "+p+"/location/{protocol}", s.authed(s.getThirdPartyLookup("location")))
	s.mux.HandleFunc("GET "+p+"/user/{protocol}", s.authed(s.getThirdPartyLookup("user")))
	s.mux.HandleFunc("GET "+p+"/location", s.authed(s.getThirdPartyLookup("location")))
	s.mux.HandleFunc("GET "+p+"/user", s.authed(s.getThirdPartyLookup("user")))
}

// postAppServicePing is POST /_matrix/client/v1/appservice/{appserviceId}/ping:
// only the service itself may ping itself (its as_token); the homeserver
// pings it with POST /_matrix/app/v1/ping.
func (s *Server) postAppServicePing(w http.ResponseWriter, r *http.Request, _ *core.Session) error {
	as := s.appService(r)
	if as == nil || as.ID != r.PathValue("appserviceId") {
		return core.ErrForbidden.WithMessage("Only the application service %s may ping itself", r.PathValue("appserviceId"))
	}
	var body struct {
		TransactionID string `json:"transaction_id"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if s.opts.AppServiceRequests == nil {
		return core.ErrURLNotSet
	}
	ms, err := s.opts.AppServiceRequests.Ping(r.Context(), as, body.TransactionID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int64{"duration_ms": ms})
	return nil
}

// putAppServiceDirectoryVisibility is PUT
// /directory/list/appservice/{networkId}/{roomId}: a service publishes a
// room in its network's room directory, or withdraws it. Only an
// application service may (its as_token); the list is its own.
func (s *Server) putAppServiceDirectoryVisibility(w http.ResponseWriter, r *http.Request, _ *core.Session) error {
	as := s.appService(r)
	if as == nil {
		return core.ErrForbidden.WithMessage("Only an application service may publish rooms in a network's directory")
	}
	var body struct {
		Visibility *string `json:"visibility"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Visibility == nil {
		return core.ErrMissingParam.WithMessage("visibility is required")
	}
	if err := s.opts.Rooms.SetNetworkVisibility(r.Context(), as.ID, r.PathValue("networkId"), r.PathValue("roomId"), *body.Visibility); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, empty)
	return nil
}

// appServiceKnowsUser asks the services whose namespaces hold userID, a
// local user the server does not know, whether it exists (they create it
// before they answer yes).
func (s *Server) appServiceKnowsUser(r *http.Request, userID string) bool {
	if s.opts.AppServiceRequests == nil {
		return false
	}
	for _, as := range s.opts.AppServices.UserQueryTarget(userID) {
		ok, err := s.opts.AppServiceRequests.QueryUser(r.Context(), as, userID)
		if err != nil {
			slog.WarnContext(r.Context(), "application service user query", "service", as.ID, "user", userID, "err", err)
		}
		if ok {
			return true
		}
	}
	return false
}

// resolveLocalAlias returns the room of alias, a local alias; one that no
// room has is asked of the application services whose namespaces hold
// it, and resolved again when one says it made it.
func (s *Server) resolveLocalAlias(r *http.Request, alias string) (string, error) {
	roomID, err := s.opts.Rooms.ResolveAlias(r.Context(), alias)
	if errors.Is(err, core.ErrNotFound) && s.appServiceKnowsAlias(r, alias) {
		roomID, err = s.opts.Rooms.ResolveAlias(r.Context(), alias)
	}
	return roomID, err
}

// appServiceKnowsAlias is appServiceKnowsUser for a local room alias.
func (s *Server) appServiceKnowsAlias(r *http.Request, alias string) bool {
	if s.opts.AppServiceRequests == nil {
		return false
	}
	for _, as := range s.opts.AppServices.AliasQueryTarget(alias) {
		ok, err := s.opts.AppServiceRequests.QueryAlias(r.Context(), as, alias)
		if err != nil {
			slog.WarnContext(r.Context(), "application service alias query", "service", as.ID, "alias", alias, "err", err)
		}
		if ok {
			return true
		}
	}
	return false
}

// thirdPartyServices are the services that bridge protocol (all of them
// for "").
func (s *Server) thirdPartyServices(protocol string) []*appservice.Registration {
	var out []*appservice.Registration
	for _, as := range s.opts.AppServices.All() {
		if as.URL != "" && (protocol == "" || slices.Contains(as.Protocols, protocol)) {
			out = append(out, as)
		}
	}
	return out
}

// protocolInfo asks the services that bridge protocol for its
// description; the instances of several are put together.
func (s *Server) protocolInfo(r *http.Request, protocol string) (map[string]any, bool) {
	var merged map[string]any
	if s.opts.AppServiceRequests == nil {
		return nil, false
	}
	for _, as := range s.thirdPartyServices(protocol) {
		raw, err := s.opts.AppServiceRequests.ThirdParty(r.Context(), as, "protocol/"+url.PathEscape(protocol), nil)
		var info map[string]any
		if err == nil {
			err = json.Unmarshal(raw, &info)
		}
		if err != nil || info == nil {
			slog.WarnContext(r.Context(), "application service protocol query", "service", as.ID, "protocol", protocol, "err", err)
			continue
		}
		// Each instance gets the instance_id /publicRooms takes as
		// third_party_instance_id.
		if list, ok := info["instances"].([]any); ok {
			for _, inst := range list {
				if m, ok := inst.(map[string]any); ok {
					if network, ok := m["network_id"].(string); ok {
						m["instance_id"] = as.ID + "|" + network
					}
				}
			}
		}
		if merged == nil {
			merged = info
			continue
		}
		a, _ := merged["instances"].([]any)
		b, _ := info["instances"].([]any)
		merged["instances"] = append(a, b...)
	}
	return merged, merged != nil
}

// getThirdPartyProtocols is GET /thirdparty/protocols: every protocol of
// the registered services that answers.
func (s *Server) getThirdPartyProtocols(w http.ResponseWriter, r *http.Request, _ *core.Session) error {
	out := map[string]any{}
	for _, as := range s.thirdPartyServices("") {
		for _, p := range as.Protocols {
			if _, done := out[p]; done {
				continue
			}
			if info, ok := s.protocolInfo(r, p); ok {
				out[p] = info
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getThirdPartyProtocol is GET /thirdparty/protocol/{protocol}.
func (s *Server) getThirdPartyProtocol(w http.ResponseWriter, r *http.Request, _ *core.Session) error {
	info, ok := s.protocolInfo(r, r.PathValue("protocol"))
	if !ok {
		return core.ErrNotFound.WithMessage("No application service bridges %s", r.PathValue("protocol"))
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// getThirdPartyLookup is GET /thirdparty/{kind}/{protocol} (the fields
// as query parameters) and GET /thirdparty/{kind} (alias= or userid=):
// the lists the services answer, put together. Not inlined (see public).
//
//go:noinline
func (s *Server) getThirdPartyLookup(kind string) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, _ *core.Session) error {
		protocol := r.PathValue("protocol")
		path := kind
		if protocol != "" {
			path += "/" + url.PathEscape(protocol)
		} else if key := map[string]string{"location": "alias", "user": "userid"}[kind]; r.URL.Query().Get(key) == "" {
			return core.ErrMissingParam.WithMessage("%s is required", key)
		}
		services := s.thirdPartyServices(protocol)
		if protocol != "" && len(services) == 0 {
			return core.ErrNotFound.WithMessage("No application service bridges %s", protocol)
		}
		out := []json.RawMessage{}
		for _, as := range services {
			if s.opts.AppServiceRequests == nil {
				break
			}
			raw, err := s.opts.AppServiceRequests.ThirdParty(r.Context(), as, path, r.URL.Query())
			var list []json.RawMessage
			if err == nil {
				err = json.Unmarshal(raw, &list)
			}
			if err != nil {
				slog.WarnContext(r.Context(), "application service third-party lookup", "service", as.ID, "path", path, "err", err)
				continue
			}
			out = append(out, list...)
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}
