package room_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

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

// racingDirectory is the real directory store, except that the alias
// check lets a racing request take the alias just after it looked.
type racingDirectory struct {
	*storage.DirectoryStore
	rival string // the room the rival maps the alias to
}

func (d racingDirectory) ResolveAlias(ctx context.Context, alias string) (string, string, error) {
	roomID, creator, err := d.DirectoryStore.ResolveAlias(ctx, alias)
	if errors.Is(err, core.ErrNotFound) {
		if err := d.CreateAlias(ctx, alias, d.rival, "@rival:"+server); err != nil {
			return "", "", err
		}
	}
	return roomID, creator, err
}

// TestCreateRoomAliasRaceLeavesNothing checks that a createRoom losing
// the race for its alias writes nothing: no room row (the admin room list
// would show an empty room), no events, no state, and the alias stays the
// winner's.
func TestCreateRoomAliasRaceLeavesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rival, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]int{}
	tables := []string{"rooms", "events", "state_groups", "current_state_events", "room_aliases"}
	for _, table := range tables {
		before[table] = f.count(t, table)
	}
	dir := racingDirectory{DirectoryStore: storage.NewDirectoryStore(f.db), rival: rival}
	p, err := room.New(room.Config{ServerName: server, Key: f.key}, room.Stores{
		Events: f.events, Timeline: f.events, State: f.events, Groups: f.events, Rooms: f.events, AuthChains: f.events, Directory: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.CreateRoom(ctx, room.CreateRequest{Creator: alice, RoomAliasName: "contested", Name: str("mine")})
	var me *core.Error
	if !errors.As(err, &me) || me.ErrCode != "M_ROOM_IN_USE" {
		t.Fatalf("createRoom losing the alias race: got %v, want M_ROOM_IN_USE", err)
	}
	for _, table := range tables {
		want := before[table]
		if table == "room_aliases" {
			want++ // the rival's
		}
		if got := f.count(t, table); got != want {
			t.Errorf("after the lost race %s has %d rows, want %d", table, got, want)
		}
	}
	if got, _, err := dir.DirectoryStore.ResolveAlias(ctx, "#contested:"+server); err != nil || got != rival {
		t.Errorf("alias resolves to %q, %v; want the rival's room %s", got, err, rival)
	}
}

// TestCreateRoomInitialStateCap checks the bound on initial_state: at the
// bound the room is made, one more is refused with M_INVALID_PARAM.
func TestCreateRoomInitialStateCap(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	state := func(n int) []room.StateProto {
		out := make([]room.StateProto, n)
		for i := range out {
			out[i] = room.StateProto{Type: "org.example.setting", StateKey: fmt.Sprint(i), Content: []byte(`{}`)}
		}
		return out
	}
	if _, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, InitialState: state(room.MaxCreateRoomInitialState)}); err != nil {
		t.Fatalf("createRoom with %d initial_state events (the bound): %v", room.MaxCreateRoomInitialState, err)
	}
	rooms := f.count(t, "rooms")
	_, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, InitialState: state(room.MaxCreateRoomInitialState + 1)})
	var me *core.Error
	if !errors.As(err, &me) || me.ErrCode != "M_INVALID_PARAM" {
		t.Fatalf("createRoom with %d initial_state events: got %v, want M_INVALID_PARAM", room.MaxCreateRoomInitialState+1, err)
	}
	if got := f.count(t, "rooms"); got != rooms {
		t.Errorf("refused createRoom left %d rooms, want %d", got, rooms)
	}
}

// TestCreateRoomV12SameMillisecond checks rooms whose ID is their create
// event's hash (room version 12): two rooms made by the same user in the
// same millisecond get different IDs, and a create event that repeats a
// stored one (a restart with the clock set back) is refused, not written
// into the existing room.
func TestCreateRoomV12SameMillisecond(t *testing.T) {
	ctx := context.Background()
	fixed := func(c *room.Config) { c.Now = fixed0() }
	f := newFixture(t, fixed)
	req := room.CreateRequest{Creator: alice, RoomVersion: "12"}
	first, err := f.p.CreateRoom(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.p.CreateRoom(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Fatalf("two rooms created in the same millisecond share the ID %s", first)
	}
	events := f.count(t, "events")
	// A second pipeline over the same database starts from the same clock.
	again, err := room.New(room.Config{ServerName: server, Key: f.key, Profiles: f.profiles, Now: fixed0()}, room.Stores{
		Events: f.events, Timeline: f.events, State: f.events, Groups: f.events, Rooms: f.events, AuthChains: f.events,
		Directory: storage.NewDirectoryStore(f.db),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = again.CreateRoom(ctx, req)
	var me *core.Error
	if !errors.As(err, &me) || me.Status != 409 {
		t.Fatalf("creating a room whose create event exists already: %v, want a 409 Matrix error", err)
	}
	if got := f.count(t, "events"); got != events {
		t.Errorf("the refused room wrote %d events", got-events)
	}
}

// fixed0 is a clock stopped at one millisecond.
func fixed0() func() time.Time {
	return func() time.Time { return time.UnixMilli(1_700_000_000_000) }
}
