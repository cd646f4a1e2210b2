package room_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/storage"
)

// invitees returns n local user IDs.
func invitees(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("@invitee%d:%s", i, server)
	}
	return out
}

// count returns the number of rows of table.
func (f *fixture) count(tb testing.TB, table string) int {
	tb.Helper()
	var n int
	err := f.db.Read(context.Background(), func(q storage.Queryer) error {
		return q.QueryRowContext(context.Background(), "SELECT count(*) FROM "+table).Scan(&n)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestCreateRoomStateRowsLinear checks that a new room's state groups are
// stored as deltas: each invite adds one state group and about one row of
// state_groups_state, however many invites came before it (the events of
// a new room used to get a full snapshot each: 100 invites made 5,671
// rows).
func TestCreateRoomStateRowsLinear(t *testing.T) {
	ctx := context.Background()
	rows := map[int]int{}
	for _, n := range []int{10, 40, 80} {
		f := newFixture(t)
		roomID, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, Invite: invitees(n)})
		if err != nil {
			t.Fatalf("createRoom with %d invites: %v", n, err)
		}
		rows[n] = f.count(t, "state_groups_state")
		// The state at the last event is still the whole room.
		want := f.current(t, roomID)
		if len(want) != 6+n { // create, join, power levels, join rules, history, guest access, invites
			t.Fatalf("%d invites: current state has %d keys, want %d", n, len(want), 6+n)
		}
		last := want[core.StateKey{Type: "m.room.member", StateKey: invitees(n)[n-1]}]
		if got := f.stateAt(t, last); len(got) != len(want) {
			t.Errorf("%d invites: state at the last invite has %d keys, want %d", n, len(got), len(want))
		}
	}
	// One row per event (6 + n events), chains staying under 100 hops.
	for n, got := range rows {
		if got != 6+n {
			t.Errorf("createRoom with %d invites stored %d state_groups_state rows, want %d (one per event)", n, got, 6+n)
		}
	}
	if per := float64(rows[80]-rows[40]) / 40; per > 1.5 {
		t.Errorf("each invite beyond 40 costs %.1f state rows, want about 1", per)
	}
}

// TestCreateRoomInviteCap checks the bound on createRoom's invite list: at
// the bound the room is made; one more is refused with M_INVALID_PARAM
// and nothing is written.
func TestCreateRoomInviteCap(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(c *room.Config) { c.MaxCreateRoomInvites = 5 })
	if _, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, Invite: invitees(5)}); err != nil {
		t.Fatalf("createRoom with 5 invites (the bound): %v", err)
	}
	rooms := f.count(t, "rooms")
	_, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, Invite: invitees(6)})
	var me *core.Error
	if !errors.As(err, &me) || me.ErrCode != "M_INVALID_PARAM" || me.Status != 400 {
		t.Fatalf("createRoom with 6 invites over a bound of 5: got %v, want M_INVALID_PARAM (400)", err)
	}
	if got := f.count(t, "rooms"); got != rooms {
		t.Errorf("refused createRoom left %d rooms, want %d", got, rooms)
	}

	// The default bound.
	f = newFixture(t)
	if _, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, Invite: invitees(room.DefaultMaxCreateRoomInvites + 1)}); !errors.As(err, &me) || me.ErrCode != "M_INVALID_PARAM" {
		t.Fatalf("createRoom with %d invites: got %v, want M_INVALID_PARAM", room.DefaultMaxCreateRoomInvites+1, err)
	}
}
