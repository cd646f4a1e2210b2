// Package typing keeps who is typing in which room, in memory, as the
// client-server API's typing notifications need: each user types until the
// timeout they gave or until they say they stopped, and every change of a
// room's list of typing users takes a new position in the typing stream
// that /sync reads, and wakes waiting syncs.
//
// The tracker holds only rooms where someone types now, plus, for a
// bounded number of rooms where everyone stopped, what a client that saw
// someone typing there needs to be told the list is empty: what it holds
// does not grow with the rooms ever typed in.
//
// Importing the package has no side effects. A Tracker runs one timer for
// the next expiry; it needs no goroutine of its own.
package typing

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// MaxTimeout bounds how long one request may mark a user as typing.
const MaxTimeout = 5 * time.Minute

// Remembered is how many rooms where everyone stopped typing the tracker
// remembers (the latest ones), so that a sync from a position at which
// someone typed there gets the empty list. A client whose token is older
// than the oldest of them may miss that empty list, as it would across a
// restart of the server.
const Remembered = 4096

// Tracker is the typing state of all rooms. Its zero value is not usable;
// make one with New.
type Tracker struct {
	now    func() time.Time
	notify func()
	// expired, when set, hears of each room whose list a timeout changed.
	expired func(roomID string, users []string)

	mu  sync.Mutex
	pos int64
	// read is the last position Position gave out: no sync token is
	// beyond it.
	read int64
	// rooms are the rooms where someone types now.
	rooms map[string]*room
	// gone are rooms where everyone stopped typing and a sync token may
	// have seen someone typing; order lists them by when they went, the
	// oldest first (with entries of rooms typed in again since), and at
	// most remember of them are kept.
	gone     map[string]stopped
	order    []change
	remember int
	// deadlines are the typing users' expiries, the earliest first. An
	// entry whose user stopped or got a new timeout since is stale and
	// passed over.
	deadlines deadlines
	typing    int // typing users in all rooms
	// log lists the rooms' changes in position order: the latest change
	// of each room in rooms or gone is in it (older ones may be), so
	// Changes reads only the changes in its range.
	log   []change
	timer *time.Timer
	next  time.Time // when timer fires (zero when stopped)
}

// change is a room's change of typing users at a position.
type change struct {
	pos    int64
	roomID string
}

// room is one room's typing users with their expiry, the position of the
// last change of the list, and the position from which someone typed in
// it (since the first time the tracker still remembers).
type room struct {
	users   map[string]time.Time
	changed int64
	start   int64
}

// stopped is a room where everyone stopped typing at position end; from
// start on, someone typed in it (with pauses, perhaps).
type stopped struct {
	start, end int64
}

var (
	_ core.TypingStore        = (*Tracker)(nil)
	_ clientsync.TypingSource = (*Tracker)(nil)
)

// New returns an empty tracker. now is the clock (nil: time.Now); notify,
// when set, is called after each change (without the tracker's lock held),
// e.g. a core.Notifier's Notify. Positions start at the clock's
// milliseconds, so they keep increasing across restarts of the server and
// sync tokens taken before a restart stay behind them.
func New(now func() time.Time, notify func()) *Tracker {
	if now == nil {
		now = time.Now
	}
	return &Tracker{now: now, notify: notify, pos: now().UnixMilli(), rooms: map[string]*room{},
		gone: map[string]stopped{}, remember: Remembered}
}

// OnExpire makes the tracker call f, without its lock held, with a room's
// typing users whenever a user's timeout took them off the room's list
// (explicit changes are SetTyping's caller's to report). Call it before
// the tracker is used.
func (t *Tracker) OnExpire(f func(roomID string, users []string)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expired = f
}

// expiry is a room's list of typing users after timeouts changed it.
type expiry struct {
	roomID string
	users  []string
}

// report tells the OnExpire hook of exps; the lock must not be held.
func (t *Tracker) report(exps []expiry) {
	if len(exps) == 0 {
		return
	}
	t.mu.Lock()
	f := t.expired
	t.mu.Unlock()
	if f == nil {
		return
	}
	for _, e := range exps {
		f(e.roomID, e.users)
	}
}

