package eventauth_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// Users of the test rooms.
const (
	alice = "@alice:a.com" // creator, 100 (infinite in v12)
	mod   = "@mod:a.com"   // 50
	bob   = "@bob:b.org"   // joined, 0
	carol = "@carol:c.net" // not in the room
	eve   = "@eve:e.net"   // banned
	ivan  = "@ivan:i.net"  // invited
	kate  = "@kate:k.net"  // knocking
)

type eventOpt func(*pdu.PDU)

func withID(id string) eventOpt           { return func(e *pdu.PDU) { e.EventID = id } }
func withRoom(id string) eventOpt         { return func(e *pdu.PDU) { e.RoomID = id } }
func withPrev(ids ...string) eventOpt     { return func(e *pdu.PDU) { e.PrevEvents = ids } }
func withAuth(ids ...string) eventOpt     { return func(e *pdu.PDU) { e.AuthEvents = ids } }
func withRedacts(id string) eventOpt      { return func(e *pdu.PDU) { e.Redacts = &id } }
func withTS(ts int64) eventOpt            { return func(e *pdu.PDU) { e.OriginServerTS = ts } }
func rejected(reason string) eventOpt     { return func(e *pdu.PDU) { e.Internal.Rejected = reason } }
func withoutStateKey() eventOpt           { return func(e *pdu.PDU) { e.StateKey = nil } }
func signedBy(servers ...string) eventOpt { return func(e *pdu.PDU) { sign(e, servers...) } }

func sign(e *pdu.PDU, servers ...string) {
	if e.Signatures == nil {
		e.Signatures = map[string]map[string]string{}
	}
	for _, s := range servers {
		e.Signatures[s] = map[string]string{"ed25519:1": "sig"}
	}
}

// newEvent builds a state event (a message event with withoutStateKey).
// content must be valid JSON.
func newEvent(t testing.TB, typ, sender, stateKey, content string, opts ...eventOpt) *pdu.PDU {
	t.Helper()
	if !json.Valid([]byte(content)) {
		t.Fatalf("newEvent(%s): invalid content %s", typ, content)
	}
	sk := stateKey
	e := &pdu.PDU{Type: typ, Sender: sender, StateKey: &sk, Content: json.RawMessage(content)}
	sign(e, serverOf(sender))
	for _, o := range opts {
		o(e)
	}
	return e
}

func newMessage(t testing.TB, typ, sender, content string, opts ...eventOpt) *pdu.PDU {
	t.Helper()
	return newEvent(t, typ, sender, "", content, append([]eventOpt{withoutStateKey()}, opts...)...)
}

func serverOf(user string) string {
	_, s, _ := strings.Cut(user, ":")
	return s
}

// testRoom is a room's current state, built from the standard members.
type testRoom struct {
	t      testing.TB
	v      *roomversion.Version
	id     string
	create *pdu.PDU
	state  eventauth.StateMap
	events map[string]*pdu.PDU
	last   string
	n      int
}

