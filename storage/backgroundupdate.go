package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"
)

// BackgroundUpdate does one batch of a long data migration (seed 000's
// background updates). It gets the progress saved by the previous batch
// ("{}" at first) and a batch size, does at most that many items inside the
// writer transaction q, and returns the new progress, how many items it
// did, and whether the update is complete. The runner saves the progress in
// the same transaction, so a batch is either fully done and recorded or not
// done at all; an update stopped half-way resumes from its last batch.
type BackgroundUpdate func(ctx context.Context, q Queryer, progress json.RawMessage, batchSize int) (next json.RawMessage, items int, done bool, err error)

// BackgroundUpdates runs the updates listed in the background_updates table,
// one batch at a time, sizing batches so each takes about Target.
type BackgroundUpdates struct {
	db       *DB
	handlers map[string]BackgroundUpdate
	log      *slog.Logger

	// Target is the duration a batch should take (default 100ms).
	Target time.Duration
	// MinBatch and MaxBatch bound the batch size (defaults 1 and 100,000).
	MinBatch, MaxBatch int

	mu     sync.Mutex
	status map[string]*UpdateStatus
}

// UpdateStatus is the runner's view of one update.
type UpdateStatus struct {
	Name      string
	Progress  json.RawMessage
	DependsOn string
	BatchSize int
	Items     int           // items done since this process started it
	Elapsed   time.Duration // time spent in batches since this process started it
}

// NewBackgroundUpdates makes a runner for db, with the handlers of
// storage's own updates. Register other handlers before Run.
func NewBackgroundUpdates(db *DB) *BackgroundUpdates {
	b := &BackgroundUpdates{
		db: db, handlers: map[string]BackgroundUpdate{}, log: db.log,
		Target: 100 * time.Millisecond, MinBatch: 1, MaxBatch: 100_000,
		status: map[string]*UpdateStatus{},
	}
	maps.Copy(b.handlers, builtinUpdates)
	return b
}

// Register sets the code that runs the update called name.
func (b *BackgroundUpdates) Register(name string, fn BackgroundUpdate) {
	b.handlers[name] = fn
}

// Schedule adds an update to the table (a delta normally does this in SQL:
// INSERT INTO background_updates ...). Scheduling one that exists is a no-op.
func (b *BackgroundUpdates) Schedule(ctx context.Context, name, dependsOn string, ordering int) error {
	return b.db.Write(ctx, func(q Queryer) error {
		var dep any
		if dependsOn != "" {
			dep = dependsOn
		}
		_, err := q.ExecContext(ctx,
			`INSERT INTO `+b.db.mainSchema+`.background_updates (update_name, progress_json, depends_on, ordering)
			 VALUES (?, '{}', ?, ?) ON CONFLICT (update_name) DO NOTHING`, name, dep, ordering)
		return err
	})
}

// PendingUpdate is a row of background_updates.
type PendingUpdate struct {
	Name      string
	Progress  json.RawMessage
	DependsOn string
	Ordering  int
}

