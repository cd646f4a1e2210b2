package room

import (
	"fmt"
	"testing"

	"hearth.dev/hearth/core"
)

// The tips kept stay bounded however many rooms are written to, and the
// tip just set is always among them.
func TestSetTipBounded(t *testing.T) {
	p := &Pipeline{tips: map[string]*tip{}}
	for i := range 3 * maxTips {
		id := fmt.Sprintf("!r%d:x", i)
		p.setTip(id, &tip{exts: []core.EventRef{{EventID: fmt.Sprint("$e", i)}}})
		if len(p.tips) > maxTips {
			t.Fatalf("after %d rooms, %d tips kept, want at most %d", i+1, len(p.tips), maxTips)
		}
		if got := p.tips[id]; got == nil || got.exts[0].EventID != fmt.Sprint("$e", i) {
			t.Fatalf("the tip of %s just set is not kept", id)
		}
	}
	// Replacing a kept room's tip drops nothing.
	n := len(p.tips)
	for id := range p.tips {
		p.setTip(id, &tip{})
		break
	}
	if len(p.tips) != n {
		t.Errorf("replacing a tip changed the count from %d to %d", n, len(p.tips))
	}
}
