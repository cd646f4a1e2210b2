package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"hearth.dev/hearth/core"
)

func TestCurrentState(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	alice, bob := "@alice:"+testServer, "@bob:remote.test"
	create := r.state("create", 1, "m.room.create", "", `{}`)
	ja := r.member("ja", 2, alice, "join", "create")
	name := r.state("name", 3, "m.room.name", "", `{"name":"x"}`, "ja")
	jb := r.member("jb", 4, bob, "join", "name")
	topic := r.state("topic", 5, "m.room.topic", "", `{"topic":"t"}`, "jb")
	r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id, Changes: core.StateMap{
		{Type: "m.room.create"}:                  create.EventID,
		{Type: "m.room.member", StateKey: alice}: ja.EventID,
		{Type: "m.room.name"}:                    name.EventID,
		{Type: "m.room.member", StateKey: bob}:   jb.EventID,
		{Type: "m.room.topic"}:                   topic.EventID,
	}}}}, create, ja, name, jb, topic)

	// A second batch replaces the name and removes the topic.
	name2 := r.state("name2", 6, "m.room.name", "", `{"name":"y"}`, "topic")
	r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id, Changes: core.StateMap{
		{Type: "m.room.name"}:  name2.EventID,
		{Type: "m.room.topic"}: "",
	}}}}, name2)

	all := core.StateMap{
		{Type: "m.room.create"}:                  create.EventID,
		{Type: "m.room.member", StateKey: alice}: ja.EventID,
		{Type: "m.room.member", StateKey: bob}:   jb.EventID,
		{Type: "m.room.name"}:                    name2.EventID,
	}
	tests := []struct {
		name   string
		filter core.StateFilter
		want   core.StateMap
	}{
		{"all", core.AllState, all},
		{"types", core.StateTypes("m.room.name", "m.room.create"), core.StateMap{
			{Type: "m.room.create"}: create.EventID, {Type: "m.room.name"}: name2.EventID}},
		{"all members", core.StateTypes("m.room.member"), core.StateMap{
			{Type: "m.room.member", StateKey: alice}: ja.EventID,
			{Type: "m.room.member", StateKey: bob}:   jb.EventID}},
		{"one key", core.StateKeys(core.StateKey{Type: "m.room.member", StateKey: bob}), core.StateMap{
			{Type: "m.room.member", StateKey: bob}: jb.EventID}},
		{"lazy members", core.StateFilter{Types: map[string][]string{"m.room.member": {alice}}, IncludeOthers: true}, core.StateMap{
			{Type: "m.room.create"}:                  create.EventID,
			{Type: "m.room.member", StateKey: alice}: ja.EventID,
			{Type: "m.room.name"}:                    name2.EventID}},
		{"removed key", core.StateTypes("m.room.topic"), core.StateMap{}},
		{"nothing", core.StateFilter{Types: map[string][]string{}}, core.StateMap{}},
		{"others only", core.StateFilter{Types: map[string][]string{}, IncludeOthers: true}, all},
		{"type with no keys", core.StateFilter{Types: map[string][]string{"m.room.member": {}}, IncludeOthers: true}, core.StateMap{
			{Type: "m.room.create"}: create.EventID, {Type: "m.room.name"}: name2.EventID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.CurrentState(ctx, r.id, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CurrentState mismatch (-want +got):\n%s", diff)
			}
			// The filter's own Match agrees with the SQL.
			for k := range all {
				_, in := got[k]
				if tt.filter.Match(k) != in {
					t.Errorf("filter.Match(%v) = %v, but CurrentState has it: %v", k, !in, in)
				}
			}
		})
	}
	_, err := s.CurrentState(ctx, "!nope", core.AllState)
	wantErrIs(t, "CurrentState(unknown room)", err, core.ErrNotFound)
}

