package storage

import (
	"cmp"
	"database/sql"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
)

// A search by rank orders the newest rankWindow matches of its scope
// (search.go). Ranking them cost a read of every one (its event, the
// user's membership of its room, the redactions, its size in the index)
// on every search, while from one search of the same words to the next
// only the matches indexed in between are new. The first window of a
// query is kept: each match's event ID, stream ordering, rowid, size and
// occurrences of each phrase, with the highest rowid the index held. The
// next search of the same match expression in the same scope reads only
// the matches above that rowid, keeps the newest rankWindow of the two,
// and ranks them again in Go with the same bm25 as the SQL function and
// the index's current average size: the page is the one the SQL ranking
// gives.
//
// What is kept goes with the counts' generation (searchcountcache.go),
// whose writes are those that change what is indexed or who sees it; a
// membership that puts a room holding indexed events in the scopes of the
// user's rooms from outside them (none, an invite, a knock: a first join,
// an invite accepted or rejected) is one of them here (such a scope takes
// the room in whole). A new word
// in the vocabulary that a search word begins changes the match
// expression, and so the key: such a search ranks afresh.

// keepSearchWindows is false only in tests, which compare the pages of
// the windows kept with those ranked in SQL.
var keepSearchWindows = true

// maxKeptRanks bounds the windows kept (each up to rankWindow matches).
const maxKeptRanks = 64

// rankKey is what a window depends on besides the index.
type rankKey struct {
	queries, scope, match string
}

// rankCand is a match of a window, with what its rank is made of.
type rankCand struct {
	id     string
	stream int64
	rowid  int64
	size   uint64
	freq   []float64
}

// rankEntry is a window at a generation: the newest matches (rowid
// descending, at most rankWindow) of those up to rowid hw.
type rankEntry struct {
	gen    uint64
	hw     int64
	window []rankCand
}

// searchRanks is the windows kept.
type searchRanks struct {
	mu sync.Mutex
	m  map[rankKey]rankEntry
}

func (c *searchRanks) get(k rankKey, gen uint64) (rankEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || e.gen != gen {
		return rankEntry{}, false
	}
	return e, true
}

func (c *searchRanks) put(k rankKey, e rankEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxKeptRanks {
		c.m = map[rankKey]rankEntry{}
	}
	c.m[k] = e
}

const (
	// sqlSearchCandidates gives the matches of a rowid above ?3, newest
	// rowid first, at most ?4, with their stream orderings, rowids, sizes
	// and occurrences of each phrase.
	sqlSearchCandidates = `SELECT e.event_id, e.stream_ordering, event_search.rowid,
		(SELECT sz FROM event_search_docsize WHERE id = event_search.rowid), search_freqs(event_search) ` + searchFrom + `
		AND event_search.rowid > ?3
	ORDER BY event_search.rowid DESC LIMIT ?4`
	// sqlSearchAverages reads the index's row count and tokens per column.
	sqlSearchAverages = `SELECT coalesce((SELECT block FROM event_search_data WHERE id = 1), x'')`
)

// searchFirstWindow returns the matches from offset to offset + limit of
// the first window in rank order, through the window kept for the query,
// and false when the page runs past a full first window (the caller ranks
// the windows in SQL then).
func (s *EventStore) searchFirstWindow(r reader, queries searchSQL, scope, match string, gen uint64, offset, limit int) ([]searchHit, bool, error) {
	key := rankKey{queries: queries.rank, scope: scope, match: match}
	var hw int64
	if err := r.queryRow(sqlSearchHighRowid).Scan(&hw); err != nil {
		return nil, false, wrapErr("search", err)
	}
	kept, _ := s.db.search.ranks.get(key, gen)
	if kept.hw > hw {
		// Kept by a search that read more of the index than this read
		// sees (it began later): kept again with hw, its newer matches
		// would be read again as fresh by the next search. Rank afresh.
		kept = rankEntry{}
	}
	fresh, err := rankCandidates(r, queries.cands, scope, match, kept.hw)
	if err != nil {
		return nil, false, err
	}
	// Fresh ones are all above the kept window's rowids. The kept slice
	// is shared with other searches: it is read, never written.
	window := kept.window[:min(len(kept.window), rankWindow)]
	if len(fresh) > 0 {
		window = fresh
		if len(fresh) < rankWindow {
			window = append(fresh, kept.window[:min(len(kept.window), rankWindow-len(fresh))]...)
		}
	}
	s.db.search.ranks.put(key, rankEntry{gen: gen, hw: hw, window: window})
	if offset+limit > rankWindow && len(window) == rankWindow {
		return nil, false, nil
	}
	var block []byte
	if err := r.queryRow(sqlSearchAverages).Scan(&block); err != nil {
		return nil, false, wrapErr("search", err)
	}
	avg := averageSize(block)
	ranks := make([]float64, len(window))
	order := make([]int, len(window))
	for i, c := range window {
		ranks[i] = bm25(c.freq, c.size, avg)
		order[i] = i
	}
	// As sqlSearchRank orders: rank, then the newer first. (Indexes: the
	// browser build has a sort for ints already, not one more per struct.)
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(ranks[b], ranks[a]); c != 0 {
			return c
		}
		return cmp.Compare(window[b].stream, window[a].stream)
	})
	var out []searchHit
	for _, i := range order[min(offset, len(order)):min(offset+limit, len(order))] {
		out = append(out, searchHit{id: window[i].id, rank: ranks[i]})
	}
	return out, true, nil
}

// rankCandidates reads the matches of a rowid above after, newest first,
// at most rankWindow.
func rankCandidates(r reader, query, scope, match string, after int64) ([]rankCand, error) {
	rows, err := r.query(query, scope, match, after, rankWindow)
	if err != nil {
		return nil, fmt.Errorf("storage: search: %w", err)
	}
	defer rows.Close()
	var out []rankCand
	var freqAll []float64 // every candidate's counts, in one array
	var docsize, freqs sql.RawBytes
	for rows.Next() {
		var c rankCand
		if err := rows.Scan(&c.id, &c.stream, &c.rowid, &docsize, &freqs); err != nil {
			return nil, fmt.Errorf("storage: search: %w", err)
		}
		c.size = rowSize(docsize)
		start := len(freqAll)
		for b := []byte(freqs); len(b) > 0; {
			f, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, fmt.Errorf("storage: search: bad phrase counts")
			}
			freqAll = append(freqAll, float64(f))
			b = b[n:]
		}
		c.freq = freqAll[start:len(freqAll):len(freqAll)]
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: search: %w", err)
	}
	return out, nil
}
