package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/ext/fts5"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// The full-text index (event_search) is an FTS5 table, filled in batches
// after the events' commits (searchindex.go); a search waits for the
// batch of events committed before it. FTS5 is an extension in this SQLite build
// (the same translated module natively and in the browser), so every
// connection the package opens registers it, with the rank function of
// searches (searchrank.go).
func init() {
	sqlite3.AutoExtension(func(c *sqlite3.Conn) error {
		return fts5.RegisterCustom(c, func(api *fts5.API) error {
			if err := api.CreateFunction("search_rank", searchRank); err != nil {
				return err
			}
			return api.CreateFunction("search_freqs", searchFreqs)
		})
	})
}

var _ clientsync.SearchStore = (*EventStore)(nil)

// searchColumns maps the search keys to event_search's columns.
var searchColumns = map[string]string{
	clientsync.KeyBody:  "body",
	clientsync.KeyName:  "name",
	clientsync.KeyTopic: "topic",
}

// matchExpression builds the FTS5 query of words in columns: every word,
// as a whole word or a prefix, in one of the columns (wordTerm). It
// returns "" when a word begins no word of the index: nothing matches.
func matchExpression(r reader, words, keys []string) (string, error) {
	cols, err := searchKeyColumns(keys)
	if err != nil {
		return "", err
	}
	terms := make([]string, len(words))
	for i, w := range words {
		t, err := wordTerm(r, w)
		if err != nil || t == "" {
			return "", err
		}
		terms[i] = t
	}
	return "{" + cols + "} : (" + strings.Join(terms, " AND ") + ")", nil
}

// searchKeyColumns returns event_search's columns of the search keys.
func searchKeyColumns(keys []string) (string, error) {
	var cols []string
	for _, k := range keys {
		c, ok := searchColumns[k]
		if !ok {
			return "", invalid("unknown search key %q", k)
		}
		cols = append(cols, c)
	}
	return strings.Join(cols, " "), nil
}

// rankWindow is how many matches a search by rank orders at a time: the
// newest rankWindow matches (by the order events were stored in, which
// FTS5 walks without sorting, so the walk stops there) in rank order, then
// the next older rankWindow in rank order, and so on. A page of results
// costs the same however many events match, at the price of a window's
// best result coming before a better one that is older (a variable for
// tests).
var rankWindow = 500

// searchScope is the rooms searched, from a JSON array of [room ID, after,
// until] (?1): only events with a stream ordering in (after, until] count,
// a null bound being no bound. A room bounded above by until (the history
// before a join) is left out when it has no event of a searchable type
// there, found through events_room_stream: most such rooms have none, and
// an empty scope ends the search before the index is walked.
const searchScope = `WITH scope (room_nid, after, until) AS MATERIALIZED (
	SELECT r.room_nid, coalesce(j.value ->> 1, -4611686018427387904), coalesce(j.value ->> 2, 4611686018427387904)
	FROM json_each(?1) j JOIN rooms r ON r.room_id = j.value ->> 0
	WHERE j.value ->> 2 IS NULL OR EXISTS (SELECT 1 FROM events x
		WHERE x.room_nid = r.room_nid AND x.outlier = 0 AND x.stream_ordering <= j.value ->> 2
			AND x.type IN ` + sqlIndexedTypes + `))
`

