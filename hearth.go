// Package hearth wires a whole homeserver together: package services opens
// the database and builds every service once; hearth puts the HTTP surfaces
// (the client-server API, federation, the server keys) on them and returns
// the handler. cmd/hearth serves it on
// a socket; the browser build (wasm/) and apps that embed hearth call Open
// and use the handler directly.
//
// Importing the package registers the "sqlite3" database/sql driver (through
// storage).
package hearth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"hearth.dev/hearth/appservice"
	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientapi"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/federation"
	"hearth.dev/hearth/metrics"
	"hearth.dev/hearth/modules"
	"hearth.dev/hearth/relay"
	"hearth.dev/hearth/services"
	"hearth.dev/hearth/storage"
	"hearth.dev/hearth/web"
)

// Version is hearth's release version.
const Version = "0.1.0-dev"

// Homeserver is a running hearth.
//
// Apps that embed hearth use its handlers (Handler on a listener of their
// choosing, Federation on another), Export and Size for the database, and
// Close; the database itself stays inside.
type Homeserver struct {
	Config     Config
	ServerName string
	Handler    http.Handler
	// Federation is the server-server API's handler, for the federation
	// listener (or a relay's socket).
	Federation http.Handler
	// Metrics holds the Prometheus metrics when metrics.listen is set
	// (nil otherwise); `hearth serve` serves it on that address.
	Metrics *metrics.Registry
	// FederationClient sends this server's signed requests to others.
	FederationClient *federation.Client
	StartedAt        time.Time
	// SetupToken is the one-time registration token that makes the first
	// owner while the database has no account ("" once one exists).
	SetupToken string

	db       *storage.DB
	updates  *storage.BackgroundUpdates // the database's background updates
	services *services.Graph
	sender   *federation.Sender
	// appServices pushes events to the application services.
	appServices *appservice.Sender
	stopUpdates func()
	// stopCompression ends the background state compression, if running.
	stopCompression func()
	// stopPushPruning ends the pruning of read notifications.
	stopPushPruning func()
	// relay is the node's relay client (relay.url), nil without one.
	relay     *relay.Client
	stopRelay func()
	lock      dataDirLock
	// modules are the loaded WebAssembly modules (nil without any).
	modules *modules.Host
	log     *slog.Logger
	// bgMu orders StartBackground against Close.
	bgMu      sync.Mutex
	bgStarted bool // +checklocks:bgMu
	closed    bool // +checklocks:bgMu
}

// OpenOptions adjust Open for hosts that are not the native binary.
type OpenOptions struct {
	// VFS names the SQLite VFS holding the database (the browser's OPFS or
	// IndexedDB VFS). Empty uses the operating system's files.
	VFS    string
	Logger *slog.Logger
	// FederationTransport carries outbound federation requests (addressed
	// to matrix-federation://<server name>/...); nil uses direct HTTPS
	// with server discovery.
	FederationTransport http.RoundTripper
	// DeferBackground leaves the work no request waits for (background
	// updates, the federation and application service senders, the relay
	// connection) stopped until StartBackground: the browser host, where
	// all of it shares one thread with the requests, answers its first
	// request sooner.
	DeferBackground bool
	// SchemaImage, when set, is the schema image the build makes
	// (storage.SchemaImage): a new database starts as a copy of it instead
	// of running every CREATE and delta (the browser host's first visit).
	SchemaImage []byte
	// PasswordParams sets the cost of password hashing (zero: storage's
	// defaults). Only a homeserver no one logs into with a real password
	// may lower it (the browser host's throwaway warm-up homeserver).
	PasswordParams storage.PasswordParams
}

