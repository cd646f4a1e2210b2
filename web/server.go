// Package web is hearth's client-facing HTTP surface: the Matrix
// client-server API under /_matrix/client, media, .well-known, and the
// browser shell. Handlers return their error and the wrappers (public,
// authed) write it through matrixhttp.WriteError. It reaches storage only
// through the services core declares (clientapi.Services), which
// hearth.Open builds through package services.
//
// Importing the package has no side effects.
package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"hearth.dev/hearth/core/appservice"
	"hearth.dev/hearth/core/clientapi"
)

// Options are what a Server is built from: its settings and the services
// it calls, grouped by area (clientapi.Services; their fields are reached
// by name, s.opts.Rooms), and the way to rooms on other servers.
// hearth.Open builds the services through package services; tests build
// them the same way (internal/hearthtest).
type Options struct {
	clientapi.Services
	// The Remote services reach other servers through the federation
	// client the root builds beside the graph. They are the only optional
	// ones: without them this server does not federate, and each says below
	// what a request that needs another server gets instead.
	//
	// RemoteRooms joins rooms, invites users and reads profiles and room
	// directories on other servers (core/room's Federation); nil answers
	// M_NOT_FOUND.
	RemoteRooms RemoteRooms
	// RemoteKeys asks other servers for their users' end-to-end
	// encryption keys; nil reports those servers in "failures".
	RemoteKeys RemoteKeys
	// RemoteMedia fetches other servers' media; nil answers M_NOT_FOUND.
	RemoteMedia RemoteMedia
	// URLPreviews makes URL previews (package urlpreview); nil, the
	// default (media.url_preview: off), answers M_UNRECOGNIZED.
	URLPreviews URLPreviewer
	// AppServiceRequests asks the application services (pings, user and
	// alias queries, third-party lookups); nil asks nothing: unknown
	// users and aliases stay unknown, pings get M_URL_NOT_SET and
	// third-party lookups find nothing.
	AppServiceRequests appservice.Requester
}

// Server answers the client-server API.
type Server struct {
	opts Options
	mux  *http.ServeMux
	repo mediaState // the content repository (media.go)
	acct accountState
	// syncWaiters counts the /sync requests waiting for news.
	syncWaiters atomic.Int64
}

// SyncWaiters returns the number of /sync requests waiting for news now
// (a metric).
func (s *Server) SyncWaiters() int64 { return s.syncWaiters.Load() }

// NewServer builds the handler tree. Every service of o is required: a
// missing one is an error, never a missing route.
func NewServer(o Options) (*Server, error) {
	if err := o.Check(); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if o.Timeline.Filters() == nil {
		return nil, errors.New("web: the sync service has no filter store")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{opts: o, mux: http.NewServeMux()}
	s.registerBasicRoutes()
	s.registerRoomRoutes()
	s.registerSyncRoutes()
	s.registerMediaRoutes()
	s.registerKeyRoutes()
	s.registerToDeviceRoutes()
	s.registerKeyBackupRoutes()
	s.registerAccountRoutes()
	s.registerOpenIDRoutes()
	s.registerSharedSecretRoutes()
	s.registerVoIPRoutes()
	s.registerHealthRoutes()
	s.registerAdminUserRoutes()
	s.registerAdminRoomRoutes()
	s.registerAdminModuleRoutes()
	s.registerUserDirectoryRoutes()
	s.registerProfileRoutes()
	s.registerAccountDataRoutes()
	s.registerPushRuleRoutes()
	s.registerPusherRoutes()
	s.registerNotificationRoutes()
	s.registerReceiptRoutes()
	s.registerTypingRoutes()
	s.registerPresenceRoutes()
	s.registerAppServiceRoutes()
	s.registerShellRoutes()
	return s, nil
}

// ServeHTTP applies CORS and hands the request to the routes; a path no
// route knows gets M_UNRECOGNIZED.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setCORS(w.Header())
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rewriteR0(r)
	s.mux.ServeHTTP(w, r)
}

// setCORS sets the headers the client-server API spec asks for on every
// response, so browser clients on other origins can call it.
func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization")
}

// rewriteR0 serves the r0 paths of older clients (matrix-nio 0.20 knows only
// r0) by the v3 handlers, as Synapse does.
func rewriteR0(r *http.Request) {
	for _, prefix := range [...]string{"/_matrix/client/r0/", "/_matrix/media/r0/"} {
		if rest, ok := strings.CutPrefix(r.URL.Path, prefix); ok {
			r.URL.Path = prefix[:len(prefix)-3] + "v3/" + rest
			if r.URL.RawPath != "" {
				if raw, ok := strings.CutPrefix(r.URL.RawPath, prefix); ok {
					r.URL.RawPath = prefix[:len(prefix)-3] + "v3/" + raw
				}
			}
			return
		}
	}
}
