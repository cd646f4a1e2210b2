package storage

import (
	"context"
	"encoding/json"
	"fmt"
)

// updateStripEventJSON is the background update (delta 2/76) that
// rewrites event JSON stored whole before delta 2/75 into the stripped
// form of eventjson.go, in event_nid order. Rows whose JSON cannot be
// stripped stay as they are; reads treat both forms alike, so the update
// may stop and resume anywhere.
const updateStripEventJSON = "event_json_strip"

func init() {
	builtinUpdates[updateStripEventJSON] = stripStoredEventJSON
}

const (
	sqlWholeEventJSON = `
	SELECT j.event_nid, ` + eventJSONColumns + `
	FROM event_json j JOIN events e ON e.event_nid = j.event_nid JOIN rooms r ON r.room_nid = e.room_nid` + eventJSONJoin + `
	WHERE j.event_nid > ? AND j.stripped = 0
	ORDER BY j.event_nid LIMIT ?`
	sqlStripEventJSON = "UPDATE event_json SET json = ?, stripped = ? WHERE event_nid = ? AND stripped = 0"
)

func stripStoredEventJSON(ctx context.Context, q Queryer, progress json.RawMessage, batchSize int) (json.RawMessage, int, bool, error) {
	var p struct {
		Last int64 `json:"last_event_nid"`
	}
	if err := json.Unmarshal(progress, &p); err != nil {
		return nil, 0, false, fmt.Errorf("progress %s: %w", progress, err)
	}
	rows, err := q.QueryContext(ctx, sqlWholeEventJSON, p.Last, batchSize)
	if err != nil {
		return nil, 0, false, err
	}
	type rewrite struct {
		nid      int64
		js       string
		stripped int
	}
	var todo []rewrite
	n := 0
	for rows.Next() {
		var nid int64
		var ev storedEventJSON
		if err := rows.Scan(append([]any{&nid}, ev.dest()...)...); err != nil {
			rows.Close()
			return nil, 0, false, err
		}
		n++
		p.Last = nid
		if ev.stateKey.Valid {
			ev.f.StateKey = &ev.stateKey.String
		}
		if js, stripped := stripEventJSON([]byte(ev.js), &ev.f); stripped != 0 {
			todo = append(todo, rewrite{nid, js, stripped})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, false, err
	}
	for _, r := range todo {
		if _, err := q.ExecContext(ctx, sqlStripEventJSON, r.js, r.stripped, r.nid); err != nil {
			return nil, 0, false, fmt.Errorf("event %d: %w", r.nid, err)
		}
	}
	next, _ := json.Marshal(p)
	return next, n, n < batchSize, nil
}
