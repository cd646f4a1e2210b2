package main

import (
	"io"
	"log/slog"
	"testing"
)

// TestWarmSQLiteGivesWayToStart checks that the SQLite warm-up runs all
// its statements while no start is asked for, none once one is, and stops
// at the next statement when the start is asked for while it runs.
func TestWarmSQLiteGivesWayToStart(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Setenv("HEARTH_NO_DATABASE", "")
	defer func() {
		startAsked.Store(false)
		warmStepHook = nil
	}()
	run := func(askAt int64) int64 {
		startAsked.Store(false)
		warmSteps.Store(0)
		warmStepHook = func() {
			if askAt >= 0 && warmSteps.Load() == askAt {
				startAsked.Store(true)
			}
		}
		warmSQLite(log)
		if left, err := backendMemory.exists("/warm"); err != nil || left {
			t.Errorf("asked at %d: the warm-up's database is left (%v)", askAt, err)
		}
		return warmSteps.Load()
	}
	if n := run(-1); n != 5 {
		t.Errorf("no start asked for: the warm-up ran %d statements, want all 5", n)
	}
	if n := run(0); n != 0 {
		t.Errorf("start asked for before it: the warm-up ran %d statements, want none", n)
	}
	if n := run(2); n != 2 {
		t.Errorf("start asked for after 2 statements: the warm-up ran %d, want 2", n)
	}
}
