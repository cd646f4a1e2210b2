package storage

import (
	"strings"
	"sync"
	"sync/atomic"

	"hearth.dev/hearth/core/clientsync"
)

// A search's count is kept per query, so that the next search of the same
// words counts only the matches indexed since (the rowids above the
// highest one the index held then), and a count that reached its cap
// costs nothing: the soak's searches, a few dozen words again and again,
// spent a quarter of the server's time counting up to the cap.
//
// The matches of a query can only grow as events are indexed (new events
// take rowids above every indexed one: event_nid grows with the commits,
// and the index takes the events in commit order), except through a write
// that changes what is already indexed or who sees it. Such a write calls
// noteSearchStale, and the writer moves the counts' generation as it
// commits (before the writes' callers learn the outcome): every count kept
// from an earlier generation is counted afresh. Those writes are
//
//   - a redaction stored (its target leaves the results);
//   - an outlier joining the timeline (its row leaves the index and comes
//     back at its new position, under its old rowid);
//   - a change of a local user's membership of a room they were already
//     joined to, had left or were banned from (the count after the joins
//     reads the user's current join), a membership row dropped, and a
//     room purged (markMembersChanged). A membership that puts a room in
//     the scopes from outside them (a room made, a first join, a join
//     or a rejection after an invite or a knock) changes no count already
//     kept: what the room held before it is not counted after the join.
//     (It is stale for the ranks kept when the room held text before it:
//     a scope of the user's rooms takes such a room whole,
//     searchrankcache.go; setLocalMembership.)
//
// The counts kept are those of the scope after the joins of a member
// (clientsync.ScopeAfterJoin) and of a list of rooms with their bounds,
// the ones clientsync's count asks for.

// maxKeptCounts bounds the counts kept; when full, they all go.
const maxKeptCounts = 512

// searchCounts is the counts kept and their generation.
type searchCounts struct {
	// gen moves on every commit of a write that called noteSearchStale.
	gen atomic.Uint64

	mu sync.Mutex
	m  map[searchCountKey]searchCountEntry
}

// searchCountKey is what a count depends on besides the index: the
// scope's queries and argument, the words and keys, the senders left out
// and the cap.
type searchCountKey struct {
	queries string
	scope   string
	words   string
	skip    string
	max     int
}

// searchCountEntry is a count at a generation: n matches with rowids up to
// hw (the highest rowid the index held when it was counted).
type searchCountEntry struct {
	gen uint64
	n   int
	hw  int64
}

func newSearchCountKey(queries searchSQL, scope string, q clientsync.SearchQuery, skip string, max int) searchCountKey {
	return searchCountKey{queries: queries.count, scope: scope,
		words: strings.Join(q.Words, "\x00") + "\x01" + strings.Join(q.Keys, "\x00"), skip: skip, max: max}
}

// cacheable reports whether q's count may be kept (see above).
func countCacheable(q clientsync.SearchQuery) bool {
	return q.Member == "" || q.Scope == clientsync.ScopeAfterJoin
}

// get returns the count kept for k at generation gen.
func (c *searchCounts) get(k searchCountKey, gen uint64) (searchCountEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || e.gen != gen {
		return searchCountEntry{}, false
	}
	return e, true
}

// put keeps e for k.
func (c *searchCounts) put(k searchCountKey, e searchCountEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxKeptCounts {
		c.m = map[searchCountKey]searchCountEntry{}
	}
	c.m[k] = e
}

// stale moves the generation: every count kept is counted afresh.
func (c *searchCounts) stale() { c.gen.Add(1) }

// noteSearchStale records on the writer's q that the write changes what
// is indexed or who sees it, so the counts kept go when it commits. It
// reports false when q is not the writer's (the caller then makes them go
// itself once the write is done).
func noteSearchStale(q Queryer) bool {
	if w, ok := q.(writerQueryer); ok && w.searchStale != nil {
		*w.searchStale = true
		return true
	}
	return false
}

// sqlSearchHighRowid reads the highest rowid the full-text index holds.
const sqlSearchHighRowid = `SELECT coalesce((SELECT rowid FROM event_search ORDER BY rowid DESC LIMIT 1), 0)`

// The membership queries that decide whether a membership change moves
// the generation (sqlPriorMembership, sqlRoomTextBefore) are in
// eventpersist.go, beside setLocalMembership, which runs them.
