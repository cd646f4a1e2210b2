package room_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/storage"
)

// noIndex is an auth chain store whose index never answers, so the
// pipeline walks auth chains as it did before the index.
type noIndex struct{}

func (noIndex) AuthChain(context.Context, []string) ([]string, bool, error) { return nil, false, nil }
func (noIndex) AuthChainDifference(context.Context, []core.AuthChainSet) ([]string, bool, error) {
	return nil, false, nil
}

// reopen gives the fixture a new pipeline and federation, on the same
// database file reopened when cold (so no cache of the process survives),
// with the auth chain index used or not.
func (f *fedFixture) reopen(tb testing.TB, cold, index bool) {
	tb.Helper()
	ctx := context.Background()
	if cold {
		path := f.db.Path()
		if err := f.db.Close(); err != nil {
			tb.Fatal(err)
		}
		db, err := storage.Open(ctx, storage.Options{Path: path, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		f.db, f.events, f.profiles = db, storage.NewEventStore(db), storage.NewProfileStore(db)
	}
	var chains core.AuthChainStore = f.events
	if !index {
		chains = noIndex{}
	}
	p, err := room.New(room.Config{ServerName: server, Key: f.key, Profiles: f.profiles}, room.Stores{
		Events: f.events, Timeline: f.events, State: f.events, Groups: f.events, Rooms: f.events,
		AuthChains: chains, Directory: storage.NewDirectoryStore(f.db),
	})
	if err != nil {
		tb.Fatal(err)
	}
	fed, err := room.NewFederation(p, room.FederationConfig{Keys: f.keys, Client: f.client, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	f.p, f.fed = p, fed
}

// BenchmarkForkResolution measures taking in a remote state event that
// forks a room of 5,000 members: the room's current state is then the
// resolution (v2) of the two branches' states. index uses the auth chain
// index for the auth difference, walk walks every auth chain as before it;
// warm runs on the pipeline that built the room, cold on a freshly opened
// database and pipeline each time (a restarted process).
func BenchmarkForkResolution(b *testing.B) {
	for _, cold := range []bool{false, true} {
		for _, index := range []bool{true, false} {
			name := map[bool]string{true: "index", false: "walk"}[index] + "/" + map[bool]string{true: "cold", false: "warm"}[cold]
			b.Run(name, func(b *testing.B) { benchmarkFork(b, cold, index) })
		}
	}
}

func benchmarkFork(b *testing.B, cold, index bool) {
	f := newFedFixture(b)
	ctx := context.Background()
	roomID, v, _ := f.publicRoomWithBob(b, "11")
	if _, err := f.p.SendState(ctx, roomID, room.Proto{Type: "m.room.power_levels", StateKey: sk(""), Sender: alice,
		Content: json.RawMessage(`{"users":{"` + alice + `":100,"` + bob + `":100}}`)}); err != nil {
		b.Fatal(err)
	}
	state := f.current(b, roomID)
	prev := f.tip(b, roomID)
	const members = 5000
	for i := 0; i < members; i += 50 {
		raws := make([]json.RawMessage, 0, 50)
		for j := i; j < i+50; j++ {
			user := fmt.Sprintf("@u%d:%s", j, remoteName)
			m := f.remoteEvent(b, v, roomID, spec{sender: user, typ: "m.room.member", stateKey: sk(user),
				content: `{"membership":"join"}`, prevs: []*pdu.PDU{prev}, state: state})
			raws = append(raws, m.raw)
			prev = m.ev
		}
		for id, err := range f.fed.ReceivePDUs(ctx, remoteName, raws) {
			if err != nil {
				b.Fatalf("%s: %v", id, err)
			}
		}
	}
	f.reopen(b, false, index)
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		parent := f.tip(b, roomID)
		parentState := f.current(b, roomID)
		if _, err := f.p.SendState(ctx, roomID, room.Proto{Type: "m.room.topic", StateKey: sk(""), Sender: alice,
			Content: json.RawMessage(fmt.Sprintf(`{"topic":"local %d"}`, n))}); err != nil {
			b.Fatal(err)
		}
		remote := f.remoteEvent(b, v, roomID, spec{typ: "m.room.topic", stateKey: sk(""), content: fmt.Sprintf(`{"topic":"remote %d"}`, n),
			prevs: []*pdu.PDU{parent}, state: parentState})
		if cold {
			f.reopen(b, true, index)
		}
		b.StartTimer()
		if err := f.receive(b, remote); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		// Merge the fork so the next round starts from one extremity.
		if _, err := f.p.Send(ctx, roomID, room.Proto{Type: "m.room.message", Sender: alice, Content: json.RawMessage(`{"body":"merge"}`)}, nil); err != nil {
			b.Fatal(err)
		}
		if got := len(f.current(b, roomID)); got < members {
			b.Fatalf("current state has %d entries", got)
		}
		b.StartTimer()
	}
}
