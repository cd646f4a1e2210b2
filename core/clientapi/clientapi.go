// Package clientapi names what the client-server API is served from: its
// settings and the services it calls, grouped by area. The composition
// root (package services, called by hearth.Open and by the tests through
// internal/hearthtest) builds one Services value; web.NewServer serves it
// and refuses one with a service missing.
//
// The package holds types only. Importing it has no side effects.
package clientapi

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/adminroom"
	"hearth.dev/hearth/core/appservice"
	"hearth.dev/hearth/core/clientsync"
	"hearth.dev/hearth/core/e2ee"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/core/slidingsync"
)

// Services is everything the client-server API needs. The areas are
// embedded, so a service is reached by its own name (svc.Rooms,
// svc.Devices).
type Services struct {
	Settings
	AccountServices
	RoomServices
	SyncServices
	MediaServices
	KeyServices
	PersonalServices
	AdminServices
	// Reads opens the read scopes of read-only requests (their reads share
	// one read transaction); nil reads as without scopes.
	Reads core.ReadScopes
}

// Settings are plain values taken from the configuration.
type Settings struct {
	// ServerName is the homeserver's name (the part after ':' in user IDs).
	ServerName string
	// Version is hearth's version string, shown by /versions' server info
	// and the admin API.
	Version string
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// Registration says who may register: "closed" (also when empty),
	// "token" or "open".
	Registration string
	// RateLimits turns rate limiting on.
	RateLimits bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// gives the client's address (for rate limits and devices' last seen
	// address); from any other peer the header is ignored.
	TrustedProxies []netip.Prefix
	// PublicBaseURL is the client-server API's public base URL, given by
	// /.well-known/matrix/client; empty derives it from each request.
	PublicBaseURL string
	// MaxUploadBytes bounds uploads (the media default when 0).
	MaxUploadBytes int64
	// LegacyMediaDownload lets the deprecated unauthenticated download and
	// thumbnail endpoints serve all local media. When false they are frozen
	// (client-server API 1.11): only media uploaded while it was true is
	// served there.
	LegacyMediaDownload bool
	// AppServices are the registered application services (nil: none).
	AppServices *appservice.Set
	// RegistrationSharedSecret, when set, enables
	// /_synapse/admin/v1/register: registration authorised by an
	// HMAC-SHA1 of a nonce under this secret (Synapse's
	// registration_shared_secret).
	RegistrationSharedSecret string
	// TURN is what GET /voip/turnServer hands out; zero answers {}.
	TURN TURNSettings
}

// TURNSettings configure the TURN servers clients use for VoIP, with
// time-limited credentials (the TURN REST API Synapse implements): the
// username is "expiry:user_id" and the password the base64 HMAC-SHA1 of
// the username under SharedSecret.
type TURNSettings struct {
	// URIs are the turn: and turns: URIs of the servers.
	URIs []string
	// SharedSecret is shared with the TURN server.
	SharedSecret string
	// UserLifetime is how long credentials stay valid (Synapse: one hour
	// when zero).
	UserLifetime time.Duration
}

// AccountServices keep local accounts, their devices and tokens
// (storage.AccountStore implements all of them).
type AccountServices struct {
	// Sessions resolves access tokens for authenticated endpoints.
	Sessions           core.SessionStore
	Accounts           core.AccountStore
	Devices            core.DeviceStore
	Tokens             core.TokenStore
	RegistrationTokens core.RegistrationTokenStore
	// OpenID issues the OpenID tokens of /user/{userId}/openid/request_token.
	OpenID core.OpenIDTokenStore
	// Modules check registrations and the extra login types, and are
	// listed by the admin API (core.NoModules without modules).
	Modules core.Modules
}

// RoomServices are the room event pipeline (room creation, memberships,
// sending events, state, aliases, the room directory) and the membership
// check receipts, read markers and typing need.
type RoomServices struct {
	Rooms    *room.Pipeline
	IsJoined core.JoinedFunc
}

// SyncServices answer /sync and the timeline reads (/messages, /context,
// /relations, /threads, /search, /timestamp_to_event, filters); Notifier
// wakes waiting /sync requests after a write they may see commits.
type SyncServices struct {
	Timeline *clientsync.Service
	Notifier *core.Notifier
	// Sliding answers simplified sliding sync (MSC4186) from the same
	// stores as Timeline.
	Sliding *slidingsync.Service
}

// MediaServices keep the content repository.
type MediaServices struct {
	Media core.MediaStore
}

// KeyServices keep end-to-end encryption keys and the device list stream
// (storage.KeyStore implements the first three), to-device messages and
// server-side key backups; CrossSigner checks and stores uploaded
// cross-signing keys and signatures (e2ee.CrossSigning).
type KeyServices struct {
	DeviceKeys   core.DeviceKeyStore
	CrossSigning core.CrossSigningStore
	DeviceLists  core.DeviceListStore
	ToDevice     core.ToDeviceStore
	KeyBackups   core.KeyBackupStore
	CrossSigner  *e2ee.CrossSigning
}

// PersonalServices keep a user's own data: profiles (and, after a display
// name or avatar change, the update of their member events), account data
// and tags, push rules, pushers, notifications, read receipts, typing and
// presence.
type PersonalServices struct {
	Profiles       core.ProfileStore
	ProfileUpdates *core.ProfileService
	AccountData    core.AccountDataStore
	PushRules      core.PushRuleStore
	Pushers        core.PusherStore
	Notifications  core.NotificationStore
	Receipts       core.ReceiptStore
	Typing         core.TypingStore
	Presence       core.PresenceStore
}

// AdminServices are what the admin room API reads and changes beyond
// Rooms, the room deletes it runs (adminroom.Service), and the user
// directory.
type AdminServices struct {
	AdminRooms    core.AdminRoomStore
	RoomDeletes   *adminroom.Service
	UserDirectory core.UserDirectoryStore
}

// Check returns an error naming every service that is missing (nil).
// Settings may be left zero.
func (s *Services) Check() error {
	var missing []error
	for _, area := range []any{s.AccountServices, s.RoomServices, s.SyncServices, s.MediaServices,
		s.KeyServices, s.PersonalServices, s.AdminServices} {
		v := reflect.ValueOf(area)
		for i := range v.NumField() {
			if v.Field(i).IsNil() {
				missing = append(missing, fmt.Errorf("clientapi: %s.%s is missing", v.Type().Name(), v.Type().Field(i).Name))
			}
		}
	}
	return errors.Join(missing...)
}