func TestMembership(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	alice, bob := "@alice:"+testServer, "@bob:remote.test"
	joined := newTestRoom(t, s, "joined")
	left := newTestRoom(t, s, "left")
	invited := newTestRoom(t, s, "invited")

	cur := func(r *testRoom, evs ...core.NewEvent) core.PersistOptions {
		d := core.CurrentStateDelta{RoomID: r.id, Changes: core.StateMap{}}
		for _, ev := range evs {
			d.Changes[core.StateKey{Type: ev.Type, StateKey: *ev.StateKey}] = ev.EventID
		}
		return core.PersistOptions{CurrentState: []core.CurrentStateDelta{d}}
	}
	ja := joined.member("ja", 1, alice, "join")
	jb := joined.member("jb", 2, bob, "join", "ja")
	joined.persist(cur(joined, ja, jb), ja, jb)
	la1 := left.member("la1", 1, alice, "join")
	left.persist(cur(left, la1), la1)
	la2 := left.member("la2", 2, alice, "leave", "la1")
	left.persist(cur(left, la2), la2)
	// A remote invite: an out-of-band outlier, not in any room state.
	inv := invited.member("inv", 7, alice, "invite")
	inv.Sender = bob
	inv.Outlier, inv.OutOfBandMembership = true, true
	inv.NewStateGroup, inv.StateGroup = nil, 0
	soInv := invited.persist(core.PersistOptions{}, inv)

	tests := []struct {
		room, user string
		want       string
		wantEvent  string
	}{
		{joined.id, alice, "join", ja.EventID},
		{joined.id, bob, "join", jb.EventID},
		{left.id, alice, "leave", la2.EventID},
		{invited.id, alice, "invite", inv.EventID},
	}
	for _, tt := range tests {
		m, err := s.Membership(ctx, tt.room, tt.user)
		if err != nil {
			t.Errorf("Membership(%s, %s): %v", tt.room, tt.user, err)
			continue
		}
		if m.Membership != tt.want || m.EventID != tt.wantEvent || m.RoomID != tt.room || m.UserID != tt.user {
			t.Errorf("Membership(%s, %s) = %+v, want %s by %s", tt.room, tt.user, m, tt.want, tt.wantEvent)
		}
	}
	_, err := s.Membership(ctx, left.id, bob)
	wantErrIs(t, "Membership(no membership)", err, core.ErrNotFound)
	_, err = s.Membership(ctx, "!nope", alice)
	wantErrIs(t, "Membership(unknown room)", err, core.ErrNotFound)

	byID := map[string]string{joined.id: "joined", left.id: "left", invited.id: "invited"}
	rooms := func(memberships ...string) []string {
		t.Helper()
		ms, err := s.RoomsForUser(ctx, alice, memberships...)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, byID[m.RoomID]+" "+m.Membership)
		}
		return out
	}
	// want lists "label membership" in the order RoomsForUser promises: by
	// room ID.
	want := func(xs ...string) []string {
		slices.SortFunc(xs, func(a, b string) int {
			return strings.Compare(roomOfLabel(byID, a), roomOfLabel(byID, b))
		})
		return xs
	}
	for _, tt := range []struct {
		memberships []string
		want        []string
	}{
		{nil, want("joined join", "left leave", "invited invite")},
		{[]string{"join"}, want("joined join")},
		{[]string{"join", "invite"}, want("joined join", "invited invite")},
		{[]string{"ban"}, nil},
	} {
		if diff := cmp.Diff(tt.want, rooms(tt.memberships...), cmpEmpty); diff != "" {
			t.Errorf("RoomsForUser(%v) mismatch (-want +got):\n%s", tt.memberships, diff)
		}
	}
	// Remote users' rooms are not tracked.
	if ms, err := s.RoomsForUser(ctx, bob); err != nil || len(ms) != 0 {
		t.Errorf("RoomsForUser(remote) = %v, %v; want none", ms, err)
	}
	ms, err := s.RoomsForUser(ctx, alice, "invite")
	if err != nil || len(ms) != 1 || ms[0].StreamOrdering != soInv[0] {
		t.Errorf("RoomsForUser(invite) = %+v, %v; want stream ordering %d", ms, err, soInv[0])
	}

	// Joining the invited room moves the membership to the room's state.
	ji := invited.member("ji", 8, alice, "join")
	invited.persist(cur(invited, ji), ji)
	if m, err := s.Membership(ctx, invited.id, alice); err != nil || m.Membership != "join" || m.EventID != ji.EventID {
		t.Errorf("Membership after join = %+v, %v; want join", m, err)
	}
	// The room lists read above are cached; the join replaced them, also
	// for another store on the same database.
	other := NewEventStore(s.db)
	if diff := cmp.Diff(want("joined join", "invited join"), rooms("join"), cmpEmpty); diff != "" {
		t.Errorf("RoomsForUser(join) after joining mismatch (-want +got):\n%s", diff)
	}
	if ms, err := other.RoomsForUser(ctx, alice, "join"); err != nil || len(ms) != 2 {
		t.Errorf("other store: RoomsForUser(join) = %+v, %v; want 2 rooms", ms, err)
	}
	li := invited.member("li", 9, alice, "leave", "ji")
	invited.persist(cur(invited, li), li)
	if diff := cmp.Diff(want("joined join"), rooms("join"), cmpEmpty); diff != "" {
		t.Errorf("RoomsForUser(join) after leaving mismatch (-want +got):\n%s", diff)
	}
	if ms, err := other.RoomsForUser(ctx, alice, "join"); err != nil || len(ms) != 1 || ms[0].RoomID != joined.id {
		t.Errorf("other store: RoomsForUser(join) after leaving = %+v, %v; want the joined room", ms, err)
	}
}