// Open opens (creating if needed) the homeserver described by cfg.
//
// A homeserver on the operating system's files holds its data folder
// locked (the file LockFileName in it) until Close: a second Open of the
// same folder, in this process or another, returns an error wrapping
// ErrDataDirInUse that names the lock file and the holder's process ID.
func Open(ctx context.Context, cfg Config, oo OpenOptions) (_ *Homeserver, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	var lock dataDirLock = noLock{}
	if oo.VFS == "" {
		if lock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				lock.release()
			}
		}()
	}
	trustedProxies, err := cfg.TrustedProxies.Prefixes() // checked by Validate
	if err != nil {
		return nil, err
	}
	turn, err := cfg.TURN() // checked by Validate
	if err != nil {
		return nil, err
	}
	// The service graph: the database and every service on it. Its
	// notifier wakes /sync: storage signals it after every commit that
	// advances a stream, the typing service when typing changes.
	backfill := &remoteBackfill{}
	// The modules first: a bad one refuses the start before the database
	// is touched.
	modState := &moduleState{}
	mods, err := loadModules(ctx, cfg, oo, modState)
	if err != nil {
		return nil, err
	}
	var modCallbacks core.Modules
	if mods != nil {
		modCallbacks = mods
		defer func() {
			if err != nil {
				mods.Close(context.Background())
			}
		}()
	}
	g, err := services.Open(ctx, services.Config{
		Storage: storage.Options{
			Path:            cfg.DatabasePath(),
			StatePath:       cfg.StatePath(),
			SynchronousFull: cfg.Database.Synchronous == "full",
			VFS:             oo.VFS,
			Logger:          oo.Logger,
			CacheBudget:     cfg.Memory.CacheBudget(),
			Image:           oo.SchemaImage,
		},
		Client: clientapi.Settings{ServerName: cfg.ServerName, Version: Version,
			Registration: cfg.Registration, RateLimits: cfg.RateLimits == "on", TrustedProxies: trustedProxies,
			PublicBaseURL:  cfg.PublicBaseURL,
			MaxUploadBytes: cfg.MaxUploadBytes(), LegacyMediaDownload: cfg.LegacyMediaDownload(),
			RegistrationSharedSecret: cfg.RegistrationSharedSecret, TURN: turn},
		DefaultServerName:    DefaultServerName,
		MaxCreateRoomInvites: cfg.MaxCreateRoomInvites(),
		Backfill:             backfill,
		Logger:               oo.Logger,
		Modules:              modCallbacks,
		Password:             oo.PasswordParams,
	})
	if err != nil {
		return nil, err
	}
	modState.events = g.Events
	name, db, key := g.ServerName, g.DB, g.Key
	cfg.ServerName = name
	// Application services are checked against the server's name: one
	// error per bad registration file stops the start.
	appServices, err := appservice.LoadFiles(name, cfg.AppServices.Paths())
	if err != nil {
		g.CloseAll()
		return nil, err
	}
	if g.SetupToken != "" {
		log := oo.Logger
		if log == nil {
			log = slog.Default()
		}
		log.Warn("no account exists yet: register the first owner with this one-time setup token "+
			"(as m.login.registration_token), or run `hearth user create`", "setup_token", g.SetupToken)
	}
	hs := &Homeserver{Config: cfg, ServerName: name, db: db, StartedAt: start,
		SetupToken: g.SetupToken, services: g, lock: lock, modules: mods}
	// Local media reaches other servers through the client API's media
	// code, which exists once the client server is built below.
	media := &lateMedia{}
	// Events, and typing, receipts and presence of local and remote users,
	// go to the application services interested in them.
	hs.appServices = appservice.NewSender(appservice.SenderOptions{Services: appServices,
		Store: storage.NewAppServiceQueueStore(db), Notifier: g.Notifier, Logger: oo.Logger})
	g.Typing.OnExpire(hs.appServices.TypingExpired)
	appServiceRequests := appservice.NewRequester()
	// Other servers' alias queries ask the services too.
	resolveAlias := appservice.AliasResolver{Resolve: g.Rooms.ResolveAlias, Services: appServices,
		Requests: appServiceRequests, Logger: oo.Logger}.ResolveAlias
	keyServer, remote, err := hs.openFederation(cfg, oo, key, g.Rooms, g.Events, g.Notifier, federation.EDUServices{
		Typing:   appservice.TypingOut{TypingStore: g.Typing, Sender: hs.appServices, Users: g.Typing.Typing},
		Receipts: appservice.ReceiptsOut{ReceiptStore: g.Receipts, Sender: hs.appServices},
		Presence: appservice.PresenceOut{PresenceStore: g.Presence, Sender: hs.appServices, Rooms: g.Rooms.JoinedRooms, Now: time.Now},
		ToDevice: g.ToDevice, IsJoined: g.Client.IsJoined, DeviceLists: g.Keys, PresenceActivity: g.Presence,
	}, federation.MessagingOptions{
		ServerName: name, Accounts: g.Accounts, Profiles: g.Profiles,
		ResolveAlias: resolveAlias, PublicRooms: g.Rooms.PublicRooms, Hierarchy: g.Rooms.HierarchyForServer,
		Devices: g.Accounts, DeviceKeys: g.Keys, CrossSigning: g.Keys, DeviceLists: g.Keys,
		Media: media, OpenID: g.Accounts,
	})
	if err != nil {
		g.CloseAll()
		return nil, err
	}
	backfill.f = remote
	// The client-server API: the graph's services, and joins of rooms on
	// other servers through federation.
	// A local user's typing and read receipts go to the other servers in
	// the room as EDUs.
	clientServices := g.Client
	clientServices.AppServices = appServices
	clientServices.Typing = federation.TypingOut{TypingStore: g.Client.Typing, Sender: hs.sender, Servers: remote.ServersInRoom}
	clientServices.Receipts = federation.ReceiptsOut{ReceiptStore: g.Client.Receipts, Sender: hs.sender, Servers: remote.ServersInRoom}
	clientServices.Typing = appservice.TypingOut{TypingStore: clientServices.Typing, Sender: hs.appServices, Users: g.Typing.Typing}
	clientServices.Receipts = appservice.ReceiptsOut{ReceiptStore: clientServices.Receipts, Sender: hs.appServices}
	clientServices.Presence = appservice.PresenceOut{PresenceStore: clientServices.Presence, Sender: hs.appServices,
		Rooms: g.Rooms.JoinedRooms, Now: time.Now}
	// To-device messages for users of other servers go to their servers.
	// (Changes of local devices go out as m.device_list_update EDUs from
	// the federation sender, which reads them from the database.)
	clientServices.ToDevice = federation.ToDeviceOut{ToDeviceStore: g.Client.ToDevice, Sender: hs.sender, ServerName: name}
	previews, err := newURLPreviews(&cfg, name, g.Client.Media, oo.Logger)
	if err != nil {
		hs.sender.Close()
		g.CloseAll()
		return nil, err
	}
	mediaLog := oo.Logger
	if mediaLog == nil {
		mediaLog = slog.Default()
	}
	remoteMedia := &cachedRemoteMedia{fetch: hs.FederationClient, store: storage.NewRemoteMediaCacheStore(hs.db),
		maxBytes: cfg.RemoteMediaCacheMaxBytes(), log: mediaLog}
	client, err := web.NewServer(web.Options{Services: clientServices, RemoteRooms: remote,
		RemoteKeys: core.RemoteKeys{Client: hs.FederationClient, Cache: storage.NewRemoteDeviceKeysStore(hs.db)}, RemoteMedia: remoteMedia,
		URLPreviews: previews, AppServiceRequests: appServiceRequests})
	if err != nil {
		hs.sender.Close()
		g.CloseAll()
		return nil, err
	}
	hs.Handler = client
	media.srv = client
	// Server keys are published beside the client-server API too.
	mux := http.NewServeMux()
	mux.Handle("/_matrix/key/", keyServer)
	mux.HandleFunc("GET /.well-known/matrix/server", wellKnownServer(cfg.WellKnownServer()))
	mux.Handle("/", hs.Handler)
	hs.Handler = mux
	if cfg.Metrics.Listen != "" {
		hs.startMetrics(client, oo.Logger)
	}
	hs.updates = storage.NewBackgroundUpdates(hs.db)
	hs.log = oo.Logger
	if !oo.DeferBackground {
		hs.StartBackground()
	}
	return hs, nil
}

