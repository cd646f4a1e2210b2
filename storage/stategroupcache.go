package storage

import (
	"container/list"
	"maps"
	"sync"

	"hearth.dev/hearth/core"
)

// DefaultStateCacheKeys bounds the state group cache: the total number of
// state keys of the groups it holds (about 100 bytes each).
const DefaultStateCacheKeys = 100_000

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
type stateCache struct {
	mu      sync.Mutex
	maxKeys int
	keys    int
	lru     *list.List // of *stateCacheEntry, most recent first
	byGroup map[int64]*list.Element
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
	c.keys += len(full) - len(e.state)
	e.state, e.prev, e.depth = full, 0, 0
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
	if c.maxKeys <= 0 || len(e.state) > c.maxKeys {
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
	c.keys += len(e.state)
	c.evictLocked()
}

func (c *stateCache) evictLocked() {
	for c.keys > c.maxKeys && c.lru.Len() > 0 {
		el := c.lru.Back()
		e := el.Value.(*stateCacheEntry)
		c.lru.Remove(el)
		delete(c.byGroup, e.group)
		c.keys -= len(e.state)
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