// roomOfLabel returns the room ID of a "label membership" string.
func roomOfLabel(byID map[string]string, x string) string {
	label, _, _ := strings.Cut(x, " ")
	for id, n := range byID {
		if n == label {
			return id
		}
	}
	return ""
}

func TestMembershipNeedsServerName(t *testing.T) {
	// Without a server name, local memberships cannot be recorded: the
	// write fails instead of silently dropping them.
	ctx := context.Background()
	s := NewEventStore(mustOpen(t))
	if err := s.StoreRoom(ctx, core.RoomInfo{RoomID: "!r", RoomVersion: "12"}); err != nil {
		t.Fatal(err)
	}
	r := &testRoom{tb: t, s: s, id: "!r"}
	g, err := s.StoreStateGroup(ctx, "!r", "$c", core.StateGroupDelta{})
	if err != nil {
		t.Fatal(err)
	}
	r.base = g
	ev := r.member("j", 1, "@alice:"+testServer, "join")
	_, err = s.PersistEvents(ctx, []core.NewEvent{ev}, core.PersistOptions{CurrentState: []core.CurrentStateDelta{{
		RoomID: "!r", Changes: core.StateMap{{Type: "m.room.member", StateKey: "@alice:" + testServer}: ev.EventID},
	}}})
	if err == nil {
		t.Error("PersistEvents without a server name succeeded")
	}
}

