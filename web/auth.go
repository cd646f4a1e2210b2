package web

import (
	"net/http"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/matrixhttp"
)

// authedHandler is a handler that needs a logged-in user. It writes its
// answer and returns nil, or returns an error without writing anything:
// authed writes the error.
type authedHandler func(w http.ResponseWriter, r *http.Request, sess *core.Session) error

// publicHandler is a handler that needs no access token; its error is
// written by public, as authedHandler's by authed.
type publicHandler func(w http.ResponseWriter, r *http.Request) error

// public adapts h to net/http: an error h returns is written once, through
// the one Matrix error writer (matrixhttp.WriteError). Every route of the
// client-server API goes through it, authed ones too.
//
// The route wrappers (public, authed, admin, moderation,
// getThirdPartyLookup) are not inlined: they run once per route when the
// routes are registered, and inlined, each of their call sites got its own
// copy of the closure they return (authed's alone 125 copies, ~274 KB of
// the browser build's code).
//
//go:noinline
func public(h publicHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			matrixhttp.WriteError(w, r, err)
		}
	}
}

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
// without one, M_UNKNOWN_TOKEN for one the server does not know. Not
// inlined (see public).
//
//go:noinline
func (s *Server) authed(h authedHandler) http.HandlerFunc {
	return public(func(w http.ResponseWriter, r *http.Request) error {
		tok := accessToken(r)
		if tok == "" {
			return core.ErrMissingToken
		}
		w, r, end := s.readScoped(w, r)
		defer end()
		if as := s.opts.AppServices.ByASToken(tok); as != nil {
			sess, err := s.appServiceSession(r, as)
			if err != nil {
				return err
			}
			return h(w, r, sess)
		}
		sess, err := s.opts.Sessions.SessionByAccessToken(r.Context(), tok)
		if err != nil {
			return err
		}
		s.deviceSeen(r, sess)
		return h(w, r, sess)
	})
}