func mustVersion(t testing.TB, id string) *roomversion.Version {
	t.Helper()
	v, err := roomversion.Lookup(roomversion.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// emptyRoom holds only the create event.
func emptyRoom(t testing.TB, vid string) *testRoom {
	t.Helper()
	v := mustVersion(t, vid)
	r := &testRoom{t: t, v: v, state: eventauth.StateMap{}, events: map[string]*pdu.PDU{}}
	content := fmt.Sprintf(`{"room_version":%q}`, vid)
	if !v.ImplicitRoomCreator {
		content = fmt.Sprintf(`{"creator":%q,"room_version":%q}`, alice, vid)
	}
	if v.RoomIDFromCreateEvent {
		r.id = "!createid"
		r.create = newEvent(t, eventauth.TypeCreate, alice, "", content, withID("$createid"))
	} else {
		r.id = "!room:a.com"
		r.create = newEvent(t, eventauth.TypeCreate, alice, "", content, withID("$create:a.com"), withRoom(r.id))
	}
	r.put(r.create)
	return r
}

// newRoom is a room with every standard member and invite-only join rules.
func newRoom(t testing.TB, vid string) *testRoom {
	t.Helper()
	r := emptyRoom(t, vid)
	r.member(alice, alice, "join")
	users := fmt.Sprintf(`{%q:100,%q:50}`, alice, mod)
	if r.v.PrivilegedCreators {
		users = fmt.Sprintf(`{%q:50}`, mod)
	}
	r.put(r.state_(eventauth.TypePowerLevels, alice, "", `{"users":`+users+
		`,"users_default":0,"events":{"m.room.name":50,"m.room.power_levels":50},"events_default":0,"state_default":50,"ban":50,"kick":50,"redact":50,"invite":0}`))
	r.joinRule("invite")
	r.member(mod, mod, "join")
	r.member(bob, bob, "join")
	r.member(alice, eve, "ban")
	r.member(alice, ivan, "invite")
	r.member(kate, kate, "knock")
	return r
}

// state_ builds a state event in the room, with auth events selected from
// the current state and the last event as prev_events.
func (r *testRoom) state_(typ, sender, stateKey, content string, opts ...eventOpt) *pdu.PDU {
	r.t.Helper()
	e := newEvent(r.t, typ, sender, stateKey, content, r.defaults()...)
	for _, o := range opts {
		o(e)
	}
	r.selectAuth(e)
	return e
}

func (r *testRoom) message(typ, sender, content string, opts ...eventOpt) *pdu.PDU {
	r.t.Helper()
	return r.state_(typ, sender, "", content, append([]eventOpt{withoutStateKey()}, opts...)...)
}

func (r *testRoom) defaults() []eventOpt {
	r.n++
	id := "$e" + strconv.Itoa(r.n) + ":a.com"
	opts := []eventOpt{withID(id), withRoom(r.id), withTS(int64(1000 + r.n))}
	if r.last != "" {
		opts = append(opts, withPrev(r.last))
	}
	return opts
}

func (r *testRoom) selectAuth(e *pdu.PDU) {
	r.t.Helper()
	if e.AuthEvents != nil {
		return
	}
	ids, err := eventauth.SelectAuthEvents(r.v, e, r.state.Lookup)
	if err != nil {
		r.t.Fatal(err)
	}
	e.AuthEvents = ids
}

// put stores e as current state without checking it.
func (r *testRoom) put(e *pdu.PDU) {
	r.events[e.EventID] = e
	if e.StateKey != nil {
		r.state[eventauth.StateKey{Type: e.Type, StateKey: *e.StateKey}] = e
	}
	r.last = e.EventID
}

func (r *testRoom) member(sender, target, membership string) {
	r.t.Helper()
	r.put(r.state_(eventauth.TypeMember, sender, target, fmt.Sprintf(`{"membership":%q}`, membership)))
}

func (r *testRoom) joinRule(rule string) {
	r.t.Helper()
	r.put(r.state_(eventauth.TypeJoinRules, alice, "", fmt.Sprintf(`{"join_rule":%q}`, rule)))
}

func (r *testRoom) powerLevels(content string) {
	r.t.Helper()
	r.put(r.state_(eventauth.TypePowerLevels, alice, "", content))
}

func (r *testRoom) fetch(id string) (*pdu.PDU, error) { return r.events[id], nil }

// Third-party invite keys: a fixed seed so the test data is stable.
var (
	tpPriv   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	tpPub    = base64.RawStdEncoding.EncodeToString(tpPriv.Public().(ed25519.PublicKey))
	otherKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
)

// testCanonical is canonical JSON for the ASCII-only objects of these tests:
// encoding/json sorts map keys and writes no whitespace.
func testCanonical(raw json.RawMessage) ([]byte, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// testOptions is the default: join_authorised_via_users_server signatures
// checked by presence, third-party invites by core/signing.
var testOptions *eventauth.Options

// signedBlock returns a third_party_invite.signed object for mxid and token
// signed with key.
func signedBlock(t testing.TB, mxid, token string, key ed25519.PrivateKey) string {
	t.Helper()
	body := fmt.Sprintf(`{"mxid":%q,"token":%q}`, mxid, token)
	msg, err := testCanonical(json.RawMessage(body))
	if err != nil {
		t.Fatal(err)
	}
	sig := base64.RawStdEncoding.EncodeToString(ed25519.Sign(key, msg))
	return fmt.Sprintf(`{"mxid":%q,"token":%q,"signatures":{"id.example":{"ed25519:0":%q}}}`, mxid, token, sig)
}

// versionsIn expands "1-5" or "7" into version IDs. A malformed range is
// a mistake in a test table and panics.
func versionsIn(spec string) []string {
	lo, hi, ok := strings.Cut(spec, "-")
	if !ok {
		hi = lo
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || a > b || a < 1 || b > 12 {
		panic(fmt.Sprintf("bad version range %q", spec))
	}
	var out []string
	for i := a; i <= b; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

// at maps version ranges to expected outcomes: at("1-5", "5.2.2", "6-12", "")
// where "" means allowed.
func at(pairs ...string) map[string]string {
	if len(pairs)%2 != 0 {
		panic("at: odd number of arguments")
	}
	m := map[string]string{}
	for i := 0; i < len(pairs); i += 2 {
		for _, v := range versionsIn(pairs[i]) {
			m[v] = pairs[i+1]
		}
	}
	return m
}

// ruleOf returns the rule number of an auth error, "" for nil, and fails
// the test for any other error.
func ruleOf(t testing.TB, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	ae, ok := err.(*eventauth.AuthError)
	if !ok {
		t.Fatalf("error %v is not an *AuthError", err)
	}
	return ae.Rule
}

func publicKeyOf(k ed25519.PrivateKey) string {
	return base64.RawStdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}
