package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// The user part of Synapse's admin API, in the shapes Synapse documents
// (docs/admin_api/user_admin_api.md), so admin tools written for Synapse
// work. Fields hearth has no notion of (guests, shadow bans, erasure,
// locking, third-party IDs, external IDs, consent) are given their neutral
// values.

func (s *Server) registerAdminUserRoutes() {
	s.mux.HandleFunc("GET /_synapse/admin/v1/server_version", public(s.getAdminServerVersion))
	s.mux.HandleFunc("GET /_synapse/admin/v2/users", s.admin(s.getAdminUsers))
	s.mux.HandleFunc("GET /_synapse/admin/v2/users/{userId}", s.admin(s.getAdminUser))
	s.mux.HandleFunc("PUT /_synapse/admin/v2/users/{userId}", s.admin(s.putAdminUser))
}

var errNotAdmin = core.ErrForbidden.WithMessage("You are not a server admin")

// admin wraps h so it runs only for an admin: M_FORBIDDEN for other users.
// Not inlined (see public).
//
//go:noinline
func (s *Server) admin(h authedHandler) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
		if !sess.IsAdmin {
			return errNotAdmin
		}
		return h(w, r, sess)
	})
}

// getAdminServerVersion answers GET /_synapse/admin/v1/server_version. As
// in Synapse it needs no access token: /versions tells as much.
func (s *Server) getAdminServerVersion(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"server_version": s.opts.Version})
	return nil
}

// adminUserListJSON is one user of the v2 list (creation_ts in ms).
func adminUserListJSON(a core.Account, displayName, avatarURL any) map[string]any {
	return map[string]any{
		"name":          a.UserID,
		"is_guest":      false,
		"admin":         a.Admin,
		"user_type":     nullable(a.UserType),
		"deactivated":   a.Deactivated,
		"erased":        false,
		"shadow_banned": false,
		"displayname":   displayName,
		"avatar_url":    avatarURL,
		"creation_ts":   a.CreatedAt.UnixMilli(),
		"locked":        false,
	}
}

// adminUserJSON is the answer of GET/PUT /v2/users/{userId} (creation_ts
// in seconds, as Synapse documents it there).
func adminUserJSON(a core.Account, displayName, avatarURL any) map[string]any {
	return map[string]any{
		"name":                       a.UserID,
		"displayname":                displayName,
		"threepids":                  []any{},
		"avatar_url":                 avatarURL,
		"is_guest":                   false,
		"admin":                      a.Admin,
		"deactivated":                a.Deactivated,
		"erased":                     false,
		"shadow_banned":              false,
		"creation_ts":                a.CreatedAt.Unix(),
		"appservice_id":              nil,
		"consent_server_notice_sent": nil,
		"consent_version":            nil,
		"consent_ts":                 nil,
		"external_ids":               []any{},
		"user_type":                  nullable(a.UserType),
		"locked":                     false,
		"suspended":                  false,
	}
}

// profileNames returns userID's display name and avatar URL for the admin
// answers: nil when unset or when no profile store is wired.
func (s *Server) profileNames(r *http.Request, userID string) (displayName, avatarURL any, err error) {
	fields, err := s.opts.Profiles.Profile(r.Context(), userID)
	if err != nil {
		return nil, nil, err
	}
	dn, av := core.ProfileNames(fields)
	return nullable(dn), nullable(av), nil
}

// writeAdminUser answers with the account's admin view, with its profile.
func (s *Server) writeAdminUser(w http.ResponseWriter, r *http.Request, status int, a core.Account) error {
	dn, av, err := s.profileNames(r, a.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, status, adminUserJSON(a, dn, av))
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// queryInt reads a non-negative integer query parameter, def if absent.
func queryInt(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, core.ErrInvalidParam.WithMessage("%s must be a non-negative integer", name)
	}
	return n, nil
}

