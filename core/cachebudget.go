package core

import "hearth.dev/hearth/core/lru"

// CacheBudget is the memory, in bytes, that the server's in-memory caches
// may hold together: parsed events, the states of state groups, rooms'
// DAG tips and the auth chain index. Each cache gets a fixed share and
// estimates the size of an entry when it stores it, dropping its least
// recently used entries past its share. What a cache holds is then
// bounded by the budget, not by how many rooms or events the server has.
// (Users' room lists are not counted: they are the data of every /sync,
// not a cache of it.)
type CacheBudget int64

const (
	// DefaultCacheBudget is the budget of `hearth serve`. Measured with
	// the 10-minute soak (four runs side by side, load 20-29): with 16 MiB
	// the server's RSS stopped growing after minute 4 (87-99 MiB to the
	// end) at 2-6 % more CPU per operation than with 32 MiB, whose RSS
	// still grew at minute 10 (144 MiB), as 64 MiB's did until the memory
	// limit held it (211-213 MiB).
	DefaultCacheBudget CacheBudget = 16 << 20
	// BrowserCacheBudget is the budget in a browser tab, where the whole
	// wasm memory counts against the page.
	BrowserCacheBudget CacheBudget = 8 << 20
	// MinCacheBudget is the smallest budget taken: below it the caches
	// would miss on every read of a busy room.
	MinCacheBudget CacheBudget = 1 << 20
)

// The shares of the budget, in eighths: parsed events and group states
// are read again and again by every send (auth events, state
// resolution); tips are one small entry per recently written room; the
// auth chain index is read by federation joins and state resolution.
const (
	eventShare      = 3
	stateGroupShare = 3
	tipShare        = 1
	authChainShare  = 1
)

// Or returns b, or def when b is zero or less; a budget below
// MinCacheBudget is raised to it.
func (b CacheBudget) Or(def CacheBudget) CacheBudget {
	if b <= 0 {
		b = def
	}
	return max(b, MinCacheBudget)
}

// Events is the share of the parsed-event cache.
func (b CacheBudget) Events() int64 { return int64(b) / 8 * eventShare }

// StateGroups is the share of the state group cache.
func (b CacheBudget) StateGroups() int64 { return int64(b) / 8 * stateGroupShare }

// Tips is the share of the rooms' DAG tips.
func (b CacheBudget) Tips() int64 { return int64(b) / 8 * tipShare }

// AuthChains is the share of the auth chain index cache.
func (b CacheBudget) AuthChains() int64 { return int64(b) / 8 * authChainShare }

// StateMapBytes estimates the memory a state map holds: the map (a slot
// holds the key's two string headers and the value's) and the bytes of
// its state keys and event IDs (types are mostly shared constants).
func StateMapBytes(m StateMap) int64 {
	n := lru.MapBytes(len(m), 48)
	for k, v := range m {
		n += int64(len(k.StateKey) + len(v))
	}
	return n
}
