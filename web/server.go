// Package web is hearth's client-facing HTTP surface: the Matrix
// client-server API under /_matrix/client, media, .well-known, and the Matrix
// error writer every handler leaves through. It reaches storage only
// through interfaces that core declares; cmd/hearth and wasm wire it.
//
// Importing the package has no side effects.
package web

import (
	"net/http"
	"strings"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
	"hearth.dev/hearth/core/room"
)

// Options configure a Server.
type Options struct {
	// ServerName is the homeserver's name (the part after ':' in user IDs).
	ServerName string
	// Version is hearth's version string, shown by /versions' server info
	// and the admin API.
	Version string
	// Now is the clock; nil uses time.Now.
	Now func() time.Time

	// Sessions resolves access tokens for authenticated endpoints.
	Sessions core.SessionStore
	// Accounts, Devices, Tokens and RegistrationTokens keep local accounts,
	// their devices and tokens (storage.AccountStore implements all of them
	// and Sessions).
	Accounts           core.AccountStore
	Devices            core.DeviceStore
	Tokens             core.TokenStore
	RegistrationTokens core.RegistrationTokenStore
	// Registration says who may register: "closed" (also when empty),
	// "token" or "open".
	Registration string
	// RateLimits turns rate limiting on (see ratelimit.go).
	RateLimits bool
	// PublicBaseURL is the client-server API's public base URL, given by
	// /.well-known/matrix/client; empty derives it from each request.
	PublicBaseURL string
	// Notifier wakes waiting /sync requests. Handlers never call Notify:
	// storage does after each commit that advances a stream (and the typing
	// service when typing changes).
	Notifier *core.Notifier
	// Rooms is the room event pipeline: room creation, memberships, sending
	// events, state, aliases and the room directory. Its routes are served
	// only when set.
	Rooms *room.Pipeline
	// RemoteRooms joins rooms and resolves aliases on other servers
	// (federation); nil answers such joins with M_NOT_FOUND.
	RemoteRooms RemoteRooms

	// Media keeps the content repository (storage.MediaStore); its routes
	// are served only when set.
	Media core.MediaStore
	// MaxUploadBytes bounds uploads (DefaultMaxUploadBytes when 0).
	MaxUploadBytes int64
	// LegacyMediaDownload lets the deprecated unauthenticated download and
	// thumbnail endpoints serve all local media. When false they are frozen
	// (client-server API 1.11): only media uploaded while it was true is
	// served there.
	LegacyMediaDownload bool

	// DeviceKeys, CrossSigning and DeviceLists keep end-to-end encryption
	// keys and the device list stream (storage.KeyStore implements all
	// three); ToDevice queues to-device messages; KeyBackups keeps
	// server-side key backups. Their routes are served only when set.
	DeviceKeys   core.DeviceKeyStore
	CrossSigning core.CrossSigningStore
	DeviceLists  core.DeviceListStore
	ToDevice     core.ToDeviceStore
	KeyBackups   core.KeyBackupStore
	// DeviceListPosition reads the device list stream position out of a
	// /sync token, for GET /keys/changes; nil reads a token as a decimal
	// position.
	DeviceListPosition func(syncToken string) (int64, error)

	// Profiles keeps local users' profiles (storage.ProfileStore); its
	// routes are served only when set. After a user's display name or
	// avatar URL changed (client profile API or admin user API alike),
	// OnProfileChange (the room pipeline's ProfileChanged) updates their
	// m.room.member events.
	Profiles        core.ProfileStore
	OnProfileChange core.ProfileChangeFunc
	// AccountData keeps account data and room tags
	// (storage.AccountDataStore); PushRules, Pushers and Notifications keep
	// push rules, pushers and notifications (storage.PushRuleStore,
	// PusherStore, NotificationStore); NotificationEvents formats the events
	// GET /notifications lists (served only when both are set). Receipts
	// keeps read receipts and markers (storage.ReceiptStore), Typing who is
	// typing (typing.Tracker), Presence users' presence
	// (storage.PresenceStore). Each area's routes are served only when its
	// store is set.
	AccountData        core.AccountDataStore
	PushRules          core.PushRuleStore
	Pushers            core.PusherStore
	Notifications      core.NotificationStore
	NotificationEvents core.ClientEventsFunc
	Receipts           core.ReceiptStore
	Typing             core.TypingStore
	Presence           core.PresenceStore
	// IsJoined tells whether a user is joined to a room
	// (core.IsJoinedIn(eventStore)); receipts, read markers and typing need
	// it and answer M_FORBIDDEN without it.
	IsJoined core.JoinedFunc

	// Sync is what /sync, the filter API and the timeline reads (/messages,
	// /context, /relations, /threads, /search, /timestamp_to_event) read
	// beyond Rooms, DeviceKeys, DeviceLists and ToDevice (taken from the
	// fields above when unset here): storage.EventStore provides the event
	// stores, relations, search and timestamps, storage.FilterStore the
	// filters. Their routes are served only when Rooms and the event stores
	// are set.
	Sync clientsync.Stores

	// AdminRooms is what the admin room API reads and changes beyond Rooms
	// (storage.AdminRoomStore); its routes are served only when it and
	// Rooms are set.
	AdminRooms core.AdminRoomStore
	// UserDirectory lists who the user directory may show
	// (storage.UserDirectoryStore); its route is served only when set.
	UserDirectory core.UserDirectoryStore
}

// Server answers the client-server API.
type Server struct {
	opts Options
	mux  *http.ServeMux
	repo mediaState // the content repository (media.go)
	acct accountState
	// timeline answers /sync and the timeline reads (sync.go).
	timeline *clientsync.Service
	// deletes are the admin API's room deletes (admin_rooms_delete.go).
	deletes roomDeletes
}

// NewServer builds the handler tree.
func NewServer(o Options) *Server {
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
	s.registerAdminUserRoutes()
	s.registerAdminRoomRoutes()
	s.registerUserDirectoryRoutes()
	s.registerProfileRoutes()
	s.registerAccountDataRoutes()
	s.registerPushRuleRoutes()
	s.registerPusherRoutes()
	s.registerNotificationRoutes()
	s.registerReceiptRoutes()
	s.registerTypingRoutes()
	s.registerPresenceRoutes()
	s.registerShellRoutes()
	return s
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
