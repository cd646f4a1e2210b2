// Package services is hearth's composition root below the HTTP surfaces: it
// opens the database and builds every service once — accounts, the room
// pipeline with push on its persisting path, /sync and the timeline reads,
// media, keys, personal data, the admin stores — and hands them out grouped
// as the surfaces take them (clientapi.Services for web). hearth.Open puts
// the surfaces on top; internal/hearthtest builds the same graph for tests.
//
// It imports neither web nor federation, so the tests of both can use it.
// Importing it registers the "sqlite3" database/sql driver (through
// storage).
package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/adminroom"
	"hearth.dev/hearth/core/clientapi"
	"hearth.dev/hearth/core/clientsync"
	"hearth.dev/hearth/core/e2ee"
	"hearth.dev/hearth/core/push"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/core/slidingsync"
	"hearth.dev/hearth/core/typing"
	"hearth.dev/hearth/pushgateway"
	"hearth.dev/hearth/storage"
)

// Config describes the homeserver to build.
type Config struct {
	// Storage opens the database; its StreamAdvanced is set by Open (to
	// wake waiting /sync requests) and must be left nil.
	Storage storage.Options
	// Client are the client-server API's settings. Client.ServerName is
	// the name to claim: empty takes the one stored in the database, or
	// DefaultServerName for a new database; a different one than stored is
	// an error wrapping storage.ErrRenamed. Client.Now is the clock of
	// every service but the room pipeline (nil: time.Now).
	Client            clientapi.Settings
	DefaultServerName string
	// MaxCreateRoomInvites bounds the invite list of one createRoom (0:
	// room.DefaultMaxCreateRoomInvites).
	MaxCreateRoomInvites int
	// Password sets the cost of password hashing (zero: storage's
	// defaults; tests choose cheap ones).
	Password storage.PasswordParams
	// Backfill, when set, fetches history from other servers when
	// /messages reaches the oldest event the server has.
	Backfill clientsync.Backfiller
	// Logger logs the services' background work (nil: slog.Default()).
	Logger *slog.Logger
	// Modules are the server's extension modules (nil: none): the room
	// pipeline asks them about events, invites, joins and new rooms, the
	// client API about registrations and logins, and they see every event
	// after its commit.
	Modules core.Modules
}

// Graph is a built homeserver without its HTTP surfaces. The exported
// stores are the ones the services were built on, for the root's
// embedding API, the CLI and tests; the surfaces take Client.
type Graph struct {
	DB         *storage.DB
	ServerName string
	Key        signing.Key
	// SetupToken is the one-time registration token that makes the first
	// owner while the database has no account ("" once one exists).
	SetupToken string

	Notifier      *core.Notifier
	Accounts      *storage.AccountStore
	Events        *storage.EventStore
	Keys          *storage.KeyStore
	ToDevice      *storage.ToDeviceStore
	Media         *storage.MediaStore
	Profiles      *storage.ProfileStore
	AccountData   *storage.AccountDataStore
	PushRules     *storage.PushRuleStore
	Pushers       *storage.PusherStore
	Notifications *storage.NotificationStore
	Receipts      *storage.ReceiptStore
	Presence      *storage.PresenceStore
	Typing        *typing.Tracker
	Push          *push.Service
	Rooms         *room.Pipeline
	Timeline      *clientsync.Service
	Sliding       *slidingsync.Service
	// RoomDeletes runs the admin API's room deletes.
	RoomDeletes *adminroom.Service

	// Client is what the client-server API is served from.
	Client clientapi.Services

	dispatcher *pushgateway.Dispatcher
}

