package storage

import (
	"fmt"
	"sync"

	"hearth.dev/hearth/core"
)

// maxCachedMembers bounds how many users' room lists are kept.
const maxCachedMembers = 64

// membershipCache keeps each local user's room list (RoomList), which
// every /sync and /search reads and which only membership changes alter:
// without it, a user in thousands of rooms pays a join over all of them on
// every request. A list is read from the database once; after that, the
// writes that change local_current_membership say what they changed
// (noteMemberChange), and the writer applies those changes to the cached
// lists once they commit and before /sync is woken (apply): no membership
// change makes anyone read all rows again. A write whose changes are not
// known (a room purge, a failed commit) drops every list (invalidate).
//
// gen counts the applied and dropped changes: a reader that missed the
// cache stores what it read only if gen did not move meanwhile, since a
// change that committed after its read began may have found no list to
// apply itself to.
type membershipCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]*core.RoomList
}

// memberChange is a committed change of one row of
// local_current_membership: the row's new membership, or the row gone.
type memberChange struct {
	m    core.RoomMembership
	drop bool
}

// memberChanges are the membership changes of one write.
type memberChanges struct {
	list    []memberChange
	unknown bool // a change not in list: every cached list goes
}

// get returns userID's cached list, or false and the generation to pass
// to put with the list read instead.
func (c *membershipCache) get(userID string) (*core.RoomList, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.m[userID]
	return l, c.gen, ok
}

// put stores l, read after get returned gen, unless a change was applied
// since.
func (c *membershipCache) put(userID string, l *core.RoomList, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.m == nil || len(c.m) >= maxCachedMembers {
		c.m = map[string]*core.RoomList{}
	}
	c.m[userID] = l
}

// apply brings the cached lists up to date with the committed changes ch.
func (c *membershipCache) apply(ch *memberChanges) {
	if ch.unknown {
		c.invalidate()
		return
	}
	if len(ch.list) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, x := range ch.list {
		l, ok := c.m[x.m.UserID]
		if !ok {
			continue
		}
		if x.drop {
			c.m[x.m.UserID] = l.Without(x.m.RoomID)
		} else {
			c.m[x.m.UserID] = l.With(x.m)
		}
	}
}

// invalidate drops every cached list.
func (c *membershipCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.m = nil
}

// sqlMemberChange reads what a room list holds of a local membership row's
// event.
const sqlMemberChange = `
	SELECT r.room_id, e.event_id, e.stream_ordering FROM events e JOIN rooms r ON r.room_nid = e.room_nid
	WHERE e.event_nid = ?1`

// sqlMemberRoomID reads the room ID of a room_nid.
const sqlMemberRoomID = `SELECT room_id FROM rooms WHERE room_nid = ?1`

// noteMemberChange tells the writer that the write on q set userID's row
// of local_current_membership for room to event nid with membership (or,
// with drop, deleted it), so that the cached lists are changed the same
// way once the write commits.
func noteMemberChange(p *persister, userID string, room, nid int64, membership string, drop bool) error {
	w, ok := p.q.(writerQueryer)
	if !ok || w.members == nil {
		p.members = true // not a write of the writer: lists go afterwards
		return nil
	}
	x := memberChange{m: core.RoomMembership{UserID: userID, Membership: membership}, drop: drop}
	var err error
	if drop {
		err = p.q.QueryRowContext(p.ctx, sqlMemberRoomID, room).Scan(&x.m.RoomID)
	} else {
		err = p.q.QueryRowContext(p.ctx, sqlMemberChange, nid).Scan(&x.m.RoomID, &x.m.EventID, &x.m.StreamOrdering)
	}
	if err != nil {
		return fmt.Errorf("storage: membership of %s: %w", userID, err)
	}
	w.members.list = append(w.members.list, x)
	return nil
}
