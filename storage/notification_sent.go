package storage

import (
	"sync"
	"sync/atomic"
)

// sentReads remembers, per local user, room and thread, that the user's
// read position covered every notification of theirs there as of a
// committed write, so their next event there needs no look at
// event_push_actions (markSent): most sends are by a user who has read
// everything, and the look cost one statement per send.
//
// What makes a remembered entry wrong is a new notification for the user
// (a read position never moves back: receipts only move forward, and a
// purge takes the room's notifications with its receipts), so every write
// that records notifications, and every purge, forgets all entries and
// bumps gen before it goes on (forget). An entry is remembered only after
// the write that found it committed, and only if nothing was forgotten
// since the look (gen unchanged).
type sentReads struct {
	gen   atomic.Uint64
	mu    sync.Mutex
	clean map[sentKey]struct{}
}

// sentReadsMax bounds the entries kept; when full, all are forgotten.
const sentReadsMax = 4096

// sentKey names a user's read position in a thread of a room.
type sentKey struct {
	user   string
	room   int64
	thread string
}

// sentLook is a look at event_push_actions that found (or left) no unread
// notification, and the generation it was made in.
type sentLook struct {
	key sentKey
	gen uint64
}

// known reports whether k's read position covers every notification.
func (c *sentReads) known(k sentKey) bool {
	c.mu.Lock()
	_, ok := c.clean[k]
	c.mu.Unlock()
	return ok
}

// forget drops every entry; the writer calls it before it records a
// notification or purges a room.
func (c *sentReads) forget() {
	c.mu.Lock()
	c.gen.Add(1)
	clear(c.clean)
	c.mu.Unlock()
}

// remember keeps the looks of a committed write whose generation is
// still current.
func (c *sentReads) remember(looks []sentLook) {
	if len(looks) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range looks {
		if l.gen != c.gen.Load() {
			continue
		}
		if c.clean == nil || len(c.clean) >= sentReadsMax {
			c.clean = make(map[sentKey]struct{})
		}
		c.clean[l.key] = struct{}{}
	}
}
