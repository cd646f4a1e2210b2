package storage

import (
	"slices"
	"sync"
	"sync/atomic"

	"hearth.dev/hearth/core"
)

// maxCachedMembers bounds how many users' room lists are kept.
const maxCachedMembers = 64

// membershipCache keeps each local user's room list (RoomsForUser), which
// every /sync and /search reads and which only membership changes alter:
// without it, a user in thousands of rooms pays a join over all of them on
// every request. Entries are tagged with the database's membership
// generation (DB.membershipGen), which every write that changes
// local_current_membership bumps after it commits; an entry of an older
// generation is never used, and a reader only stores what it read if no
// such write committed meanwhile.
type membershipCache struct {
	mu sync.Mutex
	m  map[string]cachedRooms
}

type cachedRooms struct {
	gen   uint64
	rooms []core.RoomMembership // every membership, by room ID
	// rows are the local_current_membership rows rooms was made of, by
	// room: what a newer generation's rows are compared with.
	rows map[int64]memberRow
}

// memberRow is a row of local_current_membership, and the index of its
// room in cachedRooms.rooms.
type memberRow struct {
	event      int64
	membership string
	index      int
}

func (c *membershipCache) get(userID string, gen uint64) ([]core.RoomMembership, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[userID]
	if !ok || e.gen != gen {
		return nil, false
	}
	return e.rooms, true
}

// stale returns userID's entry of whatever generation, for refreshing;
// nil when there is none.
func (c *membershipCache) stale(userID string) *cachedRooms {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[userID]; ok {
		return &e
	}
	return nil
}

func (c *membershipCache) put(userID string, e cachedRooms, current *atomic.Uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if current.Load() != e.gen {
		return // a membership change committed while rooms was read
	}
	if c.m == nil || len(c.m) >= maxCachedMembers {
		c.m = map[string]cachedRooms{}
	}
	c.m[userID] = e
}

// selectMemberships returns a copy of the rooms with one of memberships
// (all of them when memberships is empty).
func selectMemberships(rooms []core.RoomMembership, memberships []string) []core.RoomMembership {
	var out []core.RoomMembership
	for _, m := range rooms {
		if len(memberships) == 0 || slices.Contains(memberships, m.Membership) {
			out = append(out, m)
		}
	}
	return out
}