// SetTyping implements core.TypingStore. A timeout beyond MaxTimeout is
// cut to it; a typing user's new timeout replaces the old one without a
// new position (the list did not change).
func (t *Tracker) SetTyping(ctx context.Context, roomID, userID string, typing bool, timeout time.Duration) error {
	timeout = min(max(timeout, 0), MaxTimeout)
	t.mu.Lock()
	now := t.now()
	exps := t.expireLocked(now)
	changed := len(exps) > 0
	r := t.rooms[roomID]
	switch {
	case typing && timeout > 0:
		if r == nil {
			r = &room{users: map[string]time.Time{}, start: t.pos + 1}
			if g, ok := t.gone[roomID]; ok {
				// A sync token in the earlier run may still need the
				// empty list once this one ends.
				r.start = g.start
				delete(t.gone, roomID)
			}
			t.rooms[roomID] = r
		}
		_, was := r.users[userID]
		at := now.Add(timeout)
		r.users[userID] = at
		t.pushLocked(deadline{at: at, roomID: roomID, userID: userID})
		if !was {
			t.typing++
			t.changedLocked(roomID, r)
			changed = true
		}
	case r != nil:
		if _, was := r.users[userID]; was {
			delete(r.users, userID)
			t.typing--
			t.changedLocked(roomID, r)
			changed = true
		}
	}
	t.scheduleLocked(now)
	t.mu.Unlock()
	t.report(exps)
	if changed && t.notify != nil {
		t.notify()
	}
	return nil
}

// expireLocked drops users whose timeout passed and returns the rooms
// whose list changed, in room ID order. Until the earliest deadline it
// only compares the clock with it.
func (t *Tracker) expireLocked(now time.Time) []expiry {
	var rooms []string
	for len(t.deadlines) > 0 && !now.Before(t.deadlines[0].at) {
		d := t.deadlines.pop()
		r := t.rooms[d.roomID]
		if r == nil {
			continue
		}
		if at, ok := r.users[d.userID]; !ok || !at.Equal(d.at) {
			continue // stopped, or typing with a later timeout
		}
		delete(r.users, d.userID)
		t.typing--
		if !slices.Contains(rooms, d.roomID) {
			rooms = append(rooms, d.roomID)
		}
	}
	if len(rooms) == 0 {
		return nil
	}
	slices.Sort(rooms)
	exps := make([]expiry, 0, len(rooms))
	for _, id := range rooms {
		exps = append(exps, expiry{roomID: id, users: t.usersLocked(id)})
		t.changedLocked(id, t.rooms[id])
	}
	return exps
}

// changedLocked gives r (roomID's) a new position; a room left with no
// one typing goes from rooms to gone (or is forgotten if no sync token
// can have seen anyone typing in it). The log keeps the rooms' latest
// changes: once it holds more than twice as many entries as there are
// rooms in rooms and gone, the older ones go.
func (t *Tracker) changedLocked(roomID string, r *room) {
	t.pos++
	r.changed = t.pos
	t.log = append(t.log, change{pos: t.pos, roomID: roomID})
	if len(r.users) == 0 {
		delete(t.rooms, roomID)
		// A token saw someone typing if it is at or after start (and
		// before now): only if Position gave one out since start.
		if t.read >= r.start {
			t.gone[roomID] = stopped{start: r.start, end: t.pos}
			t.order = append(t.order, change{pos: t.pos, roomID: roomID})
			t.forgetLocked()
		}
	}
	if len(t.log) > 2*(len(t.rooms)+len(t.gone))+64 {
		log := make([]change, 0, len(t.rooms)+len(t.gone))
		for id, r := range t.rooms {
			log = append(log, change{pos: r.changed, roomID: id})
		}
		for id, g := range t.gone {
			log = append(log, change{pos: g.end, roomID: id})
		}
		// sort.Slice, not slices.SortFunc: one sorting code for all element
		// types instead of a ~20 KB copy per struct type in the browser build.
		sort.Slice(log, func(i, j int) bool { return log[i].pos < log[j].pos })
		t.log = log
	}
}