// PendingUpdates lists the updates not yet complete, in the order they run.
func (db *DB) PendingUpdates(ctx context.Context) ([]PendingUpdate, error) {
	var out []PendingUpdate
	err := db.Read(ctx, func(q Queryer) error {
		rows, err := q.QueryContext(ctx,
			`SELECT update_name, progress_json, coalesce(depends_on, ''), ordering
			 FROM `+db.mainSchema+`.background_updates ORDER BY ordering, update_name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p PendingUpdate
			var prog string
			if err := rows.Scan(&p.Name, &prog, &p.DependsOn, &p.Ordering); err != nil {
				return err
			}
			p.Progress = json.RawMessage(prog)
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

// Status returns what the runner knows of the updates it has worked on.
func (b *BackgroundUpdates) Status() []UpdateStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]UpdateStatus, 0, len(b.status))
	for _, s := range b.status {
		out = append(out, *s)
	}
	return out
}

// ErrNoHandler is returned by Run when a pending update has no registered
// code (a database from a newer hearth, or a removed update).
var ErrNoHandler = errors.New("background update has no handler")

// Run works through the pending updates until none is left or ctx ends.
// Stopping it (cancelling ctx) between or during batches loses nothing: the
// batch in flight is either committed with its progress or not at all.
func (b *BackgroundUpdates) Run(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		pending, err := b.db.PendingUpdates(ctx)
		if err != nil {
			return err
		}
		next, ok := runnable(pending)
		if !ok {
			if len(pending) > 0 {
				return fmt.Errorf("background updates: %q waits on %q, which is not scheduled", pending[0].Name, pending[0].DependsOn)
			}
			return nil
		}
		fn := b.handlers[next.Name]
		if fn == nil {
			return fmt.Errorf("%w: %q", ErrNoHandler, next.Name)
		}
		if err := b.runOne(ctx, next, fn); err != nil {
			return err
		}
	}
}

// runnable picks the first update whose dependency is complete.
func runnable(pending []PendingUpdate) (PendingUpdate, bool) {
	names := map[string]bool{}
	for _, p := range pending {
		names[p.Name] = true
	}
	for _, p := range pending {
		if p.DependsOn == "" || !names[p.DependsOn] {
			return p, true
		}
	}
	return PendingUpdate{}, false
}

func (b *BackgroundUpdates) runOne(ctx context.Context, u PendingUpdate, fn BackgroundUpdate) error {
	b.mu.Lock()
	st := b.status[u.Name]
	if st == nil {
		st = &UpdateStatus{Name: u.Name, DependsOn: u.DependsOn, BatchSize: b.MinBatch * 100}
		st.BatchSize = min(max(st.BatchSize, b.MinBatch), b.MaxBatch)
		b.status[u.Name] = st
	}
	st.Progress = u.Progress
	b.mu.Unlock()
	b.log.Info("background update started", "update", u.Name, "progress", string(u.Progress))

	progress := u.Progress
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := st.BatchSize
		start := time.Now()
		var items int
		var done bool
		err := b.db.Write(ctx, func(q Queryer) error {
			next, n, d, err := fn(ctx, q, progress, batch)
			if err != nil {
				return err
			}
			if d {
				_, err = q.ExecContext(ctx, "DELETE FROM "+b.db.mainSchema+".background_updates WHERE update_name = ?", u.Name)
			} else {
				if len(next) == 0 || !json.Valid(next) {
					return fmt.Errorf("progress is not JSON: %q", next)
				}
				_, err = q.ExecContext(ctx, "UPDATE "+b.db.mainSchema+".background_updates SET progress_json = ? WHERE update_name = ?", string(next), u.Name)
			}
			if err != nil {
				return err
			}
			progress, items, done = next, n, d
			return nil
		})
		if err != nil {
			return fmt.Errorf("background update %q: %w", u.Name, err)
		}
		took := time.Since(start)
		b.mu.Lock()
		st.Items += items
		st.Elapsed += took
		st.Progress = progress
		st.BatchSize = b.nextBatch(batch, items, took)
		b.mu.Unlock()
		b.log.Debug("background update batch", "update", u.Name, "items", items, "took", took, "next_batch", st.BatchSize)
		if done {
			b.log.Info("background update complete", "update", u.Name, "items", st.Items, "took", st.Elapsed)
			return nil
		}
	}
}

// nextBatch scales the batch size so the next batch takes about Target,
// changing by at most a factor of two at a time to ride out noise.
func (b *BackgroundUpdates) nextBatch(batch, items int, took time.Duration) int {
	if items <= 0 || took <= 0 {
		return min(max(batch*2, b.MinBatch), b.MaxBatch)
	}
	perItem := took / time.Duration(items)
	want := int(b.Target / max(perItem, time.Nanosecond))
	want = min(max(want, batch/2), batch*2)
	return min(max(want, b.MinBatch), b.MaxBatch)
}
