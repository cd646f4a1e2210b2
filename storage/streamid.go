package storage

import (
	"context"
	"fmt"
)

// Stream names in stream_positions.
const (
	// StreamEvents numbers live events 1, 2, 3, ...
	StreamEvents = "events"
	// StreamBackfill numbers backfilled events -1, -2, -3, ...
	StreamBackfill = "backfill"
)

// StreamIDs is a stream id generator (seed 000's id_generators) on the
// stream_positions table. Ids are taken inside the write transaction that
// uses them: under the single writer no two transactions interleave, a
// rolled-back write gives its ids back, and a reopened database continues
// from what was committed. A read transaction sees exactly the events up to
// the position it reads.
type StreamIDs struct {
	Name string
	// Step is +1 for a stream counting up, -1 for one counting down.
	Step int64
}

var (
	liveStream     = StreamIDs{Name: StreamEvents, Step: 1}
	backfillStream = StreamIDs{Name: StreamBackfill, Step: -1}
)

// Next reserves n ids and returns the first; the others follow by Step.
// q must be the writer's transaction: once it commits, the writer
// publishes the stream's new position (streampositions.go) and calls
// Options.StreamAdvanced.
func (s StreamIDs) Next(ctx context.Context, q Queryer, n int) (int64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("storage: stream %s: reserving %d ids", s.Name, n)
	}
	w, isWriter := q.(writerQueryer)
	if isWriter && w.advanced != nil {
		*w.advanced = true
	}
	keys := writerKeysOf(q)
	var last int64
	known := false
	if top, ok := keys.streamOf(s.Name); ok {
		// The writer knows the stream's last id (writerkeys.go); the
		// update is guarded by it, so that a position another writer
		// moved (none should: the data folder's lock, the tab's owner
		// lock) is read again, never set back.
		last = top + s.Step*int64(n)
		res, err := q.ExecContext(ctx, sqlStreamSet, last, s.Name, top)
		if err != nil {
			return 0, fmt.Errorf("storage: stream %s: %w", s.Name, err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("storage: stream %s: %w", s.Name, err)
		}
		known = k == 1
	}
	if !known {
		err := q.QueryRowContext(ctx, sqlStreamNext, s.Step*int64(n), s.Name).Scan(&last)
		if err != nil {
			return 0, fmt.Errorf("storage: stream %s: %w", s.Name, err)
		}
	}
	if keys != nil {
		keys.setStream(s.Name, last)
	}
	if isWriter && w.taken != nil {
		*w.taken = append(*w.taken, streamTaken{s.Name, last})
	}
	return last - s.Step*int64(n-1), nil
}

// sqlStreamNext moves a stream by ?1 and returns its new last id;
// sqlStreamSet sets it to ?1 where the writer knows the last one, ?3, and
// changes no row when the stored one is not that.
const (
	sqlStreamNext = "UPDATE stream_positions SET stream_id = stream_id + ? WHERE stream_name = ? RETURNING stream_id"
	sqlStreamSet  = "UPDATE stream_positions SET stream_id = ?1 WHERE stream_name = ?2 AND stream_id = ?3"
)

// Current returns the last id given out (0 when none).
func (s StreamIDs) Current(ctx context.Context, q Queryer) (int64, error) {
	var cur int64
	err := q.QueryRowContext(ctx, "SELECT stream_id FROM stream_positions WHERE stream_name = ?", s.Name).Scan(&cur)
	if err != nil {
		return 0, fmt.Errorf("storage: stream %s: %w", s.Name, err)
	}
	return cur, nil
}