// FuzzStateFilter checks that the SQL a filter becomes selects exactly what
// StateFilter.Match selects.
func FuzzStateFilter(f *testing.F) {
	ctx := context.Background()
	s := newTestStore(f)
	r := newTestRoom(f, s, "r")
	types := []string{"m.room.member", "m.room.name", "m.room.topic", "x.y"}
	keys := []string{"", "@a:x", "@b:x", "@c:x"}
	all := core.StateMap{}
	var evs []core.NewEvent
	for i, typ := range types {
		for j, sk := range keys {
			if typ == "m.room.member" && sk == "" {
				continue
			}
			name := fmt.Sprint("s", i, j)
			ev := r.state(name, int64(len(evs)+1), typ, sk, `{}`)
			if typ == "m.room.member" {
				ev.Membership = "join"
				ev.Sender = sk
			}
			evs = append(evs, ev)
			all[core.StateKey{Type: typ, StateKey: sk}] = ev.EventID
		}
	}
	r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id, Changes: all}}}, evs...)
	f.Add([]byte{0x00})
	f.Add([]byte{0x81, 0x11, 0x22})
	f.Add([]byte{0x03, 0x4f, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Byte 0: bit 7 IncludeOthers, bit 6 nil Types. Then one byte per
		// type: bits 0-1 the type, bit 2 all keys, bits 3-6 which keys.
		if len(b) == 0 {
			return
		}
		var filter core.StateFilter
		filter.IncludeOthers = b[0]&0x80 != 0
		if b[0]&0x40 == 0 {
			filter.Types = map[string][]string{}
			for _, c := range b[1:] {
				typ := types[c&3]
				if c&4 != 0 {
					filter.Types[typ] = nil
					continue
				}
				ks := []string{}
				for i, k := range keys {
					if c&(8<<i) != 0 {
						ks = append(ks, k)
					}
				}
				filter.Types[typ] = ks
			}
		}
		got, err := s.CurrentState(ctx, r.id, filter)
		if err != nil {
			t.Fatal(err)
		}
		want := core.StateMap{}
		for k, v := range all {
			if filter.Match(k) {
				want[k] = v
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CurrentState(%+v) mismatch (-Match +SQL):\n%s", filter, diff)
		}
		// The state group cache filters in Go: it must agree too.
		if diff := cmp.Diff(want, filtered(all, filter)); diff != "" {
			t.Errorf("filtered(%+v) mismatch (-Match +filtered):\n%s", filter, diff)
		}
	})
}

// TestRoomListFreshWhenSyncWakes checks the order of a membership change's
// commit and the wake-up of /sync: a reader woken by StreamAdvanced (as a
// long-polling /sync is, before the write's caller has its answer) must not
// find the user's room list from before the change in the cache. It did,
// and a tab's /sync then skipped a room just created for good.
func TestRoomListFreshWhenSyncWakes(t *testing.T) {
	ctx := context.Background()
	alice := "@alice:" + testServer
	var store atomic.Pointer[EventStore]
	var woken, stale atomic.Int32
	var want atomic.Pointer[string] // the room the cached list must have
	o := testOptions(t)
	o.StreamAdvanced = func() {
		s := store.Load()
		if s == nil {
			return
		}
		woken.Add(1)
		if l, _, ok := s.db.members.get(alice); ok && want.Load() != nil && !l.Has(*want.Load(), "join") {
			stale.Add(1)
		}
	}
	s := newTestStoreWith(t, o)
	store.Store(s)
	cur := func(r *testRoom, ev core.NewEvent) core.PersistOptions {
		return core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id,
			Changes: core.StateMap{{Type: ev.Type, StateKey: *ev.StateKey}: ev.EventID}}}}
	}
	first := newTestRoom(t, s, "first")
	j1 := first.member("j1", 1, alice, "join")
	first.persist(cur(first, j1), j1)
	if ms, err := s.RoomsForUser(ctx, alice, "join"); err != nil || len(ms) != 1 {
		t.Fatalf("RoomsForUser = %v, %v; want the first room", ms, err)
	}
	if _, _, ok := s.db.members.get(alice); !ok {
		t.Fatal("the room list just read is not cached; this test needs it to be")
	}
	woken.Store(0)
	second := newTestRoom(t, s, "second")
	j2 := second.member("j2", 1, alice, "join")
	want.Store(&second.id)
	second.persist(cur(second, j2), j2)
	if woken.Load() == 0 {
		t.Fatal("the join woke nobody (StreamAdvanced not called)")
	}
	if n := stale.Load(); n > 0 {
		t.Errorf("%d wake-ups after the join found alice's room list from before it cached", n)
	}
	if ms, err := s.RoomsForUser(ctx, alice, "join"); err != nil || len(ms) != 2 {
		t.Errorf("RoomsForUser after the second join = %v, %v; want two rooms", ms, err)
	}
}
