package web

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"hearth.dev/hearth/core"
)

// defaultTURNUserLifetime is how long TURN credentials stay valid when the
// configuration does not say (Synapse's turn_user_lifetime default).
const defaultTURNUserLifetime = time.Hour

// registerVoIPRoutes serves GET /voip/turnServer.
func (s *Server) registerVoIPRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/v3/voip/turnServer", s.authed(s.getTURNServer))
}

// getTURNServer answers GET /voip/turnServer with time-limited credentials
// for the configured TURN servers, as Synapse makes them (the TURN REST
// API's shared-secret scheme): username "expiry:user_id", expiry in Unix
// seconds, and password base64(HMAC-SHA1(secret, username)). Without TURN
// servers and a secret it answers {}, as Synapse does.
func (s *Server) getTURNServer(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	turn := s.opts.TURN
	if len(turn.URIs) == 0 || turn.SharedSecret == "" {
		writeJSON(w, http.StatusOK, struct{}{})
		return nil
	}
	life := turn.UserLifetime
	if life <= 0 {
		life = defaultTURNUserLifetime
	}
	expiry := s.opts.Now().Add(life).Unix()
	username := strconv.FormatInt(expiry, 10) + ":" + sess.UserID
	m := hmac.New(sha1.New, []byte(turn.SharedSecret))
	m.Write([]byte(username))
	writeJSON(w, http.StatusOK, map[string]any{
		"username": username,
		"password": base64.StdEncoding.EncodeToString(m.Sum(nil)),
		"uris":     turn.URIs,
		"ttl":      int64(life / time.Second),
	})
	return nil
}
