package storage

import (
	"container/list"
	"maps"
	"sync"

	"hearth.dev/hearth/core"
)

// stateCache keeps the state of recently used state groups in memory, as
// Synapse's state group cache does. A group's state never changes once
// written (compressing chains rewrites rows, not states), so an entry never
// goes stale. Entries are added only once the transaction that wrote or read
// them has ended: a group of a rolled-back write does not exist, and its ID
// may be given to another group.
//
// A group written on top of a cached one is kept as its delta from that
// one, so a run of joins costs each its own changes, not a copy of the
// whole (growing) state: copying made setting up a room of n members cost
// n² map writes. Reads of a few keys walk the deltas; a read of the whole
// state builds it once and keeps it. A chain is cut (the group's whole
// state built) every maxDeltaDepth deltas, which bounds the walk.
//
// The cache is bounded in bytes (its share of the core.CacheBudget): an
// entry's size is estimated when it is stored, and again when a delta is
// replaced by the whole state it builds.
type stateCache struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	lru      *list.List // of *stateCacheEntry, most recent first
	byGroup  map[int64]*list.Element
}

// maxDeltaDepth is the longest chain of deltas the cache keeps above a
// whole state.
const maxDeltaDepth = 32

type stateCacheEntry struct {
	group int64
	// state is the whole state when depth is 0, else the changes from
	// group prev (an empty event ID removing a key). Shared: never
	// modified after put.
	state core.StateMap
	prev  int64
	depth int
	size  int64 // estimated bytes held, counted in the cache's bytes
}

// stateEntryOverhead is an entry's own memory besides its map: the entry,
// its list element and its slot in byGroup.
const stateEntryOverhead = 160

func (e *stateCacheEntry) estimate() int64 {
	return stateEntryOverhead + core.StateMapBytes(e.state)
}

// lookup returns the part of group's cached state that f selects, as a new
// map, or false when the group (or a group its delta rests on) is not
// cached.
func (c *stateCache) lookup(group int64, f core.StateFilter) (core.StateMap, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	chain := c.chainLocked(group)
	if chain == nil {
		return nil, false
	}
	if len(chain) == 1 {
		return filtered(chain[0].state, f), true
	}
	if keys, ok := wantedKeys(f); ok {
		out := core.StateMap{}
		for _, k := range keys {
			for _, e := range chain {
				if v, ok := e.state[k]; ok {
					if v != "" {
						out[k] = v
					}
					break
				}
			}
		}
		return out, true
	}
	full := c.buildLocked(chain)
	return filtered(full, f), true
}

// chainLocked returns group's entry and those its delta rests on, newest
// first, ending with a whole state; nil when one of them is not cached.
func (c *stateCache) chainLocked(group int64) []*stateCacheEntry {
	var chain []*stateCacheEntry
	for {
		el, ok := c.byGroup[group]
		if !ok {
			return nil
		}
		c.lru.MoveToFront(el)
		e := el.Value.(*stateCacheEntry)
		chain = append(chain, e)
		if e.depth == 0 {
			return chain
		}
		group = e.prev
	}
}

// buildLocked builds the whole state of chain[0] from its chain and keeps
// it in place of the delta.
func (c *stateCache) buildLocked(chain []*stateCacheEntry) core.StateMap {
	full := maps.Clone(chain[len(chain)-1].state)
	for i := len(chain) - 2; i >= 0; i-- {
		for k, v := range chain[i].state {
			if v == "" {
				delete(full, k)
			} else {
				full[k] = v
			}
		}
	}
	e := chain[0]
	e.state, e.prev, e.depth = full, 0, 0
	size := e.estimate()
	c.bytes += size - e.size
	e.size = size
	c.evictLocked()
	return full
}

// wantedKeys returns the state keys f selects when it names them all (no
// type with every key, no others included).
func wantedKeys(f core.StateFilter) ([]core.StateKey, bool) {
	if f.Types == nil || f.IncludeOthers {
		return nil, false
	}
	var keys []core.StateKey
	for t, sks := range f.Types {
		if sks == nil {
			return nil, false
		}
		for _, sk := range sks {
			keys = append(keys, core.StateKey{Type: t, StateKey: sk})
		}
	}
	return keys, true
}

// put caches state as the whole state of group; state must not be
// modified afterwards.
func (c *stateCache) put(group int64, state core.StateMap) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(&stateCacheEntry{group: group, state: state})
}

func (c *stateCache) putLocked(e *stateCacheEntry) {
	e.size = e.estimate()
	if e.size > c.maxBytes {
		return
	}
	if c.byGroup == nil {
		c.byGroup = map[int64]*list.Element{}
		c.lru = list.New()
	}
	if el, ok := c.byGroup[e.group]; ok {
		c.lru.MoveToFront(el)
		return
	}
	c.byGroup[e.group] = c.lru.PushFront(e)
	c.bytes += e.size
	c.evictLocked()
}

func (c *stateCache) evictLocked() {
	for c.bytes > c.maxBytes && c.lru.Len() > 0 {
		el := c.lru.Back()
		e := el.Value.(*stateCacheEntry)
		c.lru.Remove(el)
		delete(c.byGroup, e.group)
		c.bytes -= e.size
	}
}

// newGroupState is a group written by a transaction, to cache once it is
// committed.
type newGroupState struct {
	group int64
	prev  int64         // 0 for a snapshot
	state core.StateMap // the changes from prev, or the whole state of a snapshot
}

// remember caches the groups a committed write created: a snapshot as it
// is, a delta as a delta when its previous group is cached (every
// maxDeltaDepth deltas, as a whole state).
func (c *stateCache) remember(groups []newGroupState) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range groups {
		if g.prev == 0 {
			full := maps.Clone(g.state)
			for k, v := range full {
				if v == "" {
					delete(full, k)
				}
			}
			c.putLocked(&stateCacheEntry{group: g.group, state: full})
			continue
		}
		el, ok := c.byGroup[g.prev]
		if !ok {
			continue
		}
		prev := el.Value.(*stateCacheEntry)
		e := &stateCacheEntry{group: g.group, state: g.state, prev: g.prev, depth: prev.depth + 1}
		c.putLocked(e)
		if e.depth >= maxDeltaDepth {
			if chain := c.chainLocked(g.group); chain != nil {
				c.buildLocked(chain)
			}
		}
	}
}

// filtered returns the part of state selected by f, as a new map.
func filtered(state core.StateMap, f core.StateFilter) core.StateMap {
	if f.Types == nil {
		return maps.Clone(state)
	}
	out := core.StateMap{}
	if !f.IncludeOthers {
		// Look the wanted keys up instead of walking the whole state.
		all := false
		for _, keys := range f.Types {
			if keys == nil {
				all = true
				break
			}
		}
		if !all {
			for t, keys := range f.Types {
				for _, sk := range keys {
					k := core.StateKey{Type: t, StateKey: sk}
					if v, ok := state[k]; ok {
						out[k] = v
					}
				}
			}
			return out
		}
	}
	for k, v := range state {
		if f.Match(k) {
			out[k] = v
		}
	}
	return out
}
