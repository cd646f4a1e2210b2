package storage

import (
	"sync"
	"time"

	"hearth.dev/hearth/core"
)

// sessionCache holds resolved access tokens by the SHA-256 of the token, so
// the lookup every authenticated request makes does not reach SQLite.
//
// An entry is put only if no invalidation ran since the lookup that made it
// started (gen), so a token revoked while it was being looked up is never
// cached as valid.
type sessionCache struct {
	mu      sync.RWMutex
	gen     uint64
	max     int
	entries map[[32]byte]cachedSession
}

type cachedSession struct {
	sess core.Session
	// validUntil is the token's expiry; zero never.
	validUntil time.Time
	// refreshable tokens answer soft_logout once expired.
	refreshable bool
}

func newSessionCache(size int) *sessionCache {
	return &sessionCache{max: size, entries: make(map[[32]byte]cachedSession)}
}

func (c *sessionCache) get(h [32]byte) (cachedSession, bool) {
	c.mu.RLock()
	e, ok := c.entries[h]
	c.mu.RUnlock()
	return e, ok
}

// generation returns the invalidation counter, to pass to put.
func (c *sessionCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores e unless something was invalidated since gen was read.
func (c *sessionCache) put(h [32]byte, e cachedSession, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.entries) >= c.max {
		// Drop an arbitrary entry (map order is random).
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[h] = e
}

// remove drops one entry.
func (c *sessionCache) remove(h [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, h)
}

// invalidate drops every entry whose session matches.
func (c *sessionCache) invalidate(match func(*core.Session) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if match(&e.sess) {
			delete(c.entries, k)
		}
	}
}
