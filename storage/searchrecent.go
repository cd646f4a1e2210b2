package storage

import (
	"cmp"
	"fmt"
	"slices"
)

// A search in recent order (newest stream ordering first) walks the
// index's matches newest first, by rowid (event_nid), and stops at the
// page, rather than sorting every match. The rowid order is the stream
// order for every event that took its stream ordering when it was stored:
// both grow together under the one writer. Two kinds of events differ:
//
//   - an outlier that joined the timeline later (de-outliered) took a new
//     stream ordering then, newer than its rowid says. One the walk passed
//     (rowid above where it stopped) is on the page in its place; one
//     below, with a stream ordering inside the page's span, would be
//     missed: the walk looks for any such event (sqlSearchLate, through
//     the stream ordering index, over the page's span only), and when it
//     finds one, or the span is long, the page is sorted in full as before.
//   - backfilled events have negative stream orderings: they come after
//     every live one, and are sorted (there are few of them).
//
// A page is exactly the matches a full sort gives, so the next page's
// bound (the last stream ordering) neither skips nor repeats one.

// maxLateSpan bounds the events sqlSearchLate reads in a page's span; a
// longer span (a word found rarely) is sorted in full.
const maxLateSpan = 5_000

const (
	// sqlSearchRecentWalk gives the live matches below stream ordering ?3,
	// newest rowid first, at most ?4, with their stream orderings and
	// rowids.
	sqlSearchRecentWalk = `SELECT e.event_id, search_rank(event_search, (SELECT block FROM event_search_data WHERE id = 1),
			(SELECT sz FROM event_search_docsize WHERE id = event_search.rowid)), e.stream_ordering, event_search.rowid ` + searchFrom + `
		AND e.stream_ordering > 0 AND e.stream_ordering < ?3
	ORDER BY event_search.rowid DESC LIMIT ?4`
	// sqlSearchLate reports whether an indexed timeline event of a rowid
	// below ?3 has a stream ordering in (?1, ?2), reading at most ?4
	// events of the span; the second column is how many it read.
	sqlSearchLate = `SELECT coalesce(max(late), 0), count(*) FROM (
		SELECT event_nid < ?3 AND outlier = 0 AND type IN ` + sqlIndexedTypes + ` AS late
		FROM events WHERE stream_ordering > ?1 AND stream_ordering < ?2 LIMIT ?4)`
)

// sqlAnyBackfilled reports whether any event has a backfilled (negative)
// stream ordering.
const sqlAnyBackfilled = `SELECT EXISTS (SELECT 1 FROM events WHERE stream_ordering < 0)`

// recentHit is a match of the walk.
type recentHit struct {
	searchHit
	stream, rowid int64
}

// searchRecent returns the limit newest matches below stream ordering
// before, newest first.
func searchRecent(r reader, queries searchSQL, scope, match string, before int64, limit int) ([]searchHit, error) {
	if before <= 1 {
		// Backfilled events only.
		found, _, err := searchRows(r, queries.recent, scope, match, before, limit)
		return found, err
	}
	walked, err := recentRows(r, queries.walk, scope, match, before, limit)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(walked, func(a, b recentHit) int { return cmp.Compare(b.stream, a.stream) })
	if len(walked) == limit {
		last := walked[len(walked)-1]
		minRowid := last.rowid
		for _, h := range walked {
			minRowid = min(minRowid, h.rowid)
		}
		var late bool
		var read int
		if err := r.queryRow(sqlSearchLate, last.stream, before, minRowid, maxLateSpan).Scan(&late, &read); err != nil {
			return nil, fmt.Errorf("storage: search: %w", err)
		}
		if late || read == maxLateSpan {
			found, _, err := searchRows(r, queries.recent, scope, match, before, limit)
			return found, err
		}
	}
	out := make([]searchHit, len(walked), limit)
	for i, h := range walked {
		out[i] = h.searchHit
	}
	if len(out) < limit {
		// Every live match is on the page: backfilled ones follow, when
		// there are any (the scope is not read again for nothing).
		var backfilled bool
		if err := r.queryRow(sqlAnyBackfilled).Scan(&backfilled); err != nil || !backfilled {
			return out, wrapErr("search", err)
		}
		older, _, err := searchRows(r, queries.recent, scope, match, 0, limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, older...)
	}
	return out, nil
}

// recentRows runs sqlSearchRecentWalk.
func recentRows(r reader, query string, args ...any) ([]recentHit, error) {
	rows, err := r.query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: search: %w", err)
	}
	defer rows.Close()
	var out []recentHit
	for rows.Next() {
		var h recentHit
		if err := rows.Scan(&h.id, &h.rank, &h.stream, &h.rowid); err != nil {
			return nil, fmt.Errorf("storage: search: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: search: %w", err)
	}
	return out, nil
}