// syncWaiterCounter is what the metrics read of the client API.
type syncWaiterCounter interface{ SyncWaiters() int64 }

// StartBackground starts the background work that Open left stopped when
// OpenOptions.DeferBackground was set. Calling it again, or after Close,
// does nothing.
func (hs *Homeserver) StartBackground() {
	hs.bgMu.Lock()
	defer hs.bgMu.Unlock()
	if hs.bgStarted || hs.closed {
		return
	}
	hs.bgStarted = true
	hs.startBackgroundUpdates(hs.log)
	hs.startStateCompression(hs.Config.StateCompression, hs.services.Events, hs.log)
	hs.startPushActionPruning(hs.log)
	hs.sender.Start()
	hs.appServices.Start()
	hs.startRelay()
}

// remoteBackfill hands /messages' backfills to the PDU layer, which is
// built after the services (its key ring and client need their database);
// Open sets f before anything is served.
type remoteBackfill struct{ f *room.Federation }

func (b *remoteBackfill) Backfill(ctx context.Context, roomID string, limit int) (int, error) {
	if b.f == nil {
		return 0, nil
	}
	return b.f.Backfill(ctx, roomID, limit)
}

// lateMedia serves local media to federation through the client server,
// built after the federation server.
type lateMedia struct{ srv *web.Server }

func (l *lateMedia) ServeLocalMedia(w http.ResponseWriter, r *http.Request, mediaID string, thumbnail bool) error {
	if l.srv == nil {
		return core.ErrNotFound.WithMessage("Unknown media")
	}
	return l.srv.ServeLocalMedia(w, r, mediaID, thumbnail)
}

