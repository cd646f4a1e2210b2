package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/ext/fts5"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// The full-text index (event_search) is an FTS5 table, filled by the
// triggers of the main schema. FTS5 is an extension in this SQLite build
// (the same translated module natively and in the browser), so every
// connection the package opens registers it.
func init() {
	sqlite3.AutoExtension(fts5.Register)
}

var _ clientsync.SearchStore = (*EventStore)(nil)

// searchColumns maps the search keys to event_search's columns.
var searchColumns = map[string]string{
	clientsync.KeyBody:  "body",
	clientsync.KeyName:  "name",
	clientsync.KeyTopic: "topic",
}

// matchExpression builds the FTS5 query of words in columns: every word,
// as a whole word or a prefix, in one of the columns. Words hold letters
// and digits only (clientsync.SearchWords), but are quoted all the same.
func matchExpression(words, keys []string) (string, error) {
	var cols []string
	for _, k := range keys {
		c, ok := searchColumns[k]
		if !ok {
			return "", invalid("unknown search key %q", k)
		}
		cols = append(cols, c)
	}
	terms := make([]string, len(words))
	for i, w := range words {
		// SQLite reads the query as a C string: a NUL would end it.
		w = strings.ReplaceAll(w, "\x00", "")
		terms[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"*`
	}
	return "{" + strings.Join(cols, " ") + "} : (" + strings.Join(terms, " AND ") + ")", nil
}

// searchWhere restricts matches to timeline events of the rooms (a JSON
// array of room IDs) that no redaction targets.
const searchWhere = `
	WHERE event_search MATCH ?
		AND e.room_nid IN (SELECT room_nid FROM rooms WHERE room_id IN (SELECT value FROM json_each(?)))
		AND ` + timelineVisible + `
		AND NOT EXISTS (SELECT 1 FROM redactions rd JOIN events re ON re.event_nid = rd.event_nid
			WHERE rd.redacts = e.event_id AND re.rejection_reason IS NULL)`

const (
	sqlSearchRank = `SELECT e.event_id, -bm25(event_search) FROM event_search
	JOIN events e ON e.event_nid = event_search.rowid` + searchWhere + `
	ORDER BY bm25(event_search), e.stream_ordering DESC LIMIT ? OFFSET ?`
	sqlSearchRecent = `SELECT e.event_id, -bm25(event_search) FROM event_search
	JOIN events e ON e.event_nid = event_search.rowid` + searchWhere + `
		AND e.stream_ordering < ?
	ORDER BY e.stream_ordering DESC LIMIT ?`
)

// SearchEvents finds events by their text; see clientsync.SearchStore.
func (s *EventStore) SearchEvents(ctx context.Context, q clientsync.SearchQuery) ([]clientsync.SearchHit, error) {
	if len(q.Words) == 0 || len(q.RoomIDs) == 0 || q.Limit <= 0 {
		return nil, nil
	}
	match, err := matchExpression(q.Words, q.Keys)
	if err != nil {
		return nil, err
	}
	rooms, err := json.Marshal(q.RoomIDs)
	if err != nil {
		return nil, err
	}
	var hits []clientsync.SearchHit
	err = s.read(ctx, []string{sqlSearchRank, sqlSearchRecent, sqlEventsByID}, func(r reader) error {
		var rows *sql.Rows
		var err error
		if q.Recent {
			before := q.Before
			if before == 0 {
				before = 1 << 62
			}
			rows, err = r.query(sqlSearchRecent, match, string(rooms), before, q.Limit)
		} else {
			rows, err = r.query(sqlSearchRank, match, string(rooms), q.Limit, q.Offset)
		}
		if err != nil {
			return fmt.Errorf("storage: search: %w", err)
		}
		var ids []string
		rank := map[string]float64{}
		for rows.Next() {
			var id string
			var rk float64
			if err := rows.Scan(&id, &rk); err != nil {
				rows.Close()
				return fmt.Errorf("storage: search: %w", err)
			}
			ids = append(ids, id)
			rank[id] = rk
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("storage: search: %w", err)
		}
		if len(ids) == 0 {
			return nil
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
		for _, id := range ids {
			if ev := byID[id]; ev != nil {
				hits = append(hits, clientsync.SearchHit{Event: ev, Rank: rank[id]})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return hits, nil
}
