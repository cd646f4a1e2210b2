package hearth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"hearth.dev/hearth/storage"
)

// StateCompressionConfig configures the background job that compresses
// state groups into a multi-level delta tree (seed 003; `hearth db
// compress-state` does the same on demand).
type StateCompressionConfig struct {
	// Enabled is "true" to run the job while the server serves.
	Enabled string `yaml:"enabled"`
	// Interval is the time between runs (a Go duration, e.g. 1h). The
	// first run comes one interval after start, at most 10 minutes.
	Interval string `yaml:"interval"`
	// Levels are the sizes of the tree's levels, lowest first ("32,32,32").
	Levels string `yaml:"levels"`
}

func (c *StateCompressionConfig) keys() []ConfigKey {
	return []ConfigKey{
		{"state_compression.enabled", &c.Enabled, "true: compress state groups in the background while serving"},
		{"state_compression.interval", &c.Interval, "time between background state compression runs (e.g. 1h)"},
		{"state_compression.levels", &c.Levels, "state compression level sizes, lowest first (e.g. 32,32,32)"},
	}
}

func (c *StateCompressionConfig) validate() error {
	if c.Enabled != "true" && c.Enabled != "false" {
		return fmt.Errorf("config: state_compression.enabled is %q; it must be one of true, false", c.Enabled)
	}
	if _, err := c.IntervalDuration(); err != nil {
		return err
	}
	if _, err := c.LevelSizes(); err != nil {
		return err
	}
	return nil
}

// IntervalDuration is state_compression.interval parsed.
func (c *StateCompressionConfig) IntervalDuration() (time.Duration, error) {
	d, err := time.ParseDuration(c.Interval)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("config: state_compression.interval is %q; it must be a duration of at least 1s, such as 1h", c.Interval)
	}
	return d, nil
}

// LevelSizes is state_compression.levels parsed.
func (c *StateCompressionConfig) LevelSizes() ([]int, error) {
	sizes, err := storage.ParseStateCompressionLevels(c.Levels)
	if err != nil {
		return nil, fmt.Errorf("config: state_compression.levels: %w", err)
	}
	return sizes, nil
}

// stateCompressionPause is how long the job rests after a transaction, as
// a multiple of the transaction's time: the writer stays free for
// requests at least four fifths of the time.
const stateCompressionPause = 4

// startStateCompression runs the background state compression
// (state_compression.enabled) until Close: a run over the rooms with new
// groups every interval, in small transactions with rests between them.
// Each run logs what it did; progress is saved with every transaction, so
// a stop loses nothing.
func (hs *Homeserver) startStateCompression(cfg StateCompressionConfig, events *storage.EventStore, log *slog.Logger) {
	if cfg.Enabled != "true" {
		return
	}
	if log == nil {
		log = slog.Default()
	}
	interval, _ := cfg.IntervalDuration() // checked by Validate
	sizes, _ := cfg.LevelSizes()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	hs.stopCompression = func() { cancel(); <-done }
	go func() {
		defer close(done)
		wait := min(interval, 10*time.Minute)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = interval
			if err := runStateCompression(ctx, hs.db, events, sizes, log); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("state compression stopped", "err", err)
			}
		}
	}()
}

// runStateCompression is one run of the background job.
func runStateCompression(ctx context.Context, db *storage.DB, events *storage.EventStore, sizes []int, log *slog.Logger) error {
	c := events.NewStateCompressor(sizes)
	c.Pause = func(ctx context.Context, took time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max(stateCompressionPause*took, 10*time.Millisecond)):
			return nil
		}
	}
	last := time.Now()
	c.Progress = func(st storage.CompressStats) {
		if time.Since(last) >= time.Minute {
			last = time.Now()
			log.Info("state compression progress", "rooms", fmt.Sprintf("%d/%d", st.RoomsDone, st.Rooms),
				"groups", fmt.Sprintf("%d/%d", st.GroupsDone, st.Groups),
				"rows_removed", st.RowsRemoved, "rows_written", st.RowsWritten)
		}
	}
	before, err := db.StateGroupRows(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	st, err := c.Run(ctx, nil)
	if st.GroupsDone == 0 && err == nil {
		return nil
	}
	after, rerr := db.StateGroupRows(context.WithoutCancel(ctx))
	log.Info("state compression run", "rooms", st.RoomsDone, "groups", st.GroupsDone, "rewritten", st.Rewritten,
		"state_groups_state_before", before, "state_groups_state_after", after, "took", time.Since(start).Round(time.Millisecond))
	return errors.Join(err, rerr)
}