// forgetLocked keeps the remember rooms of gone that went last.
func (t *Tracker) forgetLocked() {
	if len(t.order) <= t.remember {
		return
	}
	n := len(t.order) - t.remember
	for _, c := range t.order[:n] {
		if g, ok := t.gone[c.roomID]; ok && g.end == c.pos {
			delete(t.gone, c.roomID)
		}
	}
	if n < len(t.order)/2 {
		// Move the kept ones down only once half the slice is passed.
		t.order = t.order[n:]
		return
	}
	t.order = append(make([]change, 0, 2*t.remember), t.order[n:]...)
}

// pushLocked adds d to the deadlines; once stale entries make up more
// than half of them, they are rebuilt from the typing users.
func (t *Tracker) pushLocked(d deadline) {
	if len(t.deadlines) > 2*t.typing+64 {
		ds := make(deadlines, 0, 2*t.typing+1)
		for id, r := range t.rooms {
			for u, at := range r.users {
				ds = append(ds, deadline{at: at, roomID: id, userID: u})
			}
		}
		ds.init()
		t.deadlines = ds
	}
	t.deadlines.push(d)
}

// scheduleLocked sets the timer to the earliest expiry.
func (t *Tracker) scheduleLocked(now time.Time) {
	if t.typing == 0 {
		t.deadlines = t.deadlines[:0]
	}
	if len(t.deadlines) == 0 {
		if t.timer != nil {
			t.timer.Stop()
		}
		t.next = time.Time{}
		return
	}
	// The earliest entry may be stale: the timer then fires early, which
	// costs one pass of expireLocked that finds nothing to do.
	first := t.deadlines[0].at
	if !t.next.IsZero() && !first.Before(t.next) && t.next.After(now) {
		return // the timer already fires in time
	}
	t.next = first
	d := first.Sub(now)
	if t.timer == nil {
		t.timer = time.AfterFunc(d, t.fire)
	} else {
		t.timer.Reset(d)
	}
}

// fire expires timed-out users.
func (t *Tracker) fire() {
	t.mu.Lock()
	now := t.now()
	t.next = time.Time{}
	exps := t.expireLocked(now)
	t.scheduleLocked(now)
	t.mu.Unlock()
	t.report(exps)
	if len(exps) > 0 && t.notify != nil {
		t.notify()
	}
}

// Position returns the typing stream's current position.
func (t *Tracker) Position() int64 {
	t.mu.Lock()
	exps := t.expireLocked(t.now())
	pos := t.pos
	t.read = pos
	t.mu.Unlock()
	t.report(exps)
	return pos
}

// Typing returns the users typing in roomID now, sorted.
func (t *Tracker) Typing(roomID string) []string {
	t.mu.Lock()
	exps := t.expireLocked(t.now())
	users := t.usersLocked(roomID)
	t.mu.Unlock()
	t.report(exps)
	return users
}

func (t *Tracker) usersLocked(roomID string) []string {
	r := t.rooms[roomID]
	out := []string{}
	if r == nil {
		return out
	}
	for u := range r.users {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Changes returns, for each room where in is true whose list of typing
// users changed at a position in (since, to], the users typing in it now.
// A room where no one types now is in it (with no users) only if someone
// typed there at since: a client that saw no one typing there needs no
// word of it. It reads the log of changes from since, asking in only
// about the rooms that changed: what it costs grows with the changes in
// the range, not with the rooms ever typed in.
func (t *Tracker) Changes(in func(roomID string) bool, since, to int64) map[string][]string {
	t.mu.Lock()
	exps := t.expireLocked(t.now())
	defer t.report(exps)
	defer t.mu.Unlock()
	out := map[string][]string{}
	i, _ := slices.BinarySearchFunc(t.log, since+1, func(c change, pos int64) int { return cmp.Compare(c.pos, pos) })
	for _, c := range t.log[i:] {
		if c.pos > to {
			break
		}
		// Only a room's latest change counts (an older one of the range
		// is passed over: the latest is later in it, or after to).
		if r := t.rooms[c.roomID]; r != nil {
			if r.changed == c.pos && in(c.roomID) {
				out[c.roomID] = t.usersLocked(c.roomID)
			}
		} else if g, ok := t.gone[c.roomID]; ok && g.end == c.pos && g.start <= since && in(c.roomID) {
			out[c.roomID] = []string{}
		}
	}
	return out
}
