// Package typing keeps who is typing in which room, in memory, as the
// client-server API's typing notifications need: each user types until the
// timeout they gave or until they say they stopped, and every change of a
// room's list of typing users takes a new position in the typing stream
// that /sync reads, and wakes waiting syncs.
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

// Tracker is the typing state of all rooms. Its zero value is not usable;
// make one with New.
type Tracker struct {
	now    func() time.Time
	notify func()
	// expired, when set, hears of each room whose list a timeout changed.
	expired func(roomID string, users []string)

	mu    sync.Mutex
	pos   int64
	rooms map[string]*room
	// active are the rooms of rooms with someone typing: what expiry and
	// the timer look through, however many rooms were ever typed in.
	active map[string]*room
	// log lists the rooms' changes in position order: a room's latest
	// change is in it (older ones may be), so Changes reads only the
	// changes in its range, however many rooms were ever typed in.
	log   []change
	timer *time.Timer
	next  time.Time // when timer fires (zero when stopped)
}

// change is a room's change of typing users at a position.
type change struct {
	pos    int64
	roomID string
}

// room is one room's typing users with their expiry, and the position of
// the last change of the list.
type room struct {
	users   map[string]time.Time
	changed int64
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
	return &Tracker{now: now, notify: notify, pos: now().UnixMilli(), rooms: map[string]*room{}, active: map[string]*room{}}
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
			r = &room{users: map[string]time.Time{}}
			t.rooms[roomID] = r
		}
		if _, was := r.users[userID]; !was {
			t.changedLocked(roomID, r)
			changed = true
		}
		r.users[userID] = now.Add(timeout)
		t.active[roomID] = r
	case r != nil:
		if _, was := r.users[userID]; was {
			delete(r.users, userID)
			t.changedLocked(roomID, r)
			changed = true
		}
		if len(r.users) == 0 {
			delete(t.active, roomID)
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
// whose list changed, in room ID order.
func (t *Tracker) expireLocked(now time.Time) []expiry {
	var exps []expiry
	for id, r := range t.active {
		before := len(r.users)
		for u, exp := range r.users {
			if !now.Before(exp) {
				delete(r.users, u)
			}
		}
		if len(r.users) == 0 {
			delete(t.active, id)
		}
		if len(r.users) != before {
			t.changedLocked(id, r)
			exps = append(exps, expiry{roomID: id, users: t.usersLocked(id)})
		}
	}
	// sort.Slice, not slices.SortFunc: one sorting code for all element types
	// instead of a ~20 KB copy per struct type in the browser build.
	sort.Slice(exps, func(i, j int) bool { return exps[i].roomID < exps[j].roomID })
	return exps
}

// changedLocked gives r (roomID's) a new position. The log keeps the
// rooms' latest changes: once it holds more than twice as many entries as
// there are rooms, the older ones go.
func (t *Tracker) changedLocked(roomID string, r *room) {
	t.pos++
	r.changed = t.pos
	t.log = append(t.log, change{pos: t.pos, roomID: roomID})
	if len(t.log) > 2*len(t.rooms)+64 {
		log := make([]change, 0, len(t.rooms))
		for id, r := range t.rooms {
			log = append(log, change{pos: r.changed, roomID: id})
		}
		sort.Slice(log, func(i, j int) bool { return log[i].pos < log[j].pos })
		t.log = log
	}
}

// scheduleLocked sets the timer to the earliest expiry.
func (t *Tracker) scheduleLocked(now time.Time) {
	var first time.Time
	for _, r := range t.active {
		for _, exp := range r.users {
			if first.IsZero() || exp.Before(first) {
				first = exp
			}
		}
	}
	if first.IsZero() {
		if t.timer != nil {
			t.timer.Stop()
		}
		t.next = time.Time{}
		return
	}
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
// users changed at a position in (since, to], the users typing in it now
// (possibly none: everyone stopped). It reads the log of changes from
// since, asking in only about the rooms that changed: what it costs grows
// with the changes in the range, not with the rooms ever typed in.
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
		if r := t.rooms[c.roomID]; r.changed == c.pos && in(c.roomID) {
			out[c.roomID] = t.usersLocked(c.roomID)
		}
	}
	return out
}
