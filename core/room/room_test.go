package room_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/storage"
)

const server = "hearth.test"

const alice = "@alice:" + server

// fixture is a pipeline on a real database.
type fixture struct {
	db       *storage.DB
	p        *room.Pipeline
	events   *storage.EventStore
	key      signing.Key
	profiles *storage.ProfileStore
}

func newFixture(tb testing.TB, configure ...func(*room.Config)) *fixture {
	tb.Helper()
	ctx := context.Background()
	path, vfs := filepath.Join(tb.TempDir(), "hearth.db"), os.Getenv("HEARTH_TEST_VFS")
	if vfs != "" {
		b := make([]byte, 8)
		rand.Read(b)
		path = "/" + hex.EncodeToString(b) + "-room.db"
	}
	db, err := storage.Open(ctx, storage.Options{Path: path, VFS: vfs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.ClaimServerName(ctx, server); err != nil {
		tb.Fatal(err)
	}
	key, err := db.ServerSigningKey(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	events := storage.NewEventStore(db)
	profiles := storage.NewProfileStore(db)
	cfg := room.Config{ServerName: server, Key: key, Profiles: profiles}
	for _, c := range configure {
		c(&cfg)
	}
	p, err := room.New(cfg, room.Stores{
		Events: events, Timeline: events, State: events, Groups: events, Rooms: events, AuthChains: events,
		Directory: storage.NewDirectoryStore(db),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{db: db, p: p, events: events, key: key, profiles: profiles}
}

func (f *fixture) event(tb testing.TB, id string) *room.Event {
	tb.Helper()
	e, err := f.p.Event(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// fork persists, as another writer would (federation), a state event of
// alice's built on parent rather than on the room's newest event, and
// tells the pipeline.
func (f *fixture) fork(tb testing.TB, v *roomversion.Version, roomID string, parent *room.Event, typ, stateKey, content string) string {
	tb.Helper()
	ctx := context.Background()
	st, err := f.events.StateAtEvent(ctx, parent.ID(), core.AllState)
	if err != nil {
		tb.Fatal(err)
	}
	var auth []string
	if !v.RoomIDFromCreateEvent {
		auth = append(auth, st[core.StateKey{Type: "m.room.create"}])
	}
	auth = append(auth, st[core.StateKey{Type: "m.room.power_levels"}], st[core.StateKey{Type: "m.room.member", StateKey: alice}])
	sk := stateKey
	ev := &pdu.PDU{
		RoomID: roomID, Sender: alice, Type: typ, StateKey: &sk, Content: json.RawMessage(content),
		OriginServerTS: time.Now().UnixMilli(), Depth: parent.PDU.Depth + 1,
		PrevEvents: []string{parent.ID()}, AuthEvents: auth,
	}
	if err := signing.SignEvent(v, ev, server, f.key.ID, f.key.Private); err != nil {
		tb.Fatal(err)
	}
	id, err := ev.ComputeEventID(v)
	if err != nil {
		tb.Fatal(err)
	}
	js, err := ev.MarshalFor(v)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = f.events.PersistEvents(ctx, []core.NewEvent{{
		EventID: id, RoomID: roomID, Type: typ, StateKey: &sk, Sender: alice, Depth: ev.Depth,
		OriginServerTS: ev.OriginServerTS, PrevEvents: ev.PrevEvents, JSON: js, FormatVersion: int(v.EventFormat),
		NewStateGroup: &core.StateGroupDelta{Prev: parent.Stored.StateGroup, Changes: core.StateMap{{Type: typ, StateKey: stateKey}: id}},
	}}, core.PersistOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	f.p.InvalidateRoom(roomID)
	return id
}

// stateAt returns the whole state after eventID.
func (f *fixture) stateAt(tb testing.TB, eventID string) core.StateMap {
	tb.Helper()
	m, err := f.events.StateAtEvent(context.Background(), eventID, core.AllState)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// current returns the room's whole current state.
func (f *fixture) current(tb testing.TB, roomID string) core.StateMap {
	tb.Helper()
	m, err := f.events.CurrentState(context.Background(), roomID, core.AllState)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func str(s string) *string { return &s }

func (f *fixture) setState(tb testing.TB, roomID, typ, stateKey, content string) string {
	tb.Helper()
	id, err := f.p.SendState(context.Background(), roomID, room.Proto{Type: typ, StateKey: str(stateKey), Sender: alice, Content: json.RawMessage(content)})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// TestSendMergesForks: an event sent while the room has two forward
// extremities references both, its state is their resolution, and the
// current state follows.
func TestSendMergesForks(t *testing.T) {
	for _, vid := range []roomversion.ID{"10", "12"} {
		t.Run("v"+string(vid), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			v, _ := roomversion.Lookup(vid)
			roomID, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, RoomVersion: string(vid)})
			if err != nil {
				t.Fatal(err)
			}
			exts, _ := f.p.ForwardExtremities(ctx, roomID)
			parent := f.event(t, exts[0])
			named := f.setState(t, roomID, "m.room.name", "", `{"name":"main"}`)
			forked := f.fork(t, v, roomID, parent, "m.room.topic", "", `{"topic":"fork"}`)

			exts, _ = f.p.ForwardExtremities(ctx, roomID)
			if len(exts) != 2 {
				t.Fatalf("forward extremities %v, want the name and the fork", exts)
			}
			msg, err := f.p.Send(ctx, roomID, room.Proto{Type: "m.room.message", Sender: alice, Content: json.RawMessage(`{"body":"merge"}`)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := f.event(t, msg)
			if diff := cmp.Diff(slices.Sorted(slices.Values([]string{named, forked})), slices.Sorted(slices.Values(m.PDU.PrevEvents))); diff != "" {
				t.Errorf("prev_events (-want +got):\n%s", diff)
			}
			if want := max(f.event(t, named).PDU.Depth, f.event(t, forked).PDU.Depth) + 1; m.PDU.Depth != want {
				t.Errorf("depth %d, want %d", m.PDU.Depth, want)
			}
			st := f.stateAt(t, msg)
			if st[core.StateKey{Type: "m.room.name"}] != named || st[core.StateKey{Type: "m.room.topic"}] != forked {
				t.Errorf("state after the merge %v", st)
			}
			if diff := cmp.Diff(st, f.current(t, roomID)); diff != "" {
				t.Errorf("current state differs from the state after the only extremity (-after +current):\n%s", diff)
			}
			exts, _ = f.p.ForwardExtremities(ctx, roomID)
			if len(exts) != 1 || exts[0] != msg {
				t.Errorf("forward extremities %v, want [%s]", exts, msg)
			}
			// Sending goes on linearly from there.
			next, err := f.p.Send(ctx, roomID, room.Proto{Type: "m.room.message", Sender: alice, Content: json.RawMessage(`{"body":"next"}`)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.event(t, next).PDU.PrevEvents; len(got) != 1 || got[0] != msg {
				t.Errorf("next prev_events %v", got)
			}
		})
	}
}

// TestSendWithMoreThanTenExtremities: the new event references ten; the
// others stay extremities and still count in the current state.
func TestSendWithMoreThanTenExtremities(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v, _ := roomversion.Lookup("11")
	roomID, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, RoomVersion: "11"})
	if err != nil {
		t.Fatal(err)
	}
	exts, _ := f.p.ForwardExtremities(ctx, roomID)
	parent := f.event(t, exts[0])
	forks := map[string]string{}
	for i := range 12 {
		k := fmt.Sprintf("k%02d", i)
		forks[k] = f.fork(t, v, roomID, parent, "org.example.fork", k, `{"i":`+fmt.Sprint(i)+`}`)
	}
	msg, err := f.p.Send(ctx, roomID, room.Proto{Type: "m.room.message", Sender: alice, Content: json.RawMessage(`{"body":"x"}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.event(t, msg).PDU.PrevEvents); n != 10 {
		t.Errorf("%d prev_events, want 10", n)
	}
	exts, _ = f.p.ForwardExtremities(ctx, roomID)
	if len(exts) != 3 {
		t.Errorf("forward extremities %v, want the message and the two forks it left out", exts)
	}
	cur := f.current(t, roomID)
	for k, id := range forks {
		if got := cur[core.StateKey{Type: "org.example.fork", StateKey: k}]; got != id {
			t.Errorf("current state at fork %s = %q, want %q", k, got, id)
		}
	}
	// The next send gathers the rest.
	next, err := f.p.Send(ctx, roomID, room.Proto{Type: "m.room.message", Sender: alice, Content: json.RawMessage(`{"body":"y"}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.event(t, next).PDU.PrevEvents); n != 3 {
		t.Errorf("next event has %d prev_events, want 3", n)
	}
	if diff := cmp.Diff(f.stateAt(t, next), f.current(t, roomID)); diff != "" {
		t.Errorf("current state (-after next +current):\n%s", diff)
	}
}

func TestHistoryVisible(t *testing.T) {
	tests := []struct {
		visibility, membership string
		joinedAfter            bool
		want                   bool
	}{
		{"world_readable", "", false, true},
		{"joined", "join", false, true},
		{"joined", "invite", true, false},
		{"shared", "", true, true},
		{"shared", "leave", false, false},
		{"invited", "invite", false, true},
		{"invited", "", true, false},
		{"joined", "leave", true, false},
	}
	for _, tt := range tests {
		if got := room.HistoryVisible(tt.visibility, tt.membership, tt.joinedAfter); got != tt.want {
			t.Errorf("HistoryVisible(%q, %q, %v) = %v, want %v", tt.visibility, tt.membership, tt.joinedAfter, got, tt.want)
		}
	}
}

func TestFilterVisible(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	bob := "@bob:" + server
	roomID, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, Preset: room.PresetPublicChat,
		InitialState: []room.StateProto{{Type: "m.room.history_visibility", Content: json.RawMessage(`{"history_visibility":"joined"}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string) string {
		id, err := f.p.Send(ctx, roomID, room.Proto{Type: "m.room.message", Sender: alice, Content: json.RawMessage(`{"body":"` + body + `"}`)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	before := send("before bob")
	if _, err := f.p.Join(ctx, roomID, bob, ""); err != nil {
		t.Fatal(err)
	}
	during := send("with bob")
	if err := f.p.Leave(ctx, roomID, bob, ""); err != nil {
		t.Fatal(err)
	}
	after := send("after bob")
	evs, err := f.p.Events(ctx, []string{before, during, after})
	if err != nil {
		t.Fatal(err)
	}
	vis, err := f.p.FilterVisible(ctx, bob, []*room.Event{evs[before], evs[during], evs[after]})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range vis {
		got = append(got, e.ID())
	}
	if diff := cmp.Diff([]string{during}, got); diff != "" {
		t.Errorf("visible to bob under history_visibility joined (-want +got):\n%s", diff)
	}
	// Bob's own leave is visible to him (his membership before it was join).
	m, err := f.events.Membership(ctx, roomID, bob)
	if err != nil {
		t.Fatal(err)
	}
	leave, _ := f.p.Events(ctx, []string{m.EventID})
	vis, err = f.p.FilterVisible(ctx, bob, []*room.Event{leave[m.EventID]})
	if err != nil || len(vis) != 1 {
		t.Errorf("bob's own leave: visible %d, %v", len(vis), err)
	}
}

func TestProfileChanged(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var rooms []string
	for range 2 {
		r, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice})
		if err != nil {
			t.Fatal(err)
		}
		rooms = append(rooms, r)
	}
	if err := f.p.Leave(ctx, rooms[1], alice, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.p.ProfileChanged(ctx, alice, "Alice", "mxc://hearth.test/a"); err != nil {
		t.Fatal(err)
	}
	content := func(roomID string) map[string]any {
		st := f.current(t, roomID)
		e := f.event(t, st[core.StateKey{Type: "m.room.member", StateKey: alice}])
		var c map[string]any
		json.Unmarshal(e.PDU.Content, &c)
		return c
	}
	want := map[string]any{"membership": "join", "displayname": "Alice", "avatar_url": "mxc://hearth.test/a"}
	if diff := cmp.Diff(want, content(rooms[0])); diff != "" {
		t.Errorf("joined room member content (-want +got):\n%s", diff)
	}
	if got := content(rooms[1]); got["membership"] != "leave" || got["displayname"] != nil {
		t.Errorf("a left room got a new member event: %v", got)
	}
	if err := f.p.ProfileChanged(ctx, alice, "", "mxc://hearth.test/a"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"membership": "join", "avatar_url": "mxc://hearth.test/a"}, content(rooms[0])); diff != "" {
		t.Errorf("after unsetting the name (-want +got):\n%s", diff)
	}
}

func TestJoinCarriesProfile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	bob := "@bob:" + server
	if err := f.profiles.SetProfileField(ctx, bob, "displayname", json.RawMessage(`"Bob"`)); err != nil {
		t.Fatal(err)
	}
	roomID, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, Preset: room.PresetPublicChat})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.Join(ctx, roomID, bob, "hello"); err != nil {
		t.Fatal(err)
	}
	e := f.event(t, f.current(t, roomID)[core.StateKey{Type: "m.room.member", StateKey: bob}])
	var c map[string]any
	json.Unmarshal(e.PDU.Content, &c)
	if diff := cmp.Diff(map[string]any{"membership": "join", "displayname": "Bob", "reason": "hello"}, c); diff != "" {
		t.Errorf("join content (-want +got):\n%s", diff)
	}
}
