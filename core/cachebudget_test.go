package core

import (
	"fmt"
	"runtime"
	"testing"
)

// TestStateMapBytes: the estimate of a state map is close to what the map
// and its strings really take on the heap (a quarter below to a half
// above), for the one-key deltas a new room's events make and for a
// room's whole state.
func TestStateMapBytes(t *testing.T) {
	for _, size := range []int{1, 5, 40, 300} {
		const n = 400
		maps := make([]StateMap, n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range maps {
			m := StateMap{}
			for j := range size {
				m[StateKey{Type: "m.room.member", StateKey: fmt.Sprintf("@user%d:hearth.test", j)}] = fmt.Sprintf("$%042dE", i*1000+j)
			}
			maps[i] = m
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		real := float64(after.HeapAlloc-before.HeapAlloc) / n
		est := float64(StateMapBytes(maps[0]))
		runtime.KeepAlive(maps)
		t.Logf("%d keys: %.0f bytes on the heap, %.0f estimated", size, real, est)
		if est < real*3/4 || est > real*3/2 {
			t.Errorf("%d keys: estimated %.0f bytes for a map that holds %.0f", size, est, real)
		}
	}
}
