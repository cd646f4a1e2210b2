package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime"
	"sync"
	"syscall/js"
	"time"

	"github.com/ncruces/go-sqlite3"

	"hearth.dev/hearth"
	"hearth.dev/hearth/core"
	"hearth.dev/hearth/relay"
	"hearth.dev/hearth/storage"
	"hearth.dev/hearth/wasm/jsvfs"
)

// dataDir is the folder of the database file, /hearth.db, in every
// storage.
const dataDir = "/"

// busyWait bounds how long start waits for a database that another worker
// still holds: a tab that closes or reloads releases its OPFS handle (or
// IndexedDB lock) a moment after the next tab may already be starting.
const busyWait = 15 * time.Second

// busyPoll is how often start tries again meanwhile: the handle of a
// reloaded page's worker is usually free within tens of milliseconds.
const busyPoll = 20 * time.Millisecond

// backgroundDelay is how long after start the background work (background
// updates, federation senders, the relay) starts if no request came first;
// otherwise it starts once the first request is answered.
const backgroundDelay = time.Second

// host is the homeserver of this worker: at most one, started and stopped
// through the bridge.
type host struct {
	log   *slog.Logger
	level *slog.LevelVar

	mu sync.Mutex
	// +checklocks:mu
	hs *hearth.Homeserver
	// +checklocks:mu
	backend backend
	// +checklocks:mu
	startup time.Duration
	// +checklocks:mu
	phases startPhases
	// +checklocks:mu
	inflight map[string]context.CancelFunc
	// served is set once the running homeserver has answered a request.
	// +checklocks:mu
	served bool
	// starting serialises start, stop and import.
	starting sync.Mutex
	// dataDir holds the database file (tests change it).
	dataDir string
	// relayURL and relayToken are the last start's relay (guarded by
	// starting).
	relayURL, relayToken string
	// modules are the last start's modules.
	modules []hearth.ModuleConfig
}

// newHost returns a stopped host that logs to log, at the level that
// start's options set in level.
func newHost(log *slog.Logger, level *slog.LevelVar) *host {
	return &host{log: log, level: level, inflight: map[string]context.CancelFunc{}, dataDir: dataDir}
}

// dbPath is the database file, as hearth.Config.DatabasePath names it.
func (h *host) dbPath() string { return path.Join(h.dataDir, "hearth.db") }

// startOptions are the options of start; see Hearth.start in web/ui/hearth.js.
type startOptions struct {
	ServerName string
	// HasOwner says OwnerName and OwnerPassword were given.
	HasOwner      bool
	OwnerName     string
	OwnerPassword string
	// OwnerPasswordHash, when a promise, settles with the owner's
	// password hashed by storage.HashPassword in the worker script's
	// helper worker (or null), made while this start opens the database.
	OwnerPasswordHash js.Value
	// Storage is "auto" (or ""), "opfs", "indexeddb" or "memory".
	Storage string
	// LogLevel is "debug", "info", "warn" or "error"; empty leaves it.
	LogLevel string
	// RelayURL and RelayToken connect the tab's server to its relay: the
	// tab cannot accept connections, so federation goes both ways through
	// it.
	RelayURL, RelayToken string
	// Modules are the WebAssembly modules to run (on the browser's own
	// engine, a worker per instance: package modules).
	Modules []hearth.ModuleConfig
	// SchemaImage is the build's schema image (storage.SchemaImage),
	// which the worker script fetched while the wasm compiled because this
	// origin had no database yet: a new database starts as a copy of it.
	SchemaImage []byte
}

// startPhases is where a start's time went.
type startPhases struct {
	// Busy is the time spent waiting for another worker to let go of the
	// database.
	Busy time.Duration
	// Open is hearth.Open: the database (probe, migration, connection)
	// and the services.
	Open time.Duration
	// Owner is looking for (and creating) the owner account.
	Owner time.Duration
	// Warm is the SQLite warm-up the worker ran before the start
	// (warmSQLite), which the start did not wait for if it was done.
	Warm time.Duration
	// WarmSteps is how many of its statements the warm-up ran, and
	// AskedAfter how long after the Go program began the page asked for
	// the start (warm_js.go).
	WarmSteps  int
	AskedAfter time.Duration
	// SchemaImageBytes is the size of the schema image a new database
	// was made from (0: none; the migrator ran every statement).
	SchemaImageBytes int
	// OwnerHashedAside says the owner's password was hashed in the
	// worker script's helper worker, while the database opened.
	OwnerHashedAside bool
}