// queryBool reads "true"/"false", def if absent.
func queryBool(r *http.Request, name string, def bool) (bool, error) {
	switch r.URL.Query().Get(name) {
	case "":
		return def, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, core.ErrInvalidParam.WithMessage("%s must be true or false", name)
}

// getAdminUsers answers GET /_synapse/admin/v2/users: from, limit,
// deactivated, user_id and name (both "contains" filters on the user ID).
func (s *Server) getAdminUsers(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	from, err := queryInt(r, "from", 0)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	deactivated, err := queryBool(r, "deactivated", false)
	if err != nil {
		return err
	}
	contains := r.URL.Query().Get("name")
	if contains == "" {
		contains = r.URL.Query().Get("user_id")
	}
	users := []map[string]any{}
	var total int
	if limit > 0 {
		accts, n, err := s.opts.Accounts.Accounts(r.Context(), core.AccountQuery{From: from, Limit: min(limit, 1000), Deactivated: deactivated, Contains: contains})
		if err != nil {
			return err
		}
		total = n
		for _, a := range accts {
			dn, av, err := s.profileNames(r, a.UserID)
			if err != nil {
				return err
			}
			users = append(users, adminUserListJSON(a, dn, av))
		}
	} else {
		_, n, err := s.opts.Accounts.Accounts(r.Context(), core.AccountQuery{From: from, Limit: 1, Deactivated: deactivated, Contains: contains})
		if err != nil {
			return err
		}
		total = n
	}
	resp := map[string]any{"users": users, "total": total}
	if next := from + len(users); len(users) > 0 && next < total {
		resp["next_token"] = strconv.Itoa(next)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// adminLocalUser parses the {userId} of an admin path: a local user ID, or
// M_INVALID_PARAM.
func (s *Server) adminLocalUser(r *http.Request) (id.UserID, error) {
	uid, err := id.ParseUserID(r.PathValue("userId"))
	if err != nil {
		return "", core.ErrInvalidParam.WithMessage("Invalid user ID")
	}
	if string(uid.ServerName()) != s.opts.ServerName {
		return "", core.ErrInvalidParam.WithMessage("This endpoint can only be used with local users")
	}
	return uid, nil
}

// getAdminUser answers GET /_synapse/admin/v2/users/{userId}.
func (s *Server) getAdminUser(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	uid, err := s.adminLocalUser(r)
	if err != nil {
		return err
	}
	a, err := s.opts.Accounts.Account(r.Context(), string(uid))
	if errors.Is(err, core.ErrNotFound) {
		return core.ErrNotFound.WithMessage("User not found")
	}
	if err != nil {
		return err
	}
	return s.writeAdminUser(w, r, http.StatusOK, a)
}

// adminUserRequest is the body of PUT /_synapse/admin/v2/users/{userId}.
type adminUserRequest struct {
	Password      *string `json:"password"`
	LogoutDevices *bool   `json:"logout_devices"`
	Admin         *bool   `json:"admin"`
	Deactivated   *bool   `json:"deactivated"`
	UserType      *string `json:"user_type"`
	Displayname   *string `json:"displayname"`
	AvatarURL     *string `json:"avatar_url"`
}

// putAdminUser answers PUT /_synapse/admin/v2/users/{userId}: creates the
// account (201) or modifies it (200). A new password logs the user's
// devices out unless logout_devices is false; reactivating an account
// needs a password, as deactivation wiped it.
func (s *Server) putAdminUser(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	uid, err := s.adminLocalUser(r)
	if err != nil {
		return err
	}
	var body adminUserRequest
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Password != nil && len(*body.Password) > maxPasswordLength {
		return core.ErrInvalidParam.WithMessage("password too long")
	}
	if body.UserType != nil && *body.UserType != "" && *body.UserType != "bot" && *body.UserType != "support" {
		return core.ErrInvalidParam.WithMessage("Invalid user type")
	}
	// The profile's limits are checked before anything changes.
	for _, f := range []struct {
		key   string
		value *string
	}{{core.ProfileDisplayName, body.Displayname}, {core.ProfileAvatarURL, body.AvatarURL}} {
		if f.value == nil {
			continue
		}
		v, _ := json.Marshal(*f.value)
		if err := core.CheckProfileField(f.key, v); err != nil {
			return err
		}
	}
	ctx := r.Context()
	a, err := s.opts.Accounts.Account(ctx, string(uid))
	switch {
	case errors.Is(err, core.ErrNotFound):
		return s.createAdminUser(w, r, uid, body)
	case err != nil:
		return err
	}
	if body.Admin != nil && !*body.Admin && string(uid) == sess.UserID {
		return core.ErrInvalidParam.WithMessage("You may not demote yourself")
	}
	if body.Deactivated != nil && *body.Deactivated && string(uid) == sess.UserID {
		return core.ErrInvalidParam.WithMessage("You may not deactivate yourself here")
	}
	if body.Deactivated != nil && !*body.Deactivated && a.Deactivated {
		if body.Password == nil || *body.Password == "" {
			return core.ErrMissingParam.WithMessage("Must provide a password to re-activate an account")
		}
		if err := s.opts.Accounts.Reactivate(ctx, string(uid), *body.Password); err != nil {
			return err
		}
	} else if body.Password != nil {
		if *body.Password == "" {
			return core.ErrInvalidParam.WithMessage("password must not be empty")
		}
		logout := body.LogoutDevices == nil || *body.LogoutDevices
		if err := s.opts.Accounts.SetPassword(ctx, core.PasswordChange{UserID: string(uid), NewPassword: *body.Password, LogoutDevices: logout}); err != nil {
			return err
		}
	}
	if body.Admin != nil && *body.Admin != a.Admin {
		if err := s.opts.Accounts.SetAdmin(ctx, string(uid), *body.Admin); err != nil {
			return err
		}
	}
	if body.Deactivated != nil && *body.Deactivated && !a.Deactivated {
		if err := s.opts.Accounts.Deactivate(ctx, string(uid)); err != nil {
			return err
		}
		s.leaveAllRooms(r, string(uid))
	}
	if err := s.opts.ProfileUpdates.SetNames(ctx, string(uid), body.Displayname, body.AvatarURL); err != nil {
		return err
	}
	if a, err = s.opts.Accounts.Account(ctx, string(uid)); err != nil {
		return err
	}
	return s.writeAdminUser(w, r, http.StatusOK, a)
}

// createAdminUser is the creating half of putAdminUser.
func (s *Server) createAdminUser(w http.ResponseWriter, r *http.Request, uid id.UserID, body adminUserRequest) error {
	if _, err := id.NewUserID(uid.Localpart(), uid.ServerName()); err != nil {
		return core.ErrInvalidUsername.WithMessage("User IDs may only contain a-z, 0-9, and . _ = - / +")
	}
	na := core.NewAccount{UserID: string(uid)}
	if body.Password != nil {
		na.Password = *body.Password
	}
	if body.Admin != nil {
		na.Admin = *body.Admin
	}
	if body.UserType != nil {
		na.UserType = *body.UserType
	}
	a, err := s.opts.Accounts.CreateAccount(r.Context(), na)
	if err != nil {
		return err
	}
	displayName := body.Displayname
	if displayName == nil {
		// As at registration: the localpart until the user picks a name.
		local := uid.Localpart()
		displayName = &local
	}
	if err := s.opts.ProfileUpdates.SetNames(r.Context(), a.UserID, displayName, body.AvatarURL); err != nil {
		return err
	}
	if body.Deactivated != nil && *body.Deactivated {
		if err := s.opts.Accounts.Deactivate(r.Context(), a.UserID); err != nil {
			return err
		}
		a.Deactivated, a.HasPassword = true, false
	}
	return s.writeAdminUser(w, r, http.StatusCreated, a)
}