// The scopes of a search of a user's own rooms (clientsync.MemberScope),
// read from local_current_membership for the user ?1 in place of
// searchScope. Those of all the rooms and of what follows the joins are
// not materialized: each match found is looked up in the user's
// memberships (its primary key), so a search costs the same in ten rooms
// or ten thousand. The history before the joins is, as searchScope's
// bounded rooms are: most rooms have no text before the join, and an
// empty scope ends the search before the index is walked.
const (
	memberScopeRooms = `WITH scope (room_nid, after, until) AS (
	SELECT l.room_nid, -4611686018427387904, 4611686018427387904 FROM local_current_membership l
	WHERE l.user_id = ?1 AND l.membership IN ('join', 'leave', 'ban'))
`
	memberScopeAfterJoin = `WITH scope (room_nid, after, until) AS (
	SELECT l.room_nid, j.stream_ordering, 4611686018427387904 FROM local_current_membership l
	JOIN events j ON j.event_nid = l.event_nid
	WHERE l.user_id = ?1 AND l.membership = 'join' AND j.stream_ordering > 0)
`
	// memberScopeBeforeJoinByMatch is memberScopeBeforeJoin looked up
	// match by match (clientsync.SearchQuery.ByMatch): every room of the
	// user, the joined ones bounded by the join.
	memberScopeBeforeJoinByMatch = `WITH scope (room_nid, after, until) AS (
	SELECT l.room_nid, -4611686018427387904,
		CASE WHEN l.membership = 'join' AND j.stream_ordering > 0 THEN j.stream_ordering ELSE 4611686018427387904 END
	FROM local_current_membership l JOIN events j ON j.event_nid = l.event_nid
	WHERE l.user_id = ?1 AND l.membership IN ('join', 'leave', 'ban'))
`
	memberScopeBeforeJoin = `WITH scope (room_nid, after, until) AS MATERIALIZED (
	SELECT l.room_nid, -4611686018427387904,
		CASE WHEN l.membership = 'join' AND j.stream_ordering > 0 THEN j.stream_ordering ELSE 4611686018427387904 END
	FROM local_current_membership l JOIN events j ON j.event_nid = l.event_nid
	WHERE l.user_id = ?1 AND (l.membership IN ('leave', 'ban') OR l.membership = 'join' AND (j.stream_ordering <= 0
		OR EXISTS (SELECT 1 FROM events x
			WHERE x.room_nid = l.room_nid AND x.outlier = 0 AND x.stream_ordering <= j.stream_ordering
				AND x.type IN ` + sqlIndexedTypes + `))))
`
)

// searchFrom walks the matches of ?2 first (CROSS JOIN keeps the planner
// from running the MATCH once per room) and keeps timeline events of the
// scope that no redaction targets.
const searchFrom = `FROM event_search CROSS JOIN events e ON e.event_nid = event_search.rowid
	CROSS JOIN scope s ON s.room_nid = e.room_nid
	WHERE EXISTS (SELECT 1 FROM scope) AND event_search MATCH ?2
		AND e.stream_ordering > s.after AND e.stream_ordering <= s.until
		AND ` + timelineVisible + `
		AND NOT EXISTS (SELECT 1 FROM redactions rd JOIN events re ON re.event_nid = rd.event_nid
			WHERE rd.redacts = e.event_id AND re.rejection_reason IS NULL)`

const (
	// sqlSearchRank ranks one window of matches, the ?5 after the newest
	// ?6 (rowid order), and gives its rows ?4 to ?4 + ?3 in rank order
	// with the number of matches in the window.
	sqlSearchRank = `, candidates AS MATERIALIZED (
		SELECT e.event_id, e.stream_ordering, search_rank(event_search, (SELECT block FROM event_search_data WHERE id = 1),
			(SELECT sz FROM event_search_docsize WHERE id = event_search.rowid)) AS rank ` + searchFrom + `
		ORDER BY event_search.rowid DESC LIMIT ?5 OFFSET ?6)
	SELECT event_id, rank, (SELECT count(*) FROM candidates) FROM candidates
	ORDER BY rank DESC, stream_ordering DESC LIMIT ?3 OFFSET ?4`
	sqlSearchRecent = `SELECT e.event_id, search_rank(event_search, (SELECT block FROM event_search_data WHERE id = 1),
			(SELECT sz FROM event_search_docsize WHERE id = event_search.rowid)) ` + searchFrom + `
		AND e.stream_ordering < ?3
	ORDER BY e.stream_ordering DESC LIMIT ?4`
	// sqlSearchCount counts matches not sent by the senders of ?3 (a
	// JSON array) and of a rowid above ?5, stopping at ?4 (searchcount.go,
	// searchcountcache.go).
	sqlSearchCount = `SELECT count(*) FROM (SELECT 1 ` + searchFrom + `
		AND event_search.rowid > ?5 AND e.sender NOT IN (SELECT value FROM json_each(?3)) LIMIT ?4)`
)