// status is what status() reports.
type status struct {
	Storage       string
	DatabaseBytes int64
	Version       string
	ServerName    string
	StartedAt     time.Time
	Startup       time.Duration
	Phases        startPhases
	// GoHeapBytes and GoSysBytes are the Go runtime's live heap and all the
	// memory it took from the wasm instance.
	GoHeapBytes, GoSysBytes uint64
	// OwnerCreated is the owner's user ID when this start created it.
	OwnerCreated string
	Relay        relay.Status
}

// start opens the database and the homeserver. Starting a running host
// returns its status.
func (h *host) start(ctx context.Context, o startOptions) (status, error) {
	h.starting.Lock()
	defer h.starting.Unlock()
	if st, err := h.status(ctx); err == nil {
		return st, nil
	}
	began := time.Now()
	if o.LogLevel != "" {
		if err := h.level.UnmarshalText([]byte(o.LogLevel)); err != nil {
			return status{}, newCodeError(codeBadOption, "logLevel: %v", err)
		}
	}
	be, err := chooseBackend(o.Storage)
	if err != nil {
		return status{}, err
	}
	var hs *hearth.Homeserver
	var phases startPhases
	deadline := time.Now().Add(busyWait)
	for {
		t := time.Now()
		hs, err = h.open(ctx, be, o, &phases)
		phases.Open = time.Since(t)
		if err == nil || !errors.Is(err, sqlite3.BUSY) || time.Now().After(deadline) {
			break
		}
		if phases.Busy == 0 {
			h.log.Info("database held by another worker; waiting", "storage", be.Name)
		}
		select {
		case <-ctx.Done():
			return status{}, ctx.Err()
		case <-time.After(busyPoll):
		}
		phases.Busy += time.Since(t)
	}
	if err != nil {
		if errors.Is(err, sqlite3.BUSY) {
			return status{}, newCodeError(codeBusy, "the database is in use by another tab or worker of this site (%v)", err)
		}
		return status{}, err
	}
	var owner string
	ownerBegan := time.Now()
	need, err := hs.NeedsOwner(ctx)
	if err == nil && need {
		if !o.HasOwner {
			err = newCodeError(codeNeedsOwner, "the homeserver has no account yet: start it with owner: {name, password} to create the owner")
		} else {
			owner, phases.OwnerHashedAside, err = h.createOwner(ctx, hs, o)
			var me *core.Error
			if errors.As(err, &me) {
				err = newCodeError(codeBadOption, "owner: %s", me.Message)
			}
		}
	}
	if err != nil {
		hs.Close()
		return status{}, err
	}
	phases.Owner = time.Since(ownerBegan)
	phases.Warm = time.Duration(warmTook.Load())
	phases.WarmSteps = int(warmSteps.Load())
	phases.AskedAfter = time.Duration(startAskedAfter.Load())
	h.mu.Lock()
	h.hs, h.backend, h.startup, h.phases = hs, be, time.Since(began), phases
	h.served = false
	h.mu.Unlock()
	h.log.Info("hearth started", "version", hearth.Version, "server_name", hs.ServerName,
		"storage", be.Name, "startup", time.Since(began).Round(time.Millisecond),
		"busy_wait", phases.Busy.Round(time.Millisecond), "open", phases.Open.Round(time.Millisecond),
		"owner", phases.Owner.Round(time.Millisecond))
	time.AfterFunc(backgroundDelay, hs.StartBackground)
	st, err := h.status(ctx)
	st.OwnerCreated = owner
	return st, err
}

// createOwner creates the owner of a new homeserver: with the hash the
// worker script had made on another thread when it came (aside is then
// true), else (no helper, or its hash refused) hashing the password here.
func (h *host) createOwner(ctx context.Context, hs *hearth.Homeserver, o startOptions) (owner string, aside bool, err error) {
	if o.OwnerPassword != "" && o.OwnerPasswordHash.Type() == js.TypeObject {
		v, err := jsvfs.AwaitPromise(o.OwnerPasswordHash)
		if err == nil && v.Type() == js.TypeString && v.String() != "" {
			owner, err := hs.CreateOwnerWithPasswordHash(ctx, o.OwnerName, v.String())
			if err == nil {
				return owner, true, nil
			}
			h.log.Warn("the owner's password hashed again here", "err", err)
		} else {
			h.log.Warn("the owner's password hashed here: no hash from the helper worker", "err", err)
		}
	}
	owner, err = hs.CreateOwner(ctx, o.OwnerName, o.OwnerPassword)
	return owner, false, err
}

