package room

import (
	"fmt"
	"strings"
	"testing"

	"hearth.dev/hearth/core/pdu"
)

// TestEventCacheKeepsStateOverMessages: messages take a small share of the
// cache, so however many pass through it, the state events stay and the
// messages held stay few.
func TestEventCacheKeepsStateOverMessages(t *testing.T) {
	const budget = 256 << 10
	var c eventCache
	c.setMax(budget)
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
	if c.other.Bytes() > budget/otherCacheShare {
		t.Errorf("messages hold %d bytes, want at most %d", c.other.Bytes(), budget/otherCacheShare)
	}
	if c.get("$msg9999") == nil {
		t.Error("the latest message is not cached")
	}
}

// TestEventCacheWithinBudget: a stream of events of every size stays
// within the cache's bytes, counting what the events really hold, and
// every event returned is the one stored under its ID.
func TestEventCacheWithinBudget(t *testing.T) {
	const budget = 512 << 10
	var c eventCache
	c.setMax(budget)
	stored := map[string]bool{}
	for i := range 3000 {
		sk := fmt.Sprint("@u", i, ":x")
		e := &pdu.PDU{EventID: fmt.Sprint("$e", i), Type: "m.room.member", Content: []byte(`{"displayname":"` + strings.Repeat("x", i%7*1000) + `"}`),
			AuthEvents: []string{"$a", "$b", "$c"}, PrevEvents: []string{fmt.Sprint("$e", i-1)}}
		if i%3 != 0 {
			e.StateKey = &sk
		}
		c.put(e)
		stored[e.EventID] = true
		if b := c.state.Bytes() + c.other.Bytes(); b > budget {
			t.Fatalf("after %d events the cache holds %d bytes, budget %d", i+1, b, budget)
		}
		held := 0
		for id := range stored {
			c.mu.Lock()
			s, sok := c.state.Peek(id)
			o, ook := c.other.Peek(id)
			c.mu.Unlock()
			switch {
			case sok:
				held += len(s.Content)
			case ook:
				held += len(o.Content)
			default:
				delete(stored, id)
			}
		}
		if held > budget {
			t.Fatalf("after %d events the cache keeps %d bytes of content, budget %d", i+1, held, budget)
		}
		if got := c.get(e.EventID); got != e {
			t.Fatalf("event %s just stored: got %v", e.EventID, got)
		}
	}
	for i := range 3000 {
		id := fmt.Sprint("$e", i)
		if got := c.get(id); got != nil && got.EventID != id {
			t.Fatalf("%s gives event %s", id, got.EventID)
		}
	}
}
