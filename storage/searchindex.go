package storage

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// The full-text index (event_search) is written in batches after the
// events' own commits, not inside them: a send's transaction would
// otherwise carry FTS5's segment flush and merges for one message each
// time. Every commit that stores events counts one (searchIndex.written);
// after searchIndexBatch of them, or searchIndexDelay after the first, the
// writer indexes everything stored since the last batch in one transaction
// (indexSearch). A search first waits until the index has caught up with
// every commit made before it started (waitSearchIndex), so a message whose
// send returned is found by any search begun after it.
//
// What is indexed is durable: stream_positions holds, beside the events'
// streams, the last live and the last backfilled stream ordering indexed
// ('search_index', 'search_index_backfill'), moved in the same transaction
// as the index. Stream orderings are never given out twice, so a crash
// between an event's commit and its indexing leaves it above the mark, and
// the first batch after the next start (one is due searchIndexDelay after
// opening, and any search runs one first) indexes it.
//
// The batch reads the events' JSON as it is when it runs: an event redacted
// or purged before its batch is indexed as redacted, or not at all.

const (
	// searchIndexBatch is how many commits with events are indexed
	// together at most before a batch is started.
	searchIndexBatch = 64
	// searchIndexDelay is how long stored events wait at most for their
	// batch when fewer arrive.
	searchIndexDelay = 200 * time.Millisecond
)

// searchIndex counts the commits not yet indexed and schedules batches.
type searchIndex struct {
	// written counts commits that stored events (the writer goroutine
	// adds, after COMMIT and before the writes' callers are told).
	written atomic.Uint64
	// indexed is the value of written that the index has caught up with.
	indexed atomic.Uint64
	// paused stops batches in the background (tests, to leave events
	// unindexed); searches still index what they need.
	paused atomic.Bool

	mu sync.Mutex
	// delay replaces searchIndexDelay when set (tests, to see the batch
	// that a count of commits starts on its own).
	delay time.Duration
	// running is set while a batch is queued or running; timer is the
	// armed delay, nil when none is.
	running bool
	timer   *time.Timer

	// counts keeps searches' counts (searchcountcache.go), ranks their
	// first windows (searchrankcache.go).
	counts searchCounts
	ranks  searchRanks
}

// startSearchIndex treats the index as behind when the database opens (a
// crash may have left committed events unindexed) and arms the first
// batch.
func (db *DB) startSearchIndex() {
	db.search.written.Store(1)
	db.search.indexed.Store(0)
	db.scheduleSearchIndex(db.search.wait())
}

// wait is how long stored events wait at most for their batch.
func (s *searchIndex) wait() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delay > 0 {
		return s.delay
	}
	return searchIndexDelay
}

// searchCommitted is called by the writer after a commit that stored
// events: a batch is started when enough wait, else armed.
func (db *DB) searchCommitted() {
	n := db.search.written.Add(1)
	if n-db.search.indexed.Load() >= searchIndexBatch {
		db.scheduleSearchIndex(0)
	} else {
		db.scheduleSearchIndex(db.search.wait())
	}
}

// scheduleSearchIndex starts a batch after delay unless one is running or
// armed (a due batch replaces an armed delay).
func (db *DB) scheduleSearchIndex(delay time.Duration) {
	s := &db.search
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running || s.paused.Load() {
		return
	}
	if s.timer != nil {
		if delay > 0 || !s.timer.Stop() {
			return
		}
	}
	run := func() {
		s.mu.Lock()
		s.timer = nil
		if s.paused.Load() {
			s.mu.Unlock()
			return
		}
		s.running = true
		s.mu.Unlock()
		err := db.indexSearch(context.Background())
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
		if err != nil && err != ErrClosed {
			db.log.Warn("storage: full-text index batch failed; the next search or batch retries", "err", err)
		}
		// Commits made while the batch ran are left: the next commit or
		// search takes them (searchCommitted arms a delay for them).
		if db.search.written.Load() != db.search.indexed.Load() && err == nil {
			db.scheduleSearchIndex(db.search.wait())
		}
	}
	s.timer = time.AfterFunc(delay, run)
}

// waitSearchIndex returns once every event committed before it was called
// is in the full-text index.
func (db *DB) waitSearchIndex(ctx context.Context) error {
	if db.search.written.Load() == db.search.indexed.Load() {
		return nil
	}
	return db.indexSearch(ctx)
}

// indexSearch indexes, in one write, every event stored since the last
// batch.
func (db *DB) indexSearch(ctx context.Context) error {
	var upTo uint64
	err := db.Write(ctx, func(q Queryer) error {
		// Every commit counted so far is visible to this write: the
		// writer counts them after COMMIT, and runs this after.
		upTo = db.search.written.Load()
		// The index and its positions: no work for the federation sender.
		noteOutboundIdle(q)
		return indexStoredEvents(ctx, q)
	})
	if err != nil {
		return err
	}
	for {
		cur := db.search.indexed.Load()
		if cur >= upTo || db.search.indexed.CompareAndSwap(cur, upTo) {
			return nil
		}
	}
}

