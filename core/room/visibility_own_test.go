package room_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

// FilterVisible lets a user see the events they sent without reading the
// state at them. Its answer must be the one the history visibility rules
// give from that state, for every event of rooms where the user joins,
// sends messages and state, invites, kicks and bans others, changes the
// history visibility, leaves, is kicked and comes back, under each history
// visibility, for the user and for another member.
func TestFilterVisibleOwnEventsAsByState(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	bob := "@bob:" + server
	carol := "@carol:" + server
	dave := "@dave:" + server
	for _, hv := range []string{room.HistoryWorldReadable, room.HistoryShared, room.HistoryInvited, room.HistoryJoined} {
		t.Run(hv, func(t *testing.T) {
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			roomID, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, Preset: room.PresetPublicChat,
				PowerLevelContentOverride: json.RawMessage(`{"users":{"` + bob + `":50},"events":{"m.room.history_visibility":50}}`),
				InitialState:              []room.StateProto{{Type: "m.room.history_visibility", Content: json.RawMessage(`{"history_visibility":"` + hv + `"}`)}}})
			must(err)
			send := func(sender, body string) {
				t.Helper()
				_, err := f.p.Send(ctx, roomID, room.Proto{Type: "m.room.message", Sender: sender, Content: json.RawMessage(`{"body":"` + body + `"}`)}, nil)
				must(err)
			}
			state := func(sender, typ, content string) {
				t.Helper()
				empty := ""
				_, err := f.p.SendState(ctx, roomID, room.Proto{Type: typ, StateKey: &empty, Sender: sender, Content: json.RawMessage(content)})
				must(err)
			}
			send(alice, "before bob")
			_, err = f.p.Join(ctx, roomID, bob, "")
			must(err)
			send(bob, "bob here")
			state(bob, "m.room.topic", `{"topic":"bob's topic"}`)
			must(f.p.Invite(ctx, roomID, bob, carol, "", false))
			_, err = f.p.Join(ctx, roomID, carol, "")
			must(err)
			send(carol, "carol here")
			_, err = f.p.Join(ctx, roomID, dave, "")
			must(err)
			must(f.p.Kick(ctx, roomID, bob, dave, "out"))
			state(alice, "m.room.history_visibility", `{"history_visibility":"joined"}`)
			send(bob, "under joined")
			must(f.p.Leave(ctx, roomID, bob, ""))
			send(alice, "bob away")
			state(alice, "m.room.history_visibility", `{"history_visibility":"`+hv+`"}`)
			_, err = f.p.Join(ctx, roomID, bob, "")
			must(err)
			send(bob, "bob back")
			must(f.p.Ban(ctx, roomID, bob, carol, "gone"))
			state(bob, "m.room.history_visibility", `{"history_visibility":"shared"}`)
			must(f.p.Kick(ctx, roomID, alice, bob, "bye"))
			send(alice, "after bob")

			byStream, err := f.events.RoomEventsStream(ctx, []string{roomID}, -1<<62, 1<<62, core.Forward, 1000)
			must(err)
			var ids []string
			for _, ev := range byStream[roomID] {
				ids = append(ids, ev.EventID)
			}
			m, err := f.p.Events(ctx, ids)
			must(err)
			evs := make([]*room.Event, len(ids))
			for i, id := range ids {
				evs[i] = m[id]
			}
			for _, viewer := range []string{bob, carol, alice} {
				visible := func(shortcut bool) []string {
					t.Helper()
					defer room.SetSentByViewer(shortcut)()
					vis, err := f.p.FilterVisible(ctx, viewer, evs)
					must(err)
					out := []string{}
					for _, e := range vis {
						out = append(out, e.ID())
					}
					return out
				}
				byState := visible(false)
				if diff := cmp.Diff(byState, visible(true)); diff != "" {
					t.Errorf("%s: visible by the state (-) and with own events shown (+):\n%s", viewer, diff)
				}
				// Every event the viewer sent is among them.
				seen := map[string]bool{}
				for _, id := range byState {
					seen[id] = true
				}
				for _, e := range evs {
					if e.PDU.Sender == viewer && !seen[e.ID()] {
						t.Errorf("%s: their own %s %s is not visible to them", viewer, e.PDU.Type, e.ID())
					}
				}
			}
		})
	}
}

