package room

import (
	"fmt"
	"testing"

	"hearth.dev/hearth/core/pdu"
)

// TestEventCacheKeepsStateOverMessages: messages take a small share of the
// cache, so however many pass through it, the state events stay and the
// messages held stay few.
func TestEventCacheKeepsStateOverMessages(t *testing.T) {
	c := eventCache{max: 64}
	empty := ""
	for i := range 32 {
		c.put(&pdu.PDU{EventID: fmt.Sprint("$state", i), StateKey: &empty})
	}
	for i := range 10_000 {
		c.put(&pdu.PDU{EventID: fmt.Sprint("$msg", i)})
	}
	for i := range 32 {
		if c.get(fmt.Sprint("$state", i)) == nil {
			t.Fatalf("state event %d was dropped for messages", i)
		}
	}
	if n := len(c.other); n > 64/otherCacheShare {
		t.Errorf("%d messages cached, want at most %d", n, 64/otherCacheShare)
	}
	if c.get("$msg9999") == nil {
		t.Error("the latest message is not cached")
	}
	for i := range 200 {
		c.put(&pdu.PDU{EventID: fmt.Sprint("$more-state", i), StateKey: &empty})
	}
	if n := len(c.state); n > 64 {
		t.Errorf("%d state events cached, want at most 64", n)
	}
}