// openFederation builds the server-server side: the outbound client and
// its transport, the key ring, and the inbound handler. It returns the key
// server, which the client-facing listener serves as well.
func (hs *Homeserver) openFederation(cfg Config, oo OpenOptions, key signing.Key, rooms *room.Pipeline, timestamps room.TimestampStore, notifier *core.Notifier, edus federation.EDUServices, mo federation.MessagingOptions) (http.Handler, *room.Federation, error) {
	log := oo.Logger
	if log == nil {
		log = slog.Default()
	}
	transport := oo.FederationTransport
	if cfg.Relay.URL != "" {
		rc, err := hs.newRelayClient(cfg, key, log)
		if err != nil {
			return nil, nil, err
		}
		hs.relay = rc
		if cfg.Relay.Outbound == "on" && transport == nil {
			transport = rc
		}
	}
	if transport == nil {
		t, err := newDirectTransport(&cfg, log)
		if err != nil {
			return nil, nil, err
		}
		transport = t
	}
	hs.FederationClient = &federation.Client{ServerName: hs.ServerName, Key: key, Transport: transport}
	remoteKeys := storage.NewRemoteServerKeyStore(hs.db)
	ring := federation.NewKeyRing(federation.KeyRingOptions{
		ServerName: hs.ServerName, Key: key, Store: remoteKeys, Client: hs.FederationClient,
		Notaries: cfg.Federation.KeyServers(), Logger: log,
	})
	keyServer := federation.NewKeyServer(federation.KeyServerOptions{ServerName: hs.ServerName, Key: key, Ring: ring, Store: remoteKeys})
	// The PDU layer: received events go through the room pipeline.
	pdus, err := room.NewFederation(rooms, room.FederationConfig{Keys: ring, Client: hs.FederationClient, Timestamps: timestamps, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	// The outbound sender: local events queued per destination in the
	// database, woken by every commit; a server that reaches us is retried
	// at once.
	backoff, err := cfg.Federation.Backoff() // checked by Validate
	if err != nil {
		return nil, nil, err
	}
	sender, err := federation.NewSender(federation.SenderOptions{
		ServerName: hs.ServerName, Store: storage.NewFederationQueueStore(hs.db), Client: hs.FederationClient,
		Notifier: notifier, Logger: log,
		MinBackoff: backoff.Min, MaxBackoff: backoff.Max, CatchUpAfter: backoff.CatchUpAfter,
	})
	if err != nil {
		return nil, nil, err
	}
	hs.sender = sender
	mo.Memberships, mo.Invites, mo.ServersInRoom = pdus, pdus, pdus.ServersInRoom
	mo.ThirdPartyInvites = pdus
	fed, err := federation.NewServer(federation.ServerOptions{
		OriginSeen: sender.DestinationUp, PDUServe: pdus,
		ServerName: hs.ServerName, Version: Version, KeyRing: ring, Keys: keyServer,
		Txns: storage.NewFederationTxnStore(hs.db), PDUs: pdus, EDUs: edus, Logger: log,
		Messaging: federation.NewMessaging(mo),
	})
	if err != nil {
		return nil, nil, err
	}
	hs.Federation = fed
	return keyServer, pdus, nil
}

// startBackgroundUpdates runs pending background updates (seed 000) while
// the server serves; Close stops them between batches, and the next start
// resumes them from their saved progress.
func (hs *Homeserver) startBackgroundUpdates(log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	hs.stopUpdates = func() { cancel(); <-done }
	go func() {
		defer close(done)
		if err := hs.updates.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("background updates stopped", "err", err)
		}
	}()
}

// Export writes a consistent single-file copy of the homeserver's database
// to w while it keeps serving (the state file, if separate, merged in).
// The copy opens with `hearth db import` natively or the browser host's
// import.
func (hs *Homeserver) Export(ctx context.Context, w io.Writer) error {
	return hs.db.Export(ctx, w)
}

// Size is the database's size in bytes (pages in use, both files).
func (hs *Homeserver) Size(ctx context.Context) (int64, error) {
	return hs.db.Size(ctx)
}

// Close stops the homeserver's background work and closes the database.
func (hs *Homeserver) Close() error {
	hs.bgMu.Lock()
	hs.closed = true
	hs.bgMu.Unlock()
	if hs.stopRelay != nil {
		hs.stopRelay()
	}
	if hs.stopUpdates != nil {
		hs.stopUpdates()
	}
	if hs.stopCompression != nil {
		hs.stopCompression()
	}
	if hs.stopPushPruning != nil {
		hs.stopPushPruning()
	}
	if hs.sender != nil {
		hs.sender.Close()
	}
	if hs.appServices != nil {
		hs.appServices.Close()
	}
	err := hs.services.CloseAll()
	err = errors.Join(err, hs.modules.Close(context.Background()))
	if hs.lock != nil {
		err = errors.Join(err, hs.lock.release())
	}
	return err
}
