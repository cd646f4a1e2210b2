package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ncruces/go-sqlite3/vfs"

	"hearth.dev/hearth/core"
)

// A cached room list follows the membership writes without being read
// again: after joins, leaves, bans, a join again, invites, out-of-band
// invites and their rejection, a membership gone from the current state
// and a write rolled back, it equals a fresh read of the database and is
// still the cached list; after a room purge (changes not listed) it is
// dropped; after a restart a fresh read gives the same list. Both with a
// pool of connections and on one connection (the browser's mode).
func TestRoomListFollowsWrites(t *testing.T) {
	for _, single := range []bool{false, true} {
		t.Run(fmt.Sprint("single=", single), func(t *testing.T) {
			o := testOptions(t)
			if single && testVFS == "" {
				registerSingleOS.Do(func() { vfs.Register(singleOSVFS, vfs.Find("os")) })
				o.VFS, o.Path = singleOSVFS, filepath.Join(t.TempDir(), "hearth.db")
			}
			testRoomListFollowsWrites(t, o)
		})
	}
}

func testRoomListFollowsWrites(t *testing.T, o Options) {
	ctx := context.Background()
	alice := "@alice:" + testServer
	bob := "@bob:remote.example"
	db, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			db.Close()
		}
	})
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "INSERT INTO server_config (key, value) VALUES ('server_name', ?)", testServer)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s := NewEventStore(db)
	rooms := map[int]*testRoom{}
	room := func(i int) *testRoom {
		if rooms[i] == nil {
			rooms[i] = newTestRoom(t, s, fmt.Sprint("follow ", i))
		}
		return rooms[i]
	}
	depth := int64(1)
	member := func(i int, user, membership string) core.NewEvent {
		depth++
		ev := room(i).member(fmt.Sprint("follow ", i, " ", user, " ", membership, depth), depth, user, membership)
		ev.Sender = alice
		if membership == "join" || membership == "leave" && user == alice {
			ev.Sender = user
		}
		return ev
	}
	// set makes ev the room's current membership of its user.
	set := func(i int, user, membership string) {
		t.Helper()
		ev := member(i, user, membership)
		room(i).persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: room(i).id,
			Changes: core.StateMap{{Type: ev.Type, StateKey: *ev.StateKey}: ev.EventID}}}}, ev)
	}
	// outOfBand stores an outlier membership of alice (a remote invite or
	// its rejection).
	outOfBand := func(i int, membership string) {
		t.Helper()
		ev := member(i, alice, membership)
		ev.Sender = bob
		ev.Outlier, ev.OutOfBandMembership, ev.NewStateGroup = true, true, nil
		room(i).persist(core.PersistOptions{}, ev)
	}
	fresh := func() []core.RoomMembership {
		t.Helper()
		l, err := s.readRoomList(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Collect(l.All())
	}
	list := func() *core.RoomList {
		t.Helper()
		l, err := s.RoomList(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	check := func(step string, cached bool) {
		t.Helper()
		if _, _, ok := db.members.get(alice); ok != cached {
			t.Errorf("%s: list cached = %v, want %v", step, ok, cached)
		}
		l := list()
		want := fresh()
		if diff := cmp.Diff(want, slices.Collect(l.All())); diff != "" {
			t.Errorf("%s: cached list differs from a fresh read (-fresh +cached):\n%s", step, diff)
		}
		if l.Len() != len(want) {
			t.Errorf("%s: Len() = %d, want %d", step, l.Len(), len(want))
		}
		for _, m := range want {
			if got, ok := l.Get(m.RoomID); !ok || got != m {
				t.Errorf("%s: Get(%s) = %v, %v; want %v", step, m.RoomID, got, ok, m)
			}
		}
		joined, err := s.RoomsForUser(ctx, alice, core.MembershipJoin)
		if err != nil {
			t.Fatal(err)
		}
		var wantJoined []core.RoomMembership
		for _, m := range want {
			if m.Membership == core.MembershipJoin {
				wantJoined = append(wantJoined, m)
			}
		}
		if diff := cmp.Diff(wantJoined, joined); diff != "" {
			t.Errorf("%s: joined rooms differ (-fresh +got):\n%s", step, diff)
		}
	}
	for i := range 6 {
		set(i, alice, "join")
	}
	check("first read", false)
	check("second read", true)
	if n := list().Len(); n != 6 {
		t.Fatalf("%d rooms, want 6", n)
	}
	for i := 6; i < 12; i++ {
		set(i, alice, "join")
	}
	set(2, alice, "leave")
	set(4, alice, "ban")
	set(3, bob, "join") // another user's membership changes nothing
	check("after six joins, a leave and a ban", true)
	set(2, alice, "join")
	check("after joining again", true)
	set(12, alice, "invite")
	outOfBand(13, "invite")
	check("after invites", true)
	outOfBand(13, "leave")
	set(12, alice, "leave")
	check("after rejecting the invites", true)
	// Gone from the current state (as a state reset may leave it).
	room(5).persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: room(5).id,
		Changes: core.StateMap{{Type: "m.room.member", StateKey: alice}: ""}}}})
	check("after a membership left the current state", true)
	if _, ok := list().Get(room(5).id); ok {
		t.Error("room 5 is still listed")
	}
	// A write that fails after changing a membership is rolled back, and
	// so is its change of the list.
	before := slices.Collect(list().All())
	errFail := errors.New("fail")
	ev := member(6, alice, "leave")
	err = db.Write(ctx, func(q Queryer) error {
		p := persister{ctx: ctx, q: q, rooms: map[string]int64{}, cache: &s.states, authSets: &s.authSets}
		if _, err := p.persist([]core.NewEvent{ev}, core.PersistOptions{CurrentState: []core.CurrentStateDelta{{
			RoomID: room(6).id, Changes: core.StateMap{{Type: ev.Type, StateKey: *ev.StateKey}: ev.EventID}}}}); err != nil {
			return err
		}
		return errFail
	})
	if !errors.Is(err, errFail) {
		t.Fatalf("failing write: %v", err)
	}
	check("after a rolled back write", true)
	if diff := cmp.Diff(before, slices.Collect(list().All())); diff != "" {
		t.Errorf("a rolled back write changed the list (-before +after):\n%s", diff)
	}
	// A purge does not list its changes: the lists go.
	if _, err := NewAdminRoomStore(db, testServer).PurgeRoom(ctx, room(7).id); err != nil {
		t.Fatal(err)
	}
	check("after a purge", false)
	if _, ok := list().Get(room(7).id); ok {
		t.Error("the purged room is still listed")
	}
	before = slices.Collect(list().All())
	closed = true
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpenWith(t, o)
	s = NewEventStore(db)
	if diff := cmp.Diff(before, slices.Collect(list().All())); diff != "" {
		t.Errorf("the list read after a restart differs (-before +after):\n%s", diff)
	}
	if n := len(before); n != 12 {
		t.Errorf("%d rooms at the end, want 12 (0-4, 6, 8-13; left 12 and 13)", n)
	}
}

