package storage

import (
	"sync"

	"hearth.dev/hearth/core/lru"
)

// chainCache keeps what the auth chain index answers that never changes
// once committed: an event's position, and the chains a position reaches
// (links are only ever added at a new event's own position). Only reads
// fill it, so nothing of a rolled-back write gets in. Purging a room resets
// it, and a read that began before a reset does not fill it afterwards
// (gen): a purged event stored again gets a new position. Chain IDs are
// never given out twice (stream_positions 'auth_chains'), so a reset is
// only needed for event IDs.
//
// It is bounded in bytes by its share of the core.CacheBudget (maxBytes,
// half for positions, half for reaches), least recently used entries
// dropped first.
type chainCache struct {
	mu        sync.Mutex
	maxBytes  int64
	gen       uint64
	positions lru.Cache[string, chainPos]
	reaches   lru.Cache[chainPos, map[int64]int64]
}

// positionBytes estimates an entry of positions: the event ID and the
// position.
func positionBytes(id string) int64 { return lru.StringBytes(id) + 16 }

// reachBytes estimates an entry of reaches: the position and its map of
// chains.
func reachBytes(r map[int64]int64) int64 { return 16 + lru.MapBytes(len(r), 16) }

func (c *chainCache) bounds() {
	c.positions.Max = c.maxBytes / 2
	c.reaches.Max = c.maxBytes / 2
}

func (c *chainCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *chainCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.positions.Clear()
	c.reaches.Clear()
}

// lookupPositions moves the known positions of ids into out and returns
// the IDs it does not know.
func (c *chainCache) lookupPositions(ids []string, out map[string]chainPos) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing []string
	for _, id := range ids {
		if p, ok := c.positions.Get(id); ok {
			out[id] = p
		} else {
			missing = append(missing, id)
		}
	}
	return missing
}

func (c *chainCache) putPositions(gen uint64, m map[string]chainPos) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	c.bounds()
	for id, p := range m {
		c.positions.Put(id, p, positionBytes(id))
	}
}

// lookupReaches returns the reaches known of positions, and the positions
// it does not know.
func (c *chainCache) lookupReaches(positions []chainPos) (map[chainPos]map[int64]int64, []chainPos) {
	c.mu.Lock()
	defer c.mu.Unlock()
	known := make(map[chainPos]map[int64]int64, len(positions))
	var missing []chainPos
	for _, p := range positions {
		if r, ok := c.reaches.Get(p); ok {
			known[p] = r
		} else {
			missing = append(missing, p)
		}
	}
	return known, missing
}

func (c *chainCache) putReaches(gen uint64, m map[chainPos]map[int64]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	c.bounds()
	for p, r := range m {
		c.reaches.Put(p, r, reachBytes(r))
	}
}
