package web

import (
	"net/http"
	"strings"

	"hearth.dev/hearth/core"
)

// authedHandler is a handler that needs a logged-in user.
type authedHandler func(w http.ResponseWriter, r *http.Request, sess *core.Session)

// accessToken takes the token from "Authorization: Bearer" or, as the spec
// still allows, the access_token query parameter.
func accessToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	return r.URL.Query().Get("access_token")
}

// authed wraps h so it runs only with a valid access token: M_MISSING_TOKEN
// without one, M_UNKNOWN_TOKEN for one the server does not know.
func (s *Server) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := accessToken(r)
		if tok == "" {
			writeError(w, r, core.ErrMissingToken)
			return
		}
		if s.opts.Sessions == nil {
			writeError(w, r, core.ErrUnknownToken)
			return
		}
		sess, err := s.opts.Sessions.SessionByAccessToken(r.Context(), tok)
		if err != nil {
			writeError(w, r, err)
			return
		}
		s.deviceSeen(r, sess)
		h(w, r, sess)
	}
}