// A read that misses the cache keeps what it read only if no change was
// applied meanwhile: a change that committed while the read ran may have
// found no list to apply itself to.
func TestRoomListPutAfterChange(t *testing.T) {
	var c membershipCache
	_, gen, ok := c.get("@a:x")
	if ok {
		t.Fatal("empty cache has a list")
	}
	c.apply(&memberChanges{list: []memberChange{{m: core.RoomMembership{UserID: "@b:x", RoomID: "!r", Membership: "join"}}}})
	c.put("@a:x", core.NewRoomList(nil), gen)
	if _, _, ok := c.get("@a:x"); ok {
		t.Error("a list read before a change was kept")
	}
	_, gen, _ = c.get("@a:x")
	c.put("@a:x", core.NewRoomList(nil), gen)
	if _, _, ok := c.get("@a:x"); !ok {
		t.Error("a list read with no change since was not kept")
	}
}

// BenchmarkRoomsAfterJoin: a user in 3,000 rooms joins one more, then
// reads their rooms, as the /sync after a createRoom does. "view" is the
// read /sync and /search make (RoomList), "copy" a caller that wants a
// slice (RoomsForUser).
func BenchmarkRoomsAfterJoin(b *testing.B) {
	ctx := context.Background()
	alice := "@alice:" + testServer
	s := newTestStore(b)
	n := 0
	join := func() {
		r := newTestRoom(b, s, fmt.Sprint("bench ", n))
		ev := r.member(fmt.Sprint("bench join ", n), 1, alice, "join")
		r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id,
			Changes: core.StateMap{{Type: ev.Type, StateKey: alice}: ev.EventID}}}}, ev)
		n++
	}
	for range 3000 {
		join()
	}
	for _, read := range []string{"view", "copy"} {
		b.Run(read, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				join()
				b.StartTimer()
				if read == "view" {
					l, err := s.RoomList(ctx, alice)
					if err != nil || l.Len() != n {
						b.Fatalf("%d rooms, %v; want %d", l.Len(), err, n)
					}
				} else {
					ms, err := s.RoomsForUser(ctx, alice, core.MembershipJoin)
					if err != nil || len(ms) != n {
						b.Fatalf("%d rooms, %v; want %d", len(ms), err, n)
					}
				}
			}
		})
	}
}
