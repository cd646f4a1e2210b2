package stateres_test

import (
	"fmt"
	"maps"
	"testing"

	"hearth.dev/hearth/core/stateres"
)

// conflictedRoom forks a room into two branches of 500 state events each,
// on the same keys: 1,000 conflicted events. Every 25th event of a branch
// is a power levels change by alice, so the power ordering and the
// mainline have work to do.
func conflictedRoom(b *testing.B, vid string) (*dag, []stateres.StateMap) {
	d := newDAG(b, vid)
	sets := make([]stateres.StateMap, 2)
	for br := range sets {
		state := d.state(initial...)
		pl := "IPOWER"
		for i := 0; i < 500; i++ {
			name := fmt.Sprintf("B%d_%d", br, i)
			if i%25 == 0 {
				d.add(name, powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: i/25 + br}), []string{"CREATE", "IMA", pl})
				pl = name
			} else {
				d.add(name, "com.example.state", alice, fmt.Sprint(i), fmt.Sprintf(`{"n":%d}`, i), []string{"CREATE", "IMA", pl})
			}
			e := d.events[name]
			state[stateKey(e.Type, *e.StateKey)] = e.EventID
		}
		sets[br] = maps.Clone(state)
	}
	return d, sets
}

func BenchmarkResolve1000Conflicted(b *testing.B) {
	for _, vid := range []string{"10", "12"} {
		b.Run("v"+vid, func(b *testing.B) {
			d, sets := conflictedRoom(b, vid)
			b.ReportAllocs()
			for b.Loop() {
				got, err := stateres.Resolve(d.v, sets, d.fetch, nil)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != len(sets[0]) {
					b.Fatalf("resolved %d keys, want %d", len(got), len(sets[0]))
				}
			}
		})
	}
}
