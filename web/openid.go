package web

import (
	"net/http"
	"time"

	"hearth.dev/hearth/core"
)

// openIDTokenLifetime is how long an OpenID token stays valid (Synapse's
// default, one hour).
const openIDTokenLifetime = time.Hour

// registerOpenIDRoutes serves OpenID tokens a client hands to a third
// party (an integration manager, a widget), which checks them against
// this server's /_matrix/federation/v1/openid/userinfo.
func (s *Server) registerOpenIDRoutes() {
	s.mux.HandleFunc("POST /_matrix/client/v3/user/{userId}/openid/request_token", s.authed(s.postOpenIDRequestToken))
}

// postOpenIDRequestToken answers POST /user/{userId}/openid/request_token.
func (s *Server) postOpenIDRequestToken(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if r.PathValue("userId") != sess.UserID {
		return core.ErrForbidden.WithMessage("Cannot request OpenID tokens for other users")
	}
	var body map[string]any
	if err := readJSON(r, &body); err != nil {
		return err
	}
	token, err := s.opts.OpenID.CreateOpenIDToken(r.Context(), sess.UserID, openIDTokenLifetime)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":       token,
		"token_type":         "Bearer",
		"matrix_server_name": s.opts.ServerName,
		"expires_in":         int64(openIDTokenLifetime / time.Second),
	})
	return nil
}
