package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"hearth.dev/hearth/storage"
)

// compressStateOptions are the flags of `hearth db compress-state`.
type compressStateOptions struct {
	levels string   // level sizes; empty: state_compression.levels
	rooms  []string // only these rooms; empty: all
	force  bool     // rewrite rooms that would not shrink too
}

// dbCompressState rewrites the state groups of the rooms into a
// multi-level delta tree (storage.StateCompressor), showing its progress on
// stderr, and prints the rows of state_groups_state before and after.
//
// It opens the database files directly, as the other db commands do, so
// it works beside a running `hearth serve`: the two processes take turns
// at SQLite's write lock, the compressor in transactions of a few thousand
// rows, and a group's state is the same before and after, so what the
// server has read or cached stays right. Each room's progress is saved
// with its groups: an interrupted run (Ctrl-C, kill) continues where it
// stopped the next time, from this command or the server's background job.
func dbCompressState(ctx context.Context, o storage.Options, sizes []int, co compressStateOptions, stdout, stderr io.Writer) error {
	if _, err := os.Stat(o.Path); err != nil {
		return fmt.Errorf("no database: %w", err)
	}
	if co.levels != "" {
		var err error
		if sizes, err = storage.ParseStateCompressionLevels(co.levels); err != nil {
			return err
		}
	}
	db, err := storage.Open(ctx, o)
	if err != nil {
		return err
	}
	defer db.Close()
	before, err := db.StateGroupRows(ctx)
	if err != nil {
		return err
	}
	bar := newProgressBar(stderr)
	c := storage.NewStateCompressor(db, sizes)
	c.Progress = bar.update
	c.Force = co.force
	st, runErr := c.Run(ctx, co.rooms)
	bar.finish(st)
	after, err := db.StateGroupRows(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	levels := make([]string, len(sizes))
	for i, n := range sizes {
		levels[i] = fmt.Sprint(n)
	}
	fmt.Fprintf(stdout, "levels:              %s\n", strings.Join(levels, ","))
	fmt.Fprintf(stdout, "rooms:               %d of %d", st.RoomsDone, st.Rooms)
	if st.Unchanged > 0 {
		fmt.Fprintf(stdout, " (%d left as they were: no fewer rows as a tree; --force rewrites them)", st.Unchanged)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "state groups:        %d walked, %d rewritten\n", st.GroupsDone, st.Rewritten)
	fmt.Fprintf(stdout, "state_groups_state:  %d rows before, %d after", before, after)
	if after > 0 && after < before {
		fmt.Fprintf(stdout, " (%.1fx fewer)", float64(before)/float64(after))
	}
	fmt.Fprintln(stdout)
	if runErr != nil {
		return fmt.Errorf("compress-state stopped (its progress is saved; run it again to continue): %w", runErr)
	}
	return nil
}

// progressBar draws a run's progress on a terminal, in place, at most ten
// times a second; elsewhere (a log file, a pipe) it writes a line every
// ten seconds.
type progressBar struct {
	w        io.Writer
	terminal bool
	last     time.Time
	drawn    bool
}

func newProgressBar(w io.Writer) *progressBar {
	p := &progressBar{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progressBar) update(st storage.CompressStats) {
	every := 10 * time.Second
	if p.terminal {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	p.draw(st)
}

func (p *progressBar) draw(st storage.CompressStats) {
	const width = 30
	done := 0
	if st.Groups > 0 {
		done = min(width, width*st.GroupsDone/st.Groups)
	}
	line := fmt.Sprintf("[%s%s] groups %d/%d  rooms %d/%d  rows -%d +%d",
		strings.Repeat("#", done), strings.Repeat(".", width-done),
		st.GroupsDone, st.Groups, st.RoomsDone, st.Rooms, st.RowsRemoved, st.RowsWritten)
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progressBar) finish(st storage.CompressStats) {
	p.draw(st)
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
