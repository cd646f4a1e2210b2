package hearth

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"hearth.dev/hearth/storage"
)

const (
	// pushPruneInterval is the time between runs of the read notification
	// pruning; the first run comes pushPruneFirst after start.
	pushPruneInterval = time.Hour
	pushPruneFirst    = 5 * time.Minute
	// pushPruneBatch bounds one write of the pruning.
	pushPruneBatch = 1000
)

// startPushActionPruning deletes, every pushPruneInterval until Close,
// the read notifications older than storage.ReadPushActionRetention (as
// Synapse clears read push actions), in writes of pushPruneBatch rows
// with rests between them.
func (hs *Homeserver) startPushActionPruning(log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	hs.stopPushPruning = func() { cancel(); <-done }
	notes := storage.NewNotificationStore(hs.db)
	go func() {
		defer close(done)
		wait := pushPruneFirst
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = pushPruneInterval
			n, err := prunePushActions(ctx, notes, time.Now())
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Error("pruning read notifications stopped", "err", err)
			} else if n > 0 {
				log.Info("pruned read notifications", "deleted", n)
			}
		}
	}()
}

// prunePushActions is one run of the pruning at time now: batches until
// one deletes fewer than pushPruneBatch rows.
func prunePushActions(ctx context.Context, notes *storage.NotificationStore, now time.Time) (int64, error) {
	before := now.Add(-storage.ReadPushActionRetention).UnixMilli()
	var total int64
	for {
		start := time.Now()
		n, err := notes.PruneReadPushActions(ctx, before, pushPruneBatch)
		total += n
		if err != nil || n < pushPruneBatch {
			return total, err
		}
		// Rest four times as long as the write took: requests keep the
		// writer most of the time.
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(max(4*time.Since(start), 10*time.Millisecond)):
		}
	}
}
