package modules

import (
	"context"
	"slices"
	"testing"
	"time"

	"hearth.dev/hearth/modules/moduletest"
)

// BenchmarkCheckEventForSpam is the keyword filter's cost per event: a
// pooled instance (what the server does) against a fresh instance per
// call. It reports the p50 and p99 of one check in microseconds.
func BenchmarkCheckEventForSpam(b *testing.B) {
	path := moduletest.Build(b, keywordFilter)
	ev := message("an ordinary message of an ordinary length, nothing to see here")
	for _, mode := range []string{"pooled", "per-call", "interpreter"} {
		b.Run(mode, func(b *testing.B) {
			start := time.Now()
			h, err := Load(context.Background(), []Spec{{Path: path, Config: map[string]any{"words": []string{"casino", "crypto", "giveaway"}}}},
				Options{Interpreter: mode == "interpreter"})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(context.Background())
			b.ReportMetric(float64(time.Since(start).Milliseconds()), "load-ms")
			if mode == "per-call" {
				h.mods[0].idle = make(chan *instance) // nothing is kept: every call starts an instance
			}
			ctx := context.Background()
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := h.CheckEventForSpam(ctx, "$e", ev); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(times[(len(times)*99)/100].Nanoseconds())/1e3, "p99-µs")
		})
	}
}

// BenchmarkEmptyCallback is the floor of a call: a callback that answers
// at once (the loop test module's user_may_create_room).
func BenchmarkEmptyCallback(b *testing.B) {
	h, err := Load(context.Background(), []Spec{{Path: moduletest.Build(b, loopModule)}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if err := h.UserMayCreateRoom(ctx, "@a:example.org"); err != nil {
			b.Fatal(err)
		}
	}
}
