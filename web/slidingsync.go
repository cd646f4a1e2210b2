package web

import (
	"net/http"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/slidingsync"
)

// registerSlidingSyncRoutes serves simplified sliding sync (MSC4186).
func (s *Server) registerSlidingSyncRoutes() {
	s.mux.HandleFunc("POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync", s.authed(s.postSlidingSync))
}

// postSlidingSync is POST .../org.matrix.simplified_msc3575/sync: the body
// holds the lists, subscriptions and extensions, the query pos and
// timeout (milliseconds).
func (s *Server) postSlidingSync(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	ms, err := queryInt(r, "timeout", 0)
	if err != nil {
		return err
	}
	if ms < 0 {
		return core.ErrInvalidParam.WithMessage("timeout must not be negative")
	}
	ms = min(ms, int(slidingsync.MaxTimeout/time.Millisecond))
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	req, err := slidingsync.ParseRequest(body)
	if err != nil {
		return err
	}
	resp, err := s.opts.Sliding.Sync(r.Context(), slidingsync.Input{
		Viewer:  viewer(sess),
		Pos:     r.URL.Query().Get("pos"),
		Timeout: time.Duration(ms) * time.Millisecond,
		Request: req,
	})
	if err != nil {
		if r.Context().Err() != nil {
			return nil
		}
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
