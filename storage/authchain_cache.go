package storage

import "sync"

// chainCache keeps what the auth chain index answers that never changes
// once committed: an event's position, and the chains a position reaches
// (links are only ever added at a new event's own position). Only reads
// fill it, so nothing of a rolled-back write gets in. Purging a room resets
// it, and a read that began before a reset does not fill it afterwards
// (gen): a purged event stored again gets a new position. Chain IDs are
// never given out twice (stream_positions 'auth_chains'), so a reset is
// only needed for event IDs.
type chainCache struct {
	mu        sync.Mutex
	gen       uint64
	positions map[string]chainPos
	reaches   map[chainPos]map[int64]int64
}

// maxChainCache bounds each of the cache's maps; a full map is dropped
// and starts again.
const maxChainCache = 200_000

func (c *chainCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *chainCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.positions, c.reaches = nil, nil
}

// lookupPositions moves the known positions of ids into out and returns
// the IDs it does not know.
func (c *chainCache) lookupPositions(ids []string, out map[string]chainPos) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing []string
	for _, id := range ids {
		if p, ok := c.positions[id]; ok {
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
	if c.positions == nil || len(c.positions)+len(m) > maxChainCache {
		c.positions = make(map[string]chainPos, len(m))
	}
	for id, p := range m {
		c.positions[id] = p
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
		if r, ok := c.reaches[p]; ok {
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
	if c.reaches == nil || len(c.reaches)+len(m) > maxChainCache {
		c.reaches = make(map[chainPos]map[int64]int64, len(m))
	}
	for p, r := range m {
		c.reaches[p] = r
	}
}