// searchSQL is the rank, recent (walk and sort: searchrecent.go) and
// count queries over one scope, and for a materialized scope that is
// usually empty, the query that says whether it is (empty, or "").
type searchSQL struct{ rank, cands, walk, recent, count, empty string }

func newSearchSQL(scope string) searchSQL {
	// The rank query adds a table to the WITH clause.
	return searchSQL{rank: scope + sqlSearchRank, cands: scope + sqlSearchCandidates, walk: scope + sqlSearchRecentWalk, recent: scope + sqlSearchRecent,
		count: scope + sqlSearchCount}
}

// withEmpty adds the emptiness query of a materialized scope: the search
// queries still walk the index's matches when their scope is empty, so a
// search of an empty one is answered without them. Most users' rooms have
// no text before their join (rooms they made).
func (q searchSQL) withEmpty(scope string) searchSQL {
	q.empty = scope + `SELECT NOT EXISTS (SELECT 1 FROM scope)`
	return q
}

// prepared lists the queries to prepare for a read: qs and the emptiness
// query, when there is one.
func (q searchSQL) prepared(qs ...string) []string {
	if q.empty != "" {
		qs = append(qs, q.empty)
	}
	return qs
}

// emptyScope reports whether the scope of queries is known to be empty.
func emptyScope(r reader, queries searchSQL, scope string) (bool, error) {
	if queries.empty == "" {
		return false, nil
	}
	var empty bool
	err := r.queryRow(queries.empty, scope).Scan(&empty)
	return empty, wrapErr("search scope", err)
}

var (
	searchRoomsSQL = newSearchSQL(searchScope)
	// searchMemberSQL is by clientsync.MemberScope.
	searchMemberSQL = []searchSQL{
		clientsync.ScopeMemberRooms: newSearchSQL(memberScopeRooms),
		clientsync.ScopeAfterJoin:   newSearchSQL(memberScopeAfterJoin),
		clientsync.ScopeBeforeJoin:  newSearchSQL(memberScopeBeforeJoin).withEmpty(memberScopeBeforeJoin),
	}
	searchBeforeJoinByMatchSQL = newSearchSQL(memberScopeBeforeJoinByMatch)
)

// searchScopeArg returns the queries of q's scope and their first
// argument: the member's user ID, or the rooms and bounds as JSON.
func searchScopeArg(q clientsync.SearchQuery) (searchSQL, string, error) {
	if q.Member == "" {
		scope, err := searchScopeJSON(q)
		return searchRoomsSQL, scope, err
	}
	if q.Scope < 0 || int(q.Scope) >= len(searchMemberSQL) {
		return searchSQL{}, "", fmt.Errorf("storage: search: unknown member scope %d", q.Scope)
	}
	if q.Scope == clientsync.ScopeBeforeJoin && q.ByMatch {
		return searchBeforeJoinByMatchSQL, q.Member, nil
	}
	return searchMemberSQL[q.Scope], q.Member, nil
}

// searchScopeJSON encodes q's rooms and stream bounds for searchScope.
func searchScopeJSON(q clientsync.SearchQuery) (string, error) {
	scope := make([][3]any, len(q.RoomIDs))
	for i, id := range q.RoomIDs {
		scope[i][0] = id
		if v, ok := q.After[id]; ok {
			scope[i][1] = v
		}
		if v, ok := q.Until[id]; ok {
			scope[i][2] = v
		}
	}
	b, err := json.Marshal(scope)
	return string(b), err
}

