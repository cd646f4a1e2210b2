package storage

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"testing"

	"hearth.dev/hearth/core"
)

const testServer = "example.org"

// newTestStore opens a fresh database, claims testServer as its name and
// returns its event store.
func newTestStore(tb testing.TB) *EventStore {
	tb.Helper()
	return newTestStoreWith(tb, testOptions(tb))
}

func newTestStoreWith(tb testing.TB, o Options) *EventStore {
	tb.Helper()
	db := mustOpenWith(tb, o)
	err := db.Write(context.Background(), func(q Queryer) error {
		_, err := q.ExecContext(context.Background(),
			"INSERT OR IGNORE INTO server_config (key, value) VALUES ('server_name', ?)", testServer)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return NewEventStore(db)
}

// eventID turns a short test name into a v4+ style event ID ("$" and 43
// URL-safe base64 characters), so rows have realistic sizes. Names that
// already start with "$" are kept.
func eventID(name string) string {
	if len(name) > 0 && name[0] == '$' {
		return name
	}
	h := sha256.Sum256([]byte(name))
	return "$" + base64.RawURLEncoding.EncodeToString(h[:])
}

func eventIDs(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = eventID(n)
	}
	return out
}

// testRoom builds events of one room.
type testRoom struct {
	tb   testing.TB
	s    *EventStore
	id   string
	base int64 // a state group holding the create event
}

// newTestRoom stores a room and a first state group for its events.
func newTestRoom(tb testing.TB, s *EventStore, name string) *testRoom {
	tb.Helper()
	ctx := context.Background()
	h := sha256.Sum256([]byte("room " + name))
	id := "!" + base64.RawURLEncoding.EncodeToString(h[:])
	if err := s.StoreRoom(ctx, core.RoomInfo{RoomID: id, RoomVersion: "12", Creator: "@alice:" + testServer}); err != nil {
		tb.Fatal(err)
	}
	g, err := s.StoreStateGroup(ctx, id, eventID(name+" create"), core.StateGroupDelta{
		Changes: core.StateMap{{Type: "m.room.create"}: eventID(name + " create")},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &testRoom{tb: tb, s: s, id: id, base: g}
}

// msg returns a message event named name at depth with the given prev
// events (by name), in the room's base state group.
func (r *testRoom) msg(name string, depth int64, prevs ...string) core.NewEvent {
	ev := core.NewEvent{
		EventID:        eventID(name),
		RoomID:         r.id,
		Type:           "m.room.message",
		Sender:         "@alice:" + testServer,
		Depth:          depth,
		OriginServerTS: 1_700_000_000_000 + depth,
		ReceivedTS:     1_700_000_000_100 + depth,
		PrevEvents:     eventIDs(prevs...),
		FormatVersion:  2,
		StateGroup:     r.base,
	}
	ev.JSON = eventJSON(&ev, `{"body":"hello, this is message `+name+`","msgtype":"m.text"}`)
	return ev
}

// state returns a state event with the given key and content, which
// creates its own state group on top of the base group.
func (r *testRoom) state(name string, depth int64, typ, stateKey, content string, prevs ...string) core.NewEvent {
	ev := r.msg(name, depth, prevs...)
	ev.Type = typ
	ev.StateKey = &stateKey
	ev.StateGroup = 0
	ev.NewStateGroup = &core.StateGroupDelta{
		Prev:    r.base,
		Changes: core.StateMap{{Type: typ, StateKey: stateKey}: ev.EventID},
	}
	ev.JSON = eventJSON(&ev, content)
	return ev
}

// member returns an m.room.member event for user.
func (r *testRoom) member(name string, depth int64, user, membership string, prevs ...string) core.NewEvent {
	ev := r.state(name, depth, "m.room.member", user, `{"membership":"`+membership+`"}`, prevs...)
	ev.Sender = user
	ev.Membership = membership
	return ev
}

// eventJSON writes a federation-shaped event of realistic size (v12
// format: three auth events, hashes, one signature).
func eventJSON(ev *core.NewEvent, content string) []byte {
	sk := ""
	if ev.StateKey != nil {
		sk = fmt.Sprintf(`"state_key":%q,`, *ev.StateKey)
	}
	prev := "["
	for i, p := range ev.PrevEvents {
		if i > 0 {
			prev += ","
		}
		prev += `"` + p + `"`
	}
	prev += "]"
	return fmt.Appendf(nil,
		`{"auth_events":["%s","%s","%s"],"content":%s,"depth":%d,"hashes":{"sha256":"%s"},`+
			`"origin_server_ts":%d,"prev_events":%s,"room_id":"%s","sender":"%s",`+
			`"signatures":{"%s":{"ed25519:a_JaEG":"%s%s"}},%s"type":"%s"}`,
		eventID("auth1"), eventID("auth2"), eventID("auth3"), content, ev.Depth, eventID(ev.EventID)[1:],
		ev.OriginServerTS, prev, ev.RoomID, ev.Sender,
		testServer, eventID("sig1" + ev.EventID)[1:], eventID("sig2" + ev.EventID)[1:], sk, ev.Type)
}

// persist stores events, failing the test on error.
func (r *testRoom) persist(opts core.PersistOptions, evs ...core.NewEvent) []int64 {
	r.tb.Helper()
	so, err := r.s.PersistEvents(context.Background(), evs, opts)
	if err != nil {
		r.tb.Fatalf("PersistEvents: %v", err)
	}
	return so
}

// names maps event IDs back to the test names among candidates, for
// readable comparisons; unknown IDs are kept as they are.
func names(ids []string, candidates ...string) []string {
	byID := map[string]string{}
	for _, c := range candidates {
		byID[eventID(c)] = c
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		if n, ok := byID[id]; ok {
			out[i] = n
		} else {
			out[i] = id
		}
	}
	return out
}

func (r *testRoom) forward(candidates ...string) []string {
	r.tb.Helper()
	refs, err := r.s.ForwardExtremities(context.Background(), r.id, 0)
	if err != nil {
		r.tb.Fatalf("ForwardExtremities: %v", err)
	}
	ids := make([]string, len(refs))
	for i, ref := range refs {
		ids[i] = ref.EventID
	}
	out := names(ids, candidates...)
	slices.Sort(out)
	return out
}

func (r *testRoom) backward(candidates ...string) []string {
	r.tb.Helper()
	ids, err := r.s.BackwardExtremities(context.Background(), r.id)
	if err != nil {
		r.tb.Fatalf("BackwardExtremities: %v", err)
	}
	out := names(ids, candidates...)
	slices.Sort(out)
	return out
}

func wantErrIs(tb testing.TB, what string, err, target error) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Errorf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}
