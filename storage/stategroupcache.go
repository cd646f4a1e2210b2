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

// stateCache keeps the full state of recently used state groups in memory,
// as Synapse's state group cache does. A group's state never changes once
// written (compressing chains rewrites rows, not states), so an entry never
// goes stale. Entries are added only once the transaction that wrote or read
// them has ended: a group of a rolled-back write does not exist, and its ID
// may be given to another group.
type stateCache struct {
	mu      sync.Mutex
	maxKeys int
	keys    int
	lru     *list.List // of *stateCacheEntry, most recent first
	byGroup map[int64]*list.Element
}

type stateCacheEntry struct {
	group int64
	state core.StateMap // shared: never modified after put
}

// get returns the cached state of group, which the caller must not modify.
func (c *stateCache) get(group int64) (core.StateMap, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byGroup[group]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*stateCacheEntry).state, true
}

// put caches state as the state of group; state must not be modified
// afterwards.
func (c *stateCache) put(group int64, state core.StateMap) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maxKeys <= 0 || len(state) > c.maxKeys {
		return
	}
	if c.byGroup == nil {
		c.byGroup = map[int64]*list.Element{}
		c.lru = list.New()
	}
	if el, ok := c.byGroup[group]; ok {
		c.lru.MoveToFront(el)
		return
	}
	c.byGroup[group] = c.lru.PushFront(&stateCacheEntry{group: group, state: state})
	c.keys += len(state)
	for c.keys > c.maxKeys {
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
// is, a delta when the state of its previous group is cached.
func (c *stateCache) remember(groups []newGroupState) {
	for _, g := range groups {
		var full core.StateMap
		if g.prev == 0 {
			full = maps.Clone(g.state)
			for k, v := range full {
				if v == "" {
					delete(full, k)
				}
			}
		} else {
			base, ok := c.get(g.prev)
			if !ok {
				continue
			}
			full = applyDelta(base, g.state)
		}
		c.put(g.group, full)
	}
}

// applyDelta returns a copy of base with the changes of delta, an empty
// event ID removing a key.
func applyDelta(base, delta core.StateMap) core.StateMap {
	out := make(core.StateMap, len(base)+len(delta))
	maps.Copy(out, base)
	for k, v := range delta {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
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