// open opens the homeserver in be. The server name stored in an existing
// database wins over o.ServerName (a homeserver cannot be renamed); an empty
// storage is refused without being touched unless the owner is given.
func (h *host) open(ctx context.Context, be backend, o startOptions, phases *startPhases) (*hearth.Homeserver, error) {
	exists, err := be.exists(h.dbPath())
	if err != nil {
		return nil, fmt.Errorf("storage %s: %w", be.Name, err)
	}
	if !exists && !o.HasOwner {
		return nil, newCodeError(codeNeedsOwner, "the %s storage holds no homeserver: start it with serverName and owner: {name, password} to create one", be.Name)
	}
	name := o.ServerName
	if exists {
		// An empty name takes the one stored in the database.
		name = ""
	} else if name == "" {
		return nil, newCodeError(codeBadOption, "serverName is required to create a homeserver")
	}
	h.relayURL, h.relayToken = o.RelayURL, o.RelayToken
	h.modules = o.Modules
	var image []byte
	if !exists && be.Name == backendOPFS.Name {
		// The image is copied with SQLite's backup, which refuses an
		// in-memory destination of another page size (memory, and the
		// IndexedDB snapshots built on it).
		image = o.SchemaImage
	}
	phases.SchemaImageBytes = len(image)
	hs, err := h.openAs(ctx, be, name, image)
	if err == nil && o.ServerName != "" && hs.ServerName != o.ServerName {
		h.log.Warn("the database belongs to another server name; keeping it", "stored", hs.ServerName, "given", o.ServerName)
	}
	return hs, err
}

// openAs opens the homeserver in be under name; a new database starts
// from image when it is set.
func (h *host) openAs(ctx context.Context, be backend, name string, image []byte) (*hearth.Homeserver, error) {
	cfg := hearth.DefaultConfig()
	cfg.ServerName = name
	cfg.DataDir = h.dataDir
	// The only clients are the pages of this origin, which can do anything
	// the homeserver's user can: a rate limit would only slow them down.
	cfg.RateLimits = "off"
	if h.relayURL != "" {
		cfg.Relay.URL, cfg.Relay.Token, cfg.Relay.Outbound = h.relayURL, h.relayToken, "on"
	}
	cfg.Modules = h.modules
	// The background work starts after the first answer (see start).
	hs, err := hearth.Open(ctx, cfg, hearth.OpenOptions{VFS: be.VFS, Logger: h.log, DeferBackground: true, SchemaImage: image})
	switch {
	case errors.Is(err, storage.ErrTooNew):
		return nil, newCodeError(codeTooNew, "%v", err)
	case errors.Is(err, storage.ErrForeign):
		return nil, newCodeError(codeForeign, "%v", err)
	}
	return hs, err
}

// running returns the homeserver, or an error if it is not running.
func (h *host) running() (*hearth.Homeserver, backend, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hs == nil {
		return nil, backend{}, newCodeError(codeNotRunning, "the homeserver is not running")
	}
	return h.hs, h.backend, nil
}

// status reports on the running homeserver.
func (h *host) status(ctx context.Context) (status, error) {
	hs, be, err := h.running()
	if err != nil {
		return status{}, err
	}
	h.mu.Lock()
	startup, phases := h.startup, h.phases
	h.mu.Unlock()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := status{Storage: be.Name, Version: hearth.Version, ServerName: hs.ServerName, StartedAt: hs.StartedAt, Startup: startup, Phases: phases,
		GoHeapBytes: ms.HeapAlloc, GoSysBytes: ms.Sys, Relay: hs.RelayStatus()}
	st.DatabaseBytes, err = hs.Size(ctx)
	return st, err
}

// serve runs one request through the homeserver's handler. id names it
// for abort.
func (h *host) serve(id string, r *http.Request) (*response, error) {
	hs, _, err := h.running()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if id != "" {
		h.mu.Lock()
		h.inflight[id] = cancel
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			delete(h.inflight, id)
			h.mu.Unlock()
		}()
	}
	w := newResponse()
	hs.Handler.ServeHTTP(w, r.WithContext(ctx))
	h.mu.Lock()
	first := !h.served
	h.served = true
	h.mu.Unlock()
	if first {
		// After the first answer: the work no request waits for. It runs
		// once this goroutine has handed the answer to the worker script,
		// which posts it to the page from the callback (worker.js).
		go hs.StartBackground()
	}
	if err := ctx.Err(); err != nil {
		return nil, newCodeError(codeAborted, "the request was aborted")
	}
	return w, nil
}

// abort cancels the request id, if it is still running.
func (h *host) abort(id string) {
	h.mu.Lock()
	cancel := h.inflight[id]
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// stop closes the homeserver and its database, which releases the OPFS
// handle (or the IndexedDB lock). Stopping a stopped host does nothing.
func (h *host) stop() error {
	h.starting.Lock()
	defer h.starting.Unlock()
	h.mu.Lock()
	hs := h.hs
	h.hs = nil
	for id, cancel := range h.inflight {
		cancel()
		delete(h.inflight, id)
	}
	h.mu.Unlock()
	if hs == nil {
		return nil
	}
	h.log.Info("stopping")
	return hs.Close()
}
