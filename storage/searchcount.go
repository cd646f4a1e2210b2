package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"

	"hearth.dev/hearth/core/clientsync"
)

// A search's count is approximate (the spec's "an approximate count of the
// total number of results found"): counting each match in full (its event,
// its room in the scope, a redaction of it, its sender) costs about six
// times what walking the index alone costs, and a count runs with every
// page of results. So the newest countSample matches of the index are
// looked at in full, and the older ones only counted in the index, each
// taken for the share of the sample that passed. A search with fewer
// matches in the index than the sample, or whose sample passes less than
// a quarter (most matches in rooms out of the scope, or sent by ignored
// users), is counted in full.

// countSample is how many of the index's newest matches a count looks at
// in full before it estimates (a variable for tests).
var countSample = 250

const (
	// sqlSearchSampleEnd is the rowid of the index's match ?2 places
	// from the newest (0 the newest): the oldest of the sample.
	sqlSearchSampleEnd = `SELECT rowid FROM event_search WHERE event_search MATCH ?1
		ORDER BY rowid DESC LIMIT 1 OFFSET ?2`
	// sqlSearchIndexCount counts the index's matches of ?1 below rowid
	// ?2, stopping at ?3.
	sqlSearchIndexCount = `SELECT count(*) FROM (SELECT 1 FROM event_search
		WHERE event_search MATCH ?1 AND rowid < ?2 LIMIT ?3)`
)

// CountSearch counts the events SearchEvents would find for q, leaving out
// those sent by skipSenders, up to max; see clientsync.SearchStore. The
// count is an estimate past the newest countSample matches (above).
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
	if err := s.db.waitSearchIndex(ctx); err != nil {
		return 0, err
	}
	var n int
	err = s.read(ctx, queries.prepared(sqlPrefixTerms, sqlSearchSampleEnd, sqlSearchIndexCount, queries.count), func(r reader) error {
		if empty, err := emptyScope(r, queries, scope); err != nil || empty {
			return err
		}
		match, err := matchExpression(r, q.Words, q.Keys)
		if err != nil || match == "" {
			return err
		}
		count := func(from int64) (int, error) {
			var c int
			err := r.queryRow(queries.count, scope, match, string(skip), max, from).Scan(&c)
			return c, wrapErr("search count", err)
		}
		var end int64
		err = r.queryRow(sqlSearchSampleEnd, match, countSample-1).Scan(&end)
		if errors.Is(err, sql.ErrNoRows) {
			// Fewer matches than the sample: they are counted in full.
			n, err = count(math.MinInt64)
			return err
		}
		if err != nil {
			return wrapErr("search count", err)
		}
		k, err := count(end)
		if err != nil || k >= max {
			n = k
			return err
		}
		if 4*k < countSample {
			n, err = count(math.MinInt64)
			return err
		}
		// The index's matches below the sample that make up the rest of
		// max at the sample's share.
		need := ((max-k)*countSample + k - 1) / k
		var rest int
		if err := r.queryRow(sqlSearchIndexCount, match, end, need).Scan(&rest); err != nil {
			return wrapErr("search count", err)
		}
		n = min(k+(rest*k+countSample/2)/countSample, max)
		if rest == need {
			n = max
		}
		return nil
	})
	return n, err
}
