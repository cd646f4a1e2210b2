package room

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/lru"
)

// The tips kept stay within their share of the budget however many rooms
// are written to, whatever their state's size, and the tip just set is
// always among them with its own value.
func TestSetTipBounded(t *testing.T) {
	const budget = 64 << 10
	p := &Pipeline{tips: lru.Cache[string, *tip]{Max: budget}}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		id := fmt.Sprintf("!r%d:x", rng.IntN(3000))
		tp := &tip{exts: []core.EventRef{{EventID: fmt.Sprint("$e", i)}}, known: core.StateMap{}}
		if rng.IntN(10) == 0 {
			// A room with several extremities keeps its resolved state.
			tp.resolved = core.StateMap{}
			for j := range rng.IntN(400) {
				tp.resolved[core.StateKey{Type: "m.room.member", StateKey: fmt.Sprintf("@u%d:x", j)}] = fmt.Sprint("$m", j)
			}
		}
		p.setTip(id, tp)
		if p.tips.Bytes() > budget {
			t.Fatalf("after %d tips, %d bytes kept, budget %d", i+1, p.tips.Bytes(), budget)
		}
		// What is kept is really within the budget: at least 64 bytes a
		// state entry.
		entries := 0
		for n := range 3000 {
			if kt, ok := p.tips.Peek(fmt.Sprintf("!r%d:x", n)); ok {
				entries += len(kt.resolved) + len(kt.known)
			}
		}
		if entries*64 > budget {
			t.Fatalf("after %d tips, %d state entries kept within %d bytes", i+1, entries, budget)
		}
		if got, ok := p.tips.Peek(id); !ok || got.exts[0].EventID != fmt.Sprint("$e", i) {
			t.Fatalf("the tip of %s just set is not kept", id)
		}
	}
	// Dropping a tip forgets it.
	p.setTip("!gone:x", &tip{})
	p.setTip("!gone:x", nil)
	if _, ok := p.tips.Peek("!gone:x"); ok {
		t.Error("a dropped tip is still kept")
	}
}