// sqlSearchPositions reads the streams' positions and what of them the
// index holds.
const sqlSearchPositions = `SELECT
	(SELECT stream_id FROM stream_positions WHERE stream_name = 'events'),
	(SELECT stream_id FROM stream_positions WHERE stream_name = 'search_index'),
	(SELECT stream_id FROM stream_positions WHERE stream_name = 'backfill'),
	(SELECT stream_id FROM stream_positions WHERE stream_name = 'search_index_backfill')`

// sqlIndexEvents indexes the text of the events with stream orderings in
// [?1, ?2]: m.room.message bodies, m.room.name names and m.room.topic
// topics (content.topic and the text/plain m.topic), rowid = event_nid.
const sqlIndexEvents = `INSERT INTO event_search (rowid, body, name, topic)
	SELECT t.event_nid, t.body, t.name, t.topic FROM (
		SELECT e.event_nid,
			CASE WHEN e.type = 'm.room.message' AND json_type(j.json, '$.content.body') = 'text'
				THEN json_extract(j.json, '$.content.body') END AS body,
			CASE WHEN e.type = 'm.room.name' AND json_type(j.json, '$.content.name') = 'text'
				THEN json_extract(j.json, '$.content.name') END AS name,
			CASE WHEN e.type = 'm.room.topic' THEN nullif(concat_ws(' ',
				CASE WHEN json_type(j.json, '$.content.topic') = 'text' THEN json_extract(j.json, '$.content.topic') END,
				(SELECT b FROM (SELECT CASE WHEN m.type = 'object' THEN
						CASE WHEN json_type(m.value, '$.body') = 'text'
							AND coalesce(json_extract(m.value, '$.mimetype'), 'text/plain') = 'text/plain'
						THEN json_extract(m.value, '$.body') END END AS b
					FROM json_each(j.json, '$.content."m.topic"."m.text"') m)
				WHERE b IS NOT NULL LIMIT 1)), '') END AS topic
		FROM events e CROSS JOIN event_json j ON j.event_nid = e.event_nid
		WHERE e.stream_ordering BETWEEN ?1 AND ?2
			AND e.type IN ` + sqlIndexedTypes + `
			AND json_valid(j.json)
	) t
	WHERE t.body IS NOT NULL OR t.name IS NOT NULL OR t.topic IS NOT NULL`

// sqlMoveSearchPositions records what the index holds.
const sqlMoveSearchPositions = `UPDATE stream_positions SET stream_id = CASE stream_name
	WHEN 'search_index' THEN ?1 ELSE ?2 END
	WHERE stream_name IN ('search_index', 'search_index_backfill')`

// indexStoredEvents indexes the events stored since the index's positions,
// live and backfilled, and moves the positions, on the writer's q.
func indexStoredEvents(ctx context.Context, q Queryer) error {
	var live, liveDone, back, backDone int64
	if err := q.QueryRowContext(ctx, sqlSearchPositions).Scan(&live, &liveDone, &back, &backDone); err != nil {
		return fmt.Errorf("storage: full-text index positions: %w", err)
	}
	if live == liveDone && back == backDone {
		return nil
	}
	if live > liveDone {
		if _, err := q.ExecContext(ctx, sqlIndexEvents, liveDone+1, live); err != nil {
			return fmt.Errorf("storage: full-text index: %w", err)
		}
	}
	if back < backDone {
		if _, err := q.ExecContext(ctx, sqlIndexEvents, back, backDone-1); err != nil {
			return fmt.Errorf("storage: full-text index (backfilled): %w", err)
		}
	}
	if _, err := q.ExecContext(ctx, sqlMoveSearchPositions, live, back); err != nil {
		return fmt.Errorf("storage: full-text index positions: %w", err)
	}
	return nil
}

// noteEventsStored records on the writer's q that the write stores events,
// so the writer counts its commit for the full-text index.
func noteEventsStored(q Queryer) {
	if w, ok := q.(writerQueryer); ok && w.events != nil {
		*w.events = true
	}
}

// sqlIndexedTypes lists, for SQL's IN, the event types whose text the
// full-text index holds (searchIndexed says the same in Go).
const sqlIndexedTypes = `('m.room.message', 'm.room.name', 'm.room.topic')`

// searchIndexed reports whether events of type evType have text in the
// full-text index (sqlIndexedTypes).
func searchIndexed(evType string) bool {
	switch evType {
	case "m.room.message", "m.room.name", "m.room.topic":
		return true
	}
	return false
}
