package main

import (
	"runtime/debug"
	"testing"

	"hearth.dev/hearth"
	"hearth.dev/hearth/core"
)

// TestGCSettings: the configuration sets GOGC and the soft memory limit,
// the defaults when it says 0, and GOGC / GOMEMLIMIT in the environment
// win over it.
func TestGCSettings(t *testing.T) {
	oldPercent := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
	})
	noEnv := func(string) (string, bool) { return "", false }
	defaults := hearth.DefaultConfig().Memory

	cases := []struct {
		name        string
		mem         hearth.MemoryConfig
		env         map[string]string
		runtimeGOGC int   // as if the runtime had read GOGC from env
		runtimeLim  int64 // as if the runtime had read GOMEMLIMIT
		percent     int
		limit       int64 // as debug.SetMemoryLimit reports it
	}{
		{name: "defaults", mem: defaults, percent: 100, limit: hearth.DefaultMemoryLimit(core.DefaultCacheBudget)},
		{name: "configured", mem: hearth.MemoryConfig{CacheBytes: "0", Limit: "300000000", GCPercent: "50"}, percent: 50, limit: 300000000},
		{name: "no limit", mem: hearth.MemoryConfig{CacheBytes: "0", Limit: "off", GCPercent: "80"}, percent: 80, limit: 1<<63 - 1},
		{name: "environment wins", mem: hearth.MemoryConfig{CacheBytes: "0", Limit: "300000000", GCPercent: "50"},
			env: map[string]string{"GOGC": "150", "GOMEMLIMIT": "1GiB"}, runtimeGOGC: 150, runtimeLim: 1 << 30, percent: 150, limit: 1 << 30},
		{name: "GOGC only", mem: hearth.MemoryConfig{CacheBytes: "0", Limit: "0", GCPercent: "50"},
			env: map[string]string{"GOGC": "off"}, runtimeGOGC: -1, percent: -1, limit: hearth.DefaultMemoryLimit(core.DefaultCacheBudget)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// What the runtime took from the environment at start.
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(1<<63 - 1)
			if _, ok := tc.env["GOGC"]; ok {
				debug.SetGCPercent(tc.runtimeGOGC)
			}
			if _, ok := tc.env["GOMEMLIMIT"]; ok {
				debug.SetMemoryLimit(tc.runtimeLim)
			}
			lookup := noEnv
			if tc.env != nil {
				lookup = func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			}
			s, err := applyGCSettings(tc.mem, lookup)
			if err != nil {
				t.Fatal(err)
			}
			if got := debug.SetGCPercent(100); got != tc.percent || s.percent != tc.percent {
				t.Errorf("GOGC %d (reported %d), want %d", got, s.percent, tc.percent)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.limit {
				t.Errorf("memory limit %d, want %d", got, tc.limit)
			}
		})
	}
	if _, err := applyGCSettings(hearth.MemoryConfig{Limit: "lots", GCPercent: "100"}, noEnv); err == nil {
		t.Error("a limit that is not a number was taken")
	}
}