// Open opens (creating if needed) the database cfg.Storage describes and
// builds every service on it. Close releases them and the database.
func Open(ctx context.Context, cfg Config) (*Graph, error) {
	if cfg.Storage.StreamAdvanced != nil {
		return nil, errors.New("services: Storage.StreamAdvanced is set by Open")
	}
	notifier := &core.Notifier{}
	so := cfg.Storage
	so.StreamAdvanced = notifier.Notify
	db, err := storage.Open(ctx, so)
	if err != nil {
		return nil, err
	}
	g, err := build(ctx, db, notifier, cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	return g, nil
}

// build makes the services on an open database.
func build(ctx context.Context, db *storage.DB, notifier *core.Notifier, cfg Config) (*Graph, error) {
	name, err := claimServerName(ctx, db, cfg.Client.ServerName, cfg.DefaultServerName)
	if err != nil {
		if errors.Is(err, storage.ErrRenamed) {
			return nil, fmt.Errorf("%s: %w (a homeserver cannot be renamed)", cfg.Storage.Path, err)
		}
		return nil, err
	}
	now := cfg.Client.Now
	if now == nil {
		now = time.Now
	}
	g := &Graph{DB: db, ServerName: name, Notifier: notifier}
	g.Accounts = storage.NewAccountStore(db, storage.AccountOptions{Password: cfg.Password, Now: now})
	if prepareRegistration(cfg) {
		if g.SetupToken, err = g.Accounts.Start(ctx); err != nil {
			return nil, err
		}
	}
	if g.Key, err = db.ServerSigningKey(ctx); err != nil {
		return nil, err
	}
	g.Events = storage.NewEventStore(db)
	events := g.Events
	// Personal data: profiles, account data, push rules, notifications
	// (every live event persisted goes through the push rules of the room's
	// local members, then to their push gateways), receipts, typing and
	// presence.
	g.Profiles = storage.NewProfileStore(db)
	g.AccountData = storage.NewAccountDataStore(db)
	g.PushRules = storage.NewPushRuleStore(db)
	g.Pushers = storage.NewPusherStore(db)
	g.Notifications = storage.NewNotificationStore(db)
	g.Receipts = storage.NewReceiptStore(db)
	g.Presence = storage.NewPresenceStore(db)
	g.Presence.Now = now
	g.Typing = typing.New(now, notifier.Notify)
	if g.dispatcher, err = pushgateway.New(pushgateway.Options{Notifications: g.Notifications, Pushers: g.Pushers, Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	// The event-persisting path: every live event stored (by the room
	// pipeline, and by federation) runs the push rules before it is
	// stored; its notifications are recorded in its own write and go to
	// the push gateways after commit.
	if g.Push, err = push.NewService(push.Config{ServerName: name, State: core.PushState(events, events, events),
		Rules: g.PushRules, Deliverer: g.dispatcher}); err != nil {
		g.Close()
		return nil, err
	}
	// The room pipeline keeps the real clock even when Client.Now is a
	// test's: event timestamps must advance (a v12 room ID is the hash of
	// its create event, timestamp included).
	// No Notifier for the pipeline: every event it stores takes a stream
	// id, and storage wakes /sync after the commit (StreamAdvanced).
	// The modules' on_new_event comes after push.
	mods := cfg.Modules
	if mods == nil {
		mods = core.NoModules{}
	}
	persist := &core.HookedEventStore{EventStore: events, Hooks: []core.PersistHook{core.PushHook{Push: g.Push, Rooms: events, State: events, Events: events, Now: now, Logger: cfg.Logger}, mods}}
	if g.Rooms, err = room.New(room.Config{ServerName: name, Key: g.Key, Profiles: g.Profiles,
		MaxCreateRoomInvites: cfg.MaxCreateRoomInvites, Modules: mods, CacheBudget: cfg.Storage.CacheBudget}, room.Stores{
		Events: persist, Timeline: events, State: events, Groups: events, Rooms: events, AuthChains: events,
		Directory: storage.NewDirectoryStore(db),
	}); err != nil {
		g.Close()
		return nil, err
	}
	g.Keys = storage.NewKeyStore(db)
	g.ToDevice = storage.NewToDeviceStore(db)
	g.ToDevice.Now = now
	g.Media = storage.NewMediaStore(db)
	// /sync and the timeline reads.
	if g.Timeline, err = clientsync.New(clientsync.Stores{
		Rooms: g.Rooms, Events: events, Timeline: events, State: events, Groups: events,
		Filters: storage.NewFilterStore(db), Relations: events, Search: events, Timestamps: events, Backfill: cfg.Backfill,
		ToDevice: g.ToDevice, DeviceLists: g.Keys, DeviceKeys: g.Keys,
		AccountData: g.AccountData, Receipts: g.Receipts, Typing: g.Typing, Presence: g.Presence, Notifications: g.Notifications,
	}, now); err != nil {
		g.Close()
		return nil, err
	}
	// Sliding sync (MSC4186) reads what /sync reads.
	if g.Sliding, err = slidingsync.New(g.Timeline, g.AccountData, notifier, now); err != nil {
		g.Close()
		return nil, err
	}
	adminRooms := storage.NewAdminRoomStore(db, name)
	crossSigner, err := e2ee.NewCrossSigning(name, g.Keys, g.Keys)
	if err == nil {
		g.RoomDeletes, err = adminroom.New(adminroom.Config{ServerName: name, Rooms: g.Rooms, Store: adminRooms, Now: now, Logger: cfg.Logger})
	}
	if err != nil {
		g.Close()
		return nil, err
	}
	settings := cfg.Client
	settings.ServerName, settings.Now = name, now
	g.Client = clientapi.Services{
		Settings: settings,
		AccountServices: clientapi.AccountServices{Sessions: g.Accounts, Accounts: g.Accounts, Devices: g.Accounts,
			Tokens: g.Accounts, RegistrationTokens: g.Accounts, OpenID: g.Accounts, Modules: mods},
		// IsJoined lets members only send receipts and typing.
		RoomServices:  clientapi.RoomServices{Rooms: g.Rooms, IsJoined: core.IsJoinedIn(events)},
		SyncServices:  clientapi.SyncServices{Timeline: g.Timeline, Notifier: notifier, Sliding: g.Sliding},
		MediaServices: clientapi.MediaServices{Media: g.Media},
		KeyServices: clientapi.KeyServices{DeviceKeys: g.Keys, CrossSigning: g.Keys, DeviceLists: g.Keys,
			ToDevice: g.ToDevice, KeyBackups: storage.NewKeyBackupStore(db), CrossSigner: crossSigner},
		// A profile change (client or admin API) reaches the user's member
		// events through the room pipeline.
		PersonalServices: clientapi.PersonalServices{Profiles: g.Profiles,
			ProfileUpdates: &core.ProfileService{Store: g.Profiles, Changed: g.Rooms.ProfileChanged, Logger: cfg.Logger},
			AccountData:    g.AccountData, PushRules: g.PushRules, Pushers: g.Pushers, Notifications: g.Notifications,
			Receipts: g.Receipts, Typing: g.Typing, Presence: g.Presence},
		AdminServices: clientapi.AdminServices{AdminRooms: adminRooms, RoomDeletes: g.RoomDeletes,
			UserDirectory: storage.NewUserDirectoryStore(db)},
		Reads: db,
	}
	if err := g.Client.Check(); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// claimServerName returns the database's server name: name, or when it is
// empty the stored one, or def for a new database.
func claimServerName(ctx context.Context, db *storage.DB, name, def string) (string, error) {
	got, err := db.ClaimServerName(ctx, name)
	if errors.Is(err, storage.ErrNoServerName) {
		return db.ClaimServerName(ctx, def)
	}
	return got, err
}

// Close stops the services' background work (admin room deletes, which it
// waits for, and push delivery). It does not close the database: CloseAll
// does both.
func (g *Graph) Close() {
	if g.RoomDeletes != nil {
		g.RoomDeletes.Wait()
	}
	if g.dispatcher != nil {
		g.dispatcher.Close()
		g.dispatcher = nil
	}
}

// CloseAll is Close, then closes the database.
func (g *Graph) CloseAll() error {
	g.Close()
	return g.DB.Close()
}
