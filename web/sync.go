package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// maxSyncTimeout caps the long-poll of /sync.
const maxSyncTimeout = 5 * time.Minute

// syncWaitHook, when set (by tests), is called each time a /sync request
// starts waiting for a change.
var syncWaitHook atomic.Pointer[func()]

// registerSyncRoutes serves /sync, the filter API and the timeline reads
// (/messages, /context, /relations, /threads, /search,
// /timestamp_to_event).
func (s *Server) registerSyncRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/v3/sync", s.authed(s.getSync))
	s.registerSlidingSyncRoutes()
	s.registerFilterRoutes()
	s.registerMessagesRoutes()
	s.registerContextRoutes()
	s.registerRelationsRoutes()
	s.registerThreadsRoutes()
	s.registerSearchRoutes()
	s.registerTimestampRoutes()
}

// viewer is who a request reads as.
func viewer(sess *core.Session) clientsync.Viewer {
	return clientsync.Viewer{UserID: sess.UserID, DeviceID: sess.DeviceID}
}

// syncParams reads the query parameters of GET /sync.
func (s *Server) syncParams(r *http.Request, sess *core.Session) (req clientsync.Request, timeout time.Duration, presence string, err error) {
	q := r.URL.Query()
	req.Viewer = viewer(sess)
	if since := q.Get("since"); since != "" {
		t, err := clientsync.ParseToken(since)
		if err != nil {
			return req, 0, "", err
		}
		req.Since = &t
	}
	if req.FullState, err = queryBool(r, "full_state", false); err != nil {
		return req, 0, "", err
	}
	if req.UseStateAfter, err = queryBool(r, "use_state_after", false); err != nil {
		return req, 0, "", err
	}
	ms, err := queryInt(r, "timeout", 0)
	if err != nil {
		return req, 0, "", err
	}
	timeout = min(time.Duration(ms)*time.Millisecond, maxSyncTimeout)
	switch presence = q.Get("set_presence"); presence {
	case "":
		presence = core.PresenceOnline
	case core.PresenceOnline, core.PresenceOffline, core.PresenceUnavailable:
	default:
		return req, 0, "", core.ErrInvalidParam.WithMessage("set_presence must be online, offline or unavailable")
	}
	if req.Filter, err = s.syncFilter(r.Context(), sess.UserID, q.Get("filter")); err != nil {
		return req, 0, "", err
	}
	return req, timeout, presence, nil
}

// syncFilter reads the filter parameter of /sync: inline JSON when it
// starts with '{', else the ID of one of the user's stored filters.
func (s *Server) syncFilter(ctx context.Context, userID, param string) (*clientsync.Filter, error) {
	if param == "" {
		return nil, nil
	}
	if strings.HasPrefix(param, "{") {
		return clientsync.ParseFilter([]byte(param))
	}
	fs := s.opts.Timeline.Filters()
	if fs == nil {
		return nil, core.ErrInvalidParam.WithMessage("unknown filter %q", param)
	}
	js, err := fs.Filter(ctx, userID, param)
	if errors.Is(err, core.ErrNotFound) {
		return nil, core.ErrInvalidParam.WithMessage("unknown filter %q", param)
	}
	if err != nil {
		return nil, err
	}
	return clientsync.ParseFilter(js)
}

// getSync is GET /sync. An incremental sync with nothing new waits up to
// timeout for something to happen: it takes the notifier's channel before
// reading the streams, so a change committed while it reads wakes it at
// once.
func (s *Server) getSync(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	req, timeout, presence, err := s.syncParams(r, sess)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := s.opts.Timeline.SyncPresence(ctx, sess.UserID, presence); err != nil {
		return err
	}
	wait := req.Since != nil && !req.FullState && timeout > 0
	var deadline <-chan time.Time
	if wait {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	for {
		var changed <-chan struct{}
		if wait {
			// Each pass reads a snapshot begun after the channel was
			// taken: a read scope's older one could miss what woke it.
			core.ReleaseReads(ctx)
			changed = s.opts.Notifier.Changed()
		}
		resp, err := s.opts.Timeline.Build(ctx, req)
		if err != nil {
			return err
		}
		if !wait || !resp.Empty() {
			writeJSON(w, http.StatusOK, resp)
			return nil
		}
		// No read transaction is held while waiting.
		core.ReleaseReads(ctx)
		s.syncWaiters.Add(1)
		if h := syncWaitHook.Load(); h != nil {
			(*h)()
		}
		select {
		case <-changed:
			s.syncWaiters.Add(-1)
		case <-deadline:
			s.syncWaiters.Add(-1)
			writeJSON(w, http.StatusOK, resp)
			return nil
		case <-ctx.Done():
			s.syncWaiters.Add(-1)
			return nil
		}
	}
}

// queryLimit reads a limit parameter: a non-negative integer, 0 when
// absent.
func queryLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, core.ErrInvalidParam.WithMessage("limit must be a non-negative integer")
	}
	return n, nil
}

// queryPageToken reads a pagination token parameter (nil when absent).
func queryPageToken(r *http.Request, name string) (*clientsync.PageToken, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	p, err := clientsync.ParsePageToken(v)
	if err != nil {
		return nil, core.ErrInvalidParam.WithMessage("invalid %s token", name)
	}
	return &p, nil
}

// queryRoomEventFilter reads the filter parameter of /messages and
// /context (nil when absent).
func queryRoomEventFilter(r *http.Request) (*clientsync.RoomEventFilter, error) {
	v := r.URL.Query().Get("filter")
	if v == "" {
		return nil, nil
	}
	return clientsync.ParseRoomEventFilter([]byte(v))
}
