// Package room is the room event pipeline: it builds, signs, authorises and
// persists the events local users send (messages, state, memberships, the
// events of a new room), keeps each room's DAG linear under concurrent
// sends, and reads events and state back for clients, with the client
// event format and the membership and history visibility checks the
// client-server API applies.
//
// The package does no I/O of its own: it works through the storage
// interfaces declared in core (EventStore, TimelineStore, RoomStateStore,
// StateGroupStore, RoomStore) and the directory interfaces declared here.
// Every method a request reaches takes a context first.
//
// Importing the package has no side effects.
package room

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/lru"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
)

// Stores are the storage a Pipeline works on. storage.EventStore provides
// the first five; Directory is optional (nil disables aliases, the
// published room directory and /forget).
type Stores struct {
	Events    core.EventStore
	Timeline  core.TimelineStore
	State     core.RoomStateStore
	Groups    core.StateGroupStore
	Rooms     core.RoomStore
	Directory DirectoryStore
	// AuthChains answers auth chain questions from storage's index.
	AuthChains core.AuthChainStore
}

// Config describes the local server to a Pipeline.
type Config struct {
	// ServerName is the local server's name.
	ServerName string
	// Key signs every event the server creates.
	Key signing.Key
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// Notifier, when set, is notified after every persisted event. hearth
	// leaves it unset: its storage wakes /sync after every commit that
	// stores an event (storage.Options.StreamAdvanced).
	Notifier *core.Notifier
	// DefaultRoomVersion is the version of new rooms ("" uses
	// roomversion.Default).
	DefaultRoomVersion roomversion.ID
	// Profiles, when set, gives the display name and avatar URL that a
	// local user's join and invite events carry.
	Profiles core.ProfileStore
	// MaxCreateRoomInvites bounds the invite list of one createRoom (0
	// uses DefaultMaxCreateRoomInvites).
	MaxCreateRoomInvites int
	// Modules are asked about local events, invites, joins and new rooms,
	// and about remote events and invites (nil: core.NoModules).
	Modules core.ModuleCallbacks
	// CacheBudget bounds the memory of the parsed events and the rooms'
	// tips the pipeline keeps: their shares of it (0:
	// core.DefaultCacheBudget).
	CacheBudget core.CacheBudget
}

// DefaultMaxCreateRoomInvites is the default bound on a createRoom's
// invite list. Each invite is an event of the new room, written in the
// request; more users can be invited afterwards, one request each.
const DefaultMaxCreateRoomInvites = 100

// Pipeline builds and persists local events and reads rooms back.
type Pipeline struct {
	cfg    Config
	stores Stores

	// locks serialise read-build-persist per room (striped by room ID):
	// an event's prev_events and state are read and its successor built
	// only after it is persisted.
	locks [64]sync.Mutex

	mu       sync.Mutex
	versions lru.Cache[string, *roomversion.Version] // room ID -> version (immutable)
	tips     lru.Cache[string, *tip]                 // room ID -> last known DAG tip
	// lastCreateTS is the origin_server_ts of the last create event built
	// here, so that no two rooms whose ID is their create event's hash
	// (room version 12) get the same create event.
	lastCreateTS int64

	cache eventCache
}

// New returns a pipeline for the server described by cfg over stores.
func New(cfg Config, stores Stores) (*Pipeline, error) {
	if cfg.ServerName == "" {
		return nil, errors.New("room: a pipeline needs the server name")
	}
	if cfg.Key.Private == nil {
		return nil, errors.New("room: a pipeline needs the server's signing key")
	}
	if stores.Events == nil || stores.Timeline == nil || stores.State == nil || stores.Groups == nil || stores.Rooms == nil ||
		stores.AuthChains == nil {
		return nil, errors.New("room: a pipeline needs the event, timeline, state, state group, room and auth chain stores")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxCreateRoomInvites <= 0 {
		cfg.MaxCreateRoomInvites = DefaultMaxCreateRoomInvites
	}
	if cfg.DefaultRoomVersion == "" {
		cfg.DefaultRoomVersion = roomversion.Default
	}
	if cfg.Modules == nil {
		cfg.Modules = core.NoModules{}
	}
	cfg.CacheBudget = cfg.CacheBudget.Or(core.DefaultCacheBudget)
	if _, err := roomversion.Lookup(cfg.DefaultRoomVersion); err != nil {
		return nil, fmt.Errorf("room: default room version: %w", err)
	}
	p := &Pipeline{
		cfg:    cfg,
		stores: stores,
		// The tips' share holds the rooms' versions too (an eighth).
		versions: lru.Cache[string, *roomversion.Version]{Max: cfg.CacheBudget.Tips() / 8},
		tips:     lru.Cache[string, *tip]{Max: cfg.CacheBudget.Tips() - cfg.CacheBudget.Tips()/8},
	}
	p.cache.setMax(cfg.CacheBudget.Events())
	return p, nil
}

// ServerName returns the local server's name.
func (p *Pipeline) ServerName() string { return p.cfg.ServerName }

// lockRoom takes the write lock of roomID and returns its unlock.
func (p *Pipeline) lockRoom(roomID string) func() {
	h := fnv.New32a()
	h.Write([]byte(roomID))
	m := &p.locks[h.Sum32()%uint32(len(p.locks))]
	m.Lock()
	return m.Unlock
}

// now returns the clock in milliseconds since the epoch.
func (p *Pipeline) now() int64 { return p.cfg.Now().UnixMilli() }

// Version returns the room version of roomID. It returns an error wrapping
// core.ErrNotFound for a room the server does not know.
func (p *Pipeline) Version(ctx context.Context, roomID string) (*roomversion.Version, error) {
	p.mu.Lock()
	v, ok := p.versions.Get(roomID)
	p.mu.Unlock()
	if ok {
		return v, nil
	}
	info, err := p.stores.Rooms.Room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	v, err = roomversion.Lookup(roomversion.ID(info.RoomVersion))
	if err != nil {
		return nil, fmt.Errorf("room: %s has version %q: %w", roomID, info.RoomVersion, err)
	}
	p.mu.Lock()
	p.setVersionLocked(roomID, v)
	p.mu.Unlock()
	return v, nil
}

// setVersionLocked remembers roomID's version; p.mu is held.
func (p *Pipeline) setVersionLocked(roomID string, v *roomversion.Version) {
	p.versions.Put(roomID, v, lru.StringBytes(roomID)+8)
}

// notify wakes /sync after a committed write.
func (p *Pipeline) notify() {
	if p.cfg.Notifier != nil {
		p.cfg.Notifier.Notify()
	}
}

// isLocal reports whether userID belongs to this server.
func (p *Pipeline) isLocal(userID string) bool {
	return domainOf(userID) == p.cfg.ServerName
}

// domainOf returns the server name of a user ID, "" if it has none.
func domainOf(userID string) string {
	for i := 0; i < len(userID); i++ {
		if userID[i] == ':' {
			return userID[i+1:]
		}
	}
	return ""
}