// searchHit is an event found, by ID, and its rank.
type searchHit struct {
	id   string
	rank float64
}

// SearchEvents finds events by their text; see clientsync.SearchStore.
func (s *EventStore) SearchEvents(ctx context.Context, q clientsync.SearchQuery) ([]clientsync.SearchHit, error) {
	if len(q.Words) == 0 || len(q.RoomIDs) == 0 && q.Member == "" || q.Limit <= 0 {
		return nil, nil
	}
	if _, err := searchKeyColumns(q.Keys); err != nil {
		return nil, err
	}
	queries, scope, err := searchScopeArg(q)
	if err != nil {
		return nil, err
	}
	// Read before the index is waited for and read, as for counts
	// (searchcountcache.go): a window kept is of this generation. The
	// read must begin after it, not in a transaction of the request's
	// read scope begun before a write that moved it.
	s.db.releaseScope(ctx)
	gen := s.db.search.counts.gen.Load()
	if err := s.db.waitSearchIndex(ctx); err != nil {
		return nil, err
	}
	var hits []clientsync.SearchHit
	err = s.read(ctx, queries.prepared(sqlPrefixTerms, queries.rank, queries.cands, queries.walk, queries.recent, sqlSearchLate,
		sqlAnyBackfilled, sqlEventsByID, sqlSearchHighRowid, sqlSearchAverages), func(r reader) error {
		if empty, err := emptyScope(r, queries, scope); err != nil || empty {
			return err
		}
		match, err := matchExpression(r, q.Words, q.Keys)
		if err != nil || match == "" {
			return err
		}
		var found []searchHit
		if q.Recent {
			before := q.Before
			if before == 0 {
				before = 1 << 62
			}
			found, err = searchRecent(r, queries, scope, match, before, q.Limit)
		} else {
			ok := false
			if q.Offset < rankWindow && keepSearchWindows {
				found, ok, err = s.searchFirstWindow(r, queries, scope, match, gen, q.Offset, q.Limit)
			}
			if err == nil && !ok {
				found, err = searchByRank(r, queries.rank, scope, match, q.Offset, q.Limit)
			}
		}
		if err != nil || len(found) == 0 {
			return err
		}
		ids := make([]string, len(found))
		for i, h := range found {
			ids[i] = h.id
		}
		js, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		evs, err := queryEvents(r, sqlEventsByID, string(js))
		if err != nil {
			return err
		}
		byID := make(map[string]*core.StoredEvent, len(evs))
		for _, ev := range evs {
			byID[ev.EventID] = ev
		}
		for _, h := range found {
			if ev := byID[h.id]; ev != nil {
				hits = append(hits, clientsync.SearchHit{Event: ev, Rank: h.rank})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return hits, nil
}

// searchByRank returns limit matches from offset in rank order, window by
// window (rankWindow): a page that runs past the end of one window goes on
// in the next.
func searchByRank(r reader, query, scope, match string, offset, limit int) ([]searchHit, error) {
	var out []searchHit
	for len(out) < limit {
		start := offset - offset%rankWindow
		found, window, err := searchRows(r, query, scope, match, limit-len(out), offset-start, rankWindow, start)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
		offset += len(found)
		if len(found) == 0 || window < rankWindow {
			break // the oldest window
		}
	}
	return out, nil
}

// searchRows runs a search query whose rows are an event ID and a rank,
// and for the rank query the number of matches in its window.
func searchRows(r reader, query string, args ...any) ([]searchHit, int, error) {
	rows, err := r.query(query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("storage: search: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, 0, fmt.Errorf("storage: search: %w", err)
	}
	var out []searchHit
	window := 0
	for rows.Next() {
		var h searchHit
		dest := []any{&h.id, &h.rank, &window}
		if err := rows.Scan(dest[:len(cols)]...); err != nil {
			return nil, 0, fmt.Errorf("storage: search: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("storage: search: %w", err)
	}
	return out, window, nil
}