// TestFilterVisibleReadsNoStateForOwnMembershipOrCreate checks that
// FilterVisible reads no state for the user's own membership events and
// the create event (only the user's latest join, for the create event
// under shared visibility), and that what it shows is what the state
// gives.
func TestFilterVisibleReadsNoStateForOwnMembershipOrCreate(t *testing.T) {
	ctx := context.Background()
	groups := &countingGroups{}
	f := newFixture(t)
	groups.StateGroupStore = f.events
	p, err := room.New(room.Config{ServerName: server, Key: f.key, Profiles: f.profiles}, room.Stores{
		Events: f.events, Timeline: f.events, State: f.events, Groups: groups, Rooms: f.events, AuthChains: f.events,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	bob := "@bob:" + server
	roomID, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, Preset: room.PresetPublicChat})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.Join(ctx, roomID, bob, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Leave(ctx, roomID, bob, ""); err != nil {
		t.Fatal(err)
	}
	byStream, err := f.events.RoomEventsStream(ctx, []string{roomID}, -1<<62, 1<<62, core.Forward, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var create, bobs, alices []string
	for _, ev := range byStream[roomID] {
		switch {
		case ev.Type == "m.room.create":
			create = append(create, ev.EventID)
		case ev.Type == "m.room.member" && ev.StateKey != nil && *ev.StateKey == alice:
			alices = append(alices, ev.EventID)
		case ev.Type == "m.room.member" && ev.StateKey != nil && *ev.StateKey == bob:
			bobs = append(bobs, ev.EventID)
		}
	}
	if len(create) != 1 || len(bobs) != 2 || len(alices) != 1 {
		t.Fatalf("found %d create, %d of bob's and %d of alice's membership events, want 1, 2 and 1", len(create), len(bobs), len(alices))
	}
	for _, tc := range []struct {
		name      string
		viewer    string
		ids       []string
		wantReads uint64
	}{
		{"bob's join and leave", bob, bobs, 0},
		{"the create event, to alice", alice, create, 1}, // alice's latest join
		{"the create event, to bob", bob, create, 1},     // bob's latest join
		// A join after the create event is among the events: nothing read.
		{"the create event and alice's join, to alice", alice, append(alices, create...), 0},
		{"the create event and bob's join and leave, to bob", bob, append(bobs, create...), 0},
	} {
		groups.calls.Store(0)
		m, err := f.p.Events(ctx, tc.ids)
		if err != nil {
			t.Fatal(err)
		}
		evs := make([]*room.Event, len(tc.ids))
		for i, id := range tc.ids {
			evs[i] = m[id]
		}
		visible := func(shortcut bool) ([]string, uint64) {
			t.Helper()
			defer room.SetSentByViewer(shortcut)()
			before := f.db.ReadTransactions()
			vis, err := f.p.FilterVisible(ctx, tc.viewer, evs)
			if err != nil {
				t.Fatal(err)
			}
			out := []string{}
			for _, e := range vis {
				out = append(out, e.ID())
			}
			return out, f.db.ReadTransactions() - before
		}
		got, reads := visible(true) // first: nothing read before is cached
		byState, _ := visible(false)
		if diff := cmp.Diff(byState, got); diff != "" {
			t.Errorf("%s: visible by the state (-) and without reading it (+):\n%s", tc.name, diff)
		}
		if len(got) != len(tc.ids) {
			t.Errorf("%s: %d of %d events visible, want all", tc.name, len(got), len(tc.ids))
		}
		if reads != tc.wantReads {
			t.Errorf("%s: FilterVisible began %d read transactions, want %d", tc.name, reads, tc.wantReads)
		}
		if n := groups.calls.Load(); n != 1 {
			// The comparison's read by the state only.
			t.Errorf("%s: states of groups read %d times, want once", tc.name, n)
		}
	}
}

// countingGroups counts the reads of several groups' states.
type countingGroups struct {
	core.StateGroupStore
	calls atomic.Int64
}

func (g *countingGroups) StatesAt(ctx context.Context, groups []int64, filter core.StateFilter) (map[int64]core.StateMap, error) {
	g.calls.Add(1)
	return g.StateGroupStore.StatesAt(ctx, groups, filter)
}
