package room_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
)

const remoteName = "remote.test"

const bob = "@bob:" + remoteName

// keyRing is a fake core.KeyRing: a map of the keys the test servers have.
type keyRing map[string]map[string]ed25519.PublicKey

func (k keyRing) VerifyKey(_ context.Context, server, keyID string, _ int64) (ed25519.PublicKey, error) {
	if pub := k[server][keyID]; pub != nil {
		return pub, nil
	}
	return nil, fmt.Errorf("key %s of %s: %w", keyID, server, core.ErrNotFound)
}

// fakeClient is a core.FederationClient answering from a map of handlers
// keyed by "METHOD path-prefix", and recording the requests it got.
type fakeClient struct {
	mu       sync.Mutex
	handlers map[string]func(path string, body any) (any, error)
	got      []string
}

func (c *fakeClient) handle(route string, h func(path string, body any) (any, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handlers == nil {
		c.handlers = map[string]func(string, any) (any, error){}
	}
	c.handlers[route] = h
}

func (c *fakeClient) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func (c *fakeClient) Request(_ context.Context, destination, method, path string, body, out any) error {
	c.mu.Lock()
	c.got = append(c.got, method+" "+path)
	var h func(string, any) (any, error)
	best := ""
	for route, fn := range c.handlers {
		m, prefix, _ := strings.Cut(route, " ")
		if m == method && strings.HasPrefix(path, prefix) && len(prefix) > len(best) {
			h, best = fn, prefix
		}
	}
	c.mu.Unlock()
	if destination != remoteName {
		return fmt.Errorf("unexpected destination %s", destination)
	}
	if h == nil {
		return core.ErrNotFound.WithMessage("no handler for %s %s", method, path)
	}
	resp, err := h(path, body)
	if err != nil {
		return err
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// remote is another server: it signs events with its own key.
type remote struct {
	name string
	key  signing.Key
}

func newRemote(tb testing.TB) *remote {
	tb.Helper()
	k, err := signing.GenerateKey("r1")
	if err != nil {
		tb.Fatal(err)
	}
	return &remote{name: remoteName, key: k}
}

// fedFixture is a pipeline on a real database with its federation side, a
// remote server and a fake transport to it.
type fedFixture struct {
	*fixture
	fed    *room.Federation
	remote *remote
	client *fakeClient
	keys   keyRing
}

func newFedFixture(tb testing.TB) *fedFixture {
	tb.Helper()
	f := newFixture(tb)
	r := newRemote(tb)
	keys := keyRing{r.name: {r.key.ID: r.key.Public()}}
	client := &fakeClient{}
	fed, err := room.NewFederation(f.p, room.FederationConfig{Keys: keys, Client: client, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return &fedFixture{fixture: f, fed: fed, remote: r, client: client, keys: keys}
}

// built is an event a test server made.
type built struct {
	id  string
	ev  *pdu.PDU
	raw json.RawMessage
}

// spec describes an event to build.
type spec struct {
	sender, typ string
	stateKey    *string
	content     string
	prevs       []*pdu.PDU
	// auth, when nil, is selected from state by the auth events
	// selection.
	auth  []string
	state core.StateMap
	ts    int64
	// get returns the events referenced, for the reference hashes of
	// room versions 1 and 2.
	get func(id string) *pdu.PDU
}

func sk(s string) *string { return &s }

// build makes, signs (by the server of key) and marshals the event s in
// roomID.
func build(tb testing.TB, v *roomversion.Version, roomID string, server string, key signing.Key, s spec) built {
	tb.Helper()
	ev := &pdu.PDU{
		RoomID: roomID, Sender: s.sender, Type: s.typ, StateKey: s.stateKey,
		Content: json.RawMessage(s.content), OriginServerTS: s.ts, AuthEvents: s.auth, PrevEvents: []string{},
	}
	if ev.OriginServerTS == 0 {
		ev.OriginServerTS = time.Now().UnixMilli()
	}
	for _, p := range s.prevs {
		ev.PrevEvents = append(ev.PrevEvents, p.EventID)
		ev.Depth = max(ev.Depth, p.Depth)
	}
	ev.Depth++
	if ev.AuthEvents == nil {
		ev.AuthEvents = []string{}
		for _, k := range eventauth.AuthEventsNeeded(v, ev) {
			if id := s.state[core.StateKey(k)]; id != "" {
				ev.AuthEvents = append(ev.AuthEvents, id)
			}
		}
	}
	if v.EventFormat == roomversion.FormatV1 {
		ev.EventID = "$" + fmt.Sprint(time.Now().UnixNano()) + ":" + server
		ev.Internal.RefHashes = map[string]string{}
		for _, id := range append(append([]string(nil), ev.PrevEvents...), ev.AuthEvents...) {
			h, err := s.get(id).ReferenceHash(v)
			if err != nil {
				tb.Fatal(err)
			}
			ev.Internal.RefHashes[id] = signing.EncodeBase64(h[:])
		}
	}
	if err := signing.SignEvent(v, ev, server, key.ID, key.Private); err != nil {
		tb.Fatal(err)
	}
	id, err := ev.ComputeEventID(v)
	if err != nil {
		tb.Fatal(err)
	}
	ev.EventID = id
	raw, err := ev.MarshalFor(v)
	if err != nil {
		tb.Fatal(err)
	}
	return built{id: id, ev: ev, raw: raw}
}

// remoteEvent builds an event of the remote server.
func (f *fedFixture) remoteEvent(tb testing.TB, v *roomversion.Version, roomID string, s spec) built {
	tb.Helper()
	if s.sender == "" {
		s.sender = bob
	}
	if s.get == nil {
		s.get = func(id string) *pdu.PDU { return f.pduOf(tb, id) }
	}
	return build(tb, v, roomID, f.remote.name, f.remote.key, s)
}

// pduOf returns the stored event id as a PDU.
func (f *fedFixture) pduOf(tb testing.TB, id string) *pdu.PDU {
	tb.Helper()
	return f.event(tb, id).PDU
}

// tip returns the room's single forward extremity.
func (f *fedFixture) tip(tb testing.TB, roomID string) *pdu.PDU {
	tb.Helper()
	exts, err := f.events.ForwardExtremities(context.Background(), roomID, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if len(exts) != 1 {
		tb.Fatalf("room %s has %d forward extremities, want 1", roomID, len(exts))
	}
	return f.pduOf(tb, exts[0].EventID)
}

// receive sends one PDU from the remote server and returns its result.
func (f *fedFixture) receive(tb testing.TB, b built) error {
	tb.Helper()
	res := f.fed.ReceivePDUs(context.Background(), remoteName, []json.RawMessage{b.raw})
	err, ok := res[b.id]
	if !ok {
		tb.Fatalf("ReceivePDUs returned no result for %s: %v", b.id, res)
	}
	return err
}

// publicRoomWithBob creates a public room of alice's and has bob join it
// over federation. It returns the room, its version and bob's join.
func (f *fedFixture) publicRoomWithBob(tb testing.TB, version string) (string, *roomversion.Version, built) {
	tb.Helper()
	ctx := context.Background()
	roomID, err := f.p.CreateRoom(ctx, room.CreateRequest{Creator: alice, Preset: room.PresetPublicChat, RoomVersion: version})
	if err != nil {
		tb.Fatal(err)
	}
	v, err := f.p.Version(ctx, roomID)
	if err != nil {
		tb.Fatal(err)
	}
	join := f.remoteEvent(tb, v, roomID, spec{typ: "m.room.member", stateKey: sk(bob),
		content: `{"membership":"join"}`, prevs: []*pdu.PDU{f.tip(tb, roomID)}, state: f.current(tb, roomID)})
	if err := f.receive(tb, join); err != nil {
		tb.Fatalf("bob's join: %v", err)
	}
	return roomID, v, join
}

func pathUnescape(tb testing.TB, s string) string {
	tb.Helper()
	u, err := url.PathUnescape(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}
