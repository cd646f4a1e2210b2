package storage

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

// A cached room list brought up to date after membership changes (only
// the rows that changed read again) is the list a cold read gives: rooms
// joined since, in room ID order among the old ones, a membership that
// changed, a row gone.
func TestRoomsForUserRefresh(t *testing.T) {
	ctx := context.Background()
	alice := "@alice:" + testServer
	s := newTestStore(t)
	cur := func(r *testRoom, ev core.NewEvent) core.PersistOptions {
		return core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id,
			Changes: core.StateMap{{Type: ev.Type, StateKey: *ev.StateKey}: ev.EventID}}}}
	}
	rooms := map[int]*testRoom{}
	join := func(i int, membership string, depth int64) {
		t.Helper()
		r := rooms[i]
		if r == nil {
			r = newTestRoom(t, s, fmt.Sprint("refresh ", i))
			rooms[i] = r
		}
		ev := r.member(fmt.Sprint("refresh ", i, " ", membership, depth), depth, alice, membership)
		r.persist(cur(r, ev), ev)
	}
	cold := func(memberships ...string) []core.RoomMembership {
		t.Helper()
		ms, err := NewEventStore(s.db).RoomsForUser(ctx, alice, memberships...)
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	check := func(step string) {
		t.Helper()
		for _, filter := range [][]string{nil, {"join"}} {
			got, err := s.RoomsForUser(ctx, alice, filter...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(cold(filter...), got); diff != "" {
				t.Errorf("%s, memberships %v: cached list differs from a cold read (-cold +cached):\n%s", step, filter, diff)
			}
		}
		if _, ok := s.members.get(alice, s.db.membershipGen.Load()); !ok {
			t.Errorf("%s: the refreshed list is not cached", step)
		}
	}
	for i := range 6 {
		join(i, "join", 1)
	}
	check("first read")
	if n := len(cold()); n != 6 {
		t.Fatalf("%d rooms, want 6", n)
	}
	for i := 6; i < 12; i++ {
		join(i, "join", 1)
	}
	join(2, "leave", 2)
	join(4, "ban", 2)
	check("after six joins, a leave and a ban")
	join(2, "join", 3)
	check("after joining again")
	// A row gone (as a purge leaves it), told by the generation.
	err := s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "DELETE FROM local_current_membership WHERE user_id = ? AND room_nid = (SELECT room_nid FROM rooms WHERE room_id = ?)", alice, rooms[7].id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s.db.membershipGen.Add(1)
	check("after a row went")
	if n := len(cold()); n != 11 {
		t.Errorf("%d rooms after one went, want 11", n)
	}
}
