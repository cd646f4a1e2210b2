package storage

import (
	"context"
	"encoding/json"

	"hearth.dev/hearth/core/clientsync"
)

// A search's count is every match in the scope, up to max, counted once
// per query and then only for what was indexed since (searchcountcache.go).
// An estimate
// from the share of the index's newest matches that pass the scope was
// tried and dropped: matches are not spread evenly over rooms and time (a
// room the user left, or history before a join, can hold most of them), so
// a count of 100 in one room came out as 160, or as the cap.

// CountSearch counts the events SearchEvents would find for q, leaving out
// those sent by skipSenders, up to max; see clientsync.SearchStore.
func (s *EventStore) CountSearch(ctx context.Context, q clientsync.SearchQuery, skipSenders []string, max int) (int, error) {
	if len(q.Words) == 0 || len(q.RoomIDs) == 0 && q.Member == "" || max <= 0 {
		return 0, nil
	}
	if _, err := searchKeyColumns(q.Keys); err != nil {
		return 0, err
	}
	queries, scope, err := searchScopeArg(q)
	if err != nil {
		return 0, err
	}
	skip, err := json.Marshal(append([]string{}, skipSenders...))
	if err != nil {
		return 0, err
	}
	// The generation is read before the index is waited for and read: a
	// write that makes counts stale and commits in between leaves this
	// count kept under a generation already gone (searchcountcache.go).
	// The read must begin after it, not in a transaction of the
	// request's read scope begun before such a write.
	s.db.releaseScope(ctx)
	counts := &s.db.search.counts
	gen := counts.gen.Load()
	cacheable := countCacheable(q)
	key := newSearchCountKey(queries, scope, q, string(skip), max)
	var kept searchCountEntry
	if cacheable {
		var ok bool
		if kept, ok = counts.get(key, gen); ok && kept.n >= max {
			return max, nil // matches only grow within a generation
		}
	}
	if err := s.db.waitSearchIndex(ctx); err != nil {
		return 0, err
	}
	var n int
	var hw int64
	err = s.read(ctx, queries.prepared(sqlPrefixTerms, queries.count, sqlSearchHighRowid), func(r reader) error {
		if err := r.queryRow(sqlSearchHighRowid).Scan(&hw); err != nil {
			return wrapErr("search count", err)
		}
		if kept.hw > hw {
			// Kept from a read that saw more of the index than this one:
			// its matches above hw are not in this read, and kept with
			// hw they would be counted again. Count afresh.
			kept = searchCountEntry{}
		}
		if empty, err := emptyScope(r, queries, scope); err != nil || empty {
			return err
		}
		match, err := matchExpression(r, q.Words, q.Keys)
		if err != nil || match == "" {
			return err
		}
		// Only the rowids above the kept count's are counted (all of them
		// when none is kept: kept.hw is 0).
		err = r.queryRow(queries.count, scope, match, string(skip), max-kept.n, kept.hw).Scan(&n)
		return wrapErr("search count", err)
	})
	if err != nil {
		return 0, err
	}
	n += kept.n
	if cacheable {
		counts.put(key, searchCountEntry{gen: gen, n: n, hw: hw})
	}
	return n, nil
}
