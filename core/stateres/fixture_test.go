package stateres_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/stateres"
)

const (
	alice   = "@alice:a.com" // the creator
	bob     = "@bob:b.org"
	charlie = "@charlie:c.net"
	zara    = "@zara:z.org"
	dave    = "@dave:d.org"
)

// dag is a room's events by name ("IMA"), with IDs "$" + name. In room
// version 12 the room ID is "!CREATE" and CREATE is left out of
// auth_events.
type dag struct {
	t      testing.TB
	v      *roomversion.Version
	roomID string
	events map[string]*pdu.PDU
	last   string
	ts     int64
}

// initial are the events every scenario starts from: alice creates the
// room, joins, sets power levels (alice 100) and a public join rule; bob,
// charlie and zara join.
var initial = []string{"CREATE", "IMA", "IPOWER", "IJR", "IMB", "IMC", "IMZ"}

func newDAG(t testing.TB, vid string) *dag {
	t.Helper()
	v, err := roomversion.Lookup(roomversion.ID(vid))
	if err != nil {
		t.Fatal(err)
	}
	d := &dag{t: t, v: v, events: map[string]*pdu.PDU{}, roomID: "!room:a.com"}
	if v.RoomIDFromCreateEvent {
		d.roomID = "!CREATE"
	}
	create := fmt.Sprintf(`{"creator":%q,"room_version":%q}`, alice, vid)
	if v.ImplicitRoomCreator {
		create = fmt.Sprintf(`{"room_version":%q}`, vid)
	}
	d.add("CREATE", eventauth.TypeCreate, alice, "", create, nil)
	d.add("IMA", eventauth.TypeMember, alice, alice, `{"membership":"join"}`, []string{"CREATE"})
	d.add("IPOWER", eventauth.TypePowerLevels, alice, "", d.pl(map[string]int{alice: 100}), []string{"CREATE", "IMA"})
	d.add("IJR", eventauth.TypeJoinRules, alice, "", `{"join_rule":"public"}`, []string{"CREATE", "IMA", "IPOWER"})
	d.add("IMB", eventauth.TypeMember, bob, bob, `{"membership":"join"}`, []string{"CREATE", "IJR", "IPOWER"})
	d.add("IMC", eventauth.TypeMember, charlie, charlie, `{"membership":"join"}`, []string{"CREATE", "IJR", "IPOWER"})
	d.add("IMZ", eventauth.TypeMember, zara, zara, `{"membership":"join"}`, []string{"CREATE", "IJR", "IPOWER"})
	return d
}

type evOpt func(*pdu.PDU)

func ts(n int64) evOpt       { return func(e *pdu.PDU) { e.OriginServerTS = n } }
func depth(n int64) evOpt    { return func(e *pdu.PDU) { e.Depth = n } }
func message() evOpt         { return func(e *pdu.PDU) { e.StateKey = nil } }
func rejected() evOpt        { return func(e *pdu.PDU) { e.Internal.Rejected = "test" } }
func prev(n ...string) evOpt { return func(e *pdu.PDU) { e.PrevEvents = n } }

func id(name string) string { return "$" + name }

// add builds an event; auth names its auth events.
func (d *dag) add(name, typ, sender, stateKey, content string, auth []string, opts ...evOpt) *pdu.PDU {
	d.t.Helper()
	if !json.Valid([]byte(content)) {
		d.t.Fatalf("%s: invalid content %s", name, content)
	}
	if _, dup := d.events[name]; dup {
		d.t.Fatalf("%s added twice", name)
	}
	sk := stateKey
	d.ts += 10
	e := &pdu.PDU{EventID: id(name), RoomID: d.roomID, Type: typ, Sender: sender, StateKey: &sk,
		Content: json.RawMessage(content), OriginServerTS: d.ts}
	var maxDepth int64
	for _, a := range auth {
		ae, ok := d.events[a]
		if !ok {
			d.t.Fatalf("%s: unknown auth event %s", name, a)
		}
		maxDepth = max(maxDepth, ae.Depth)
		if a == "CREATE" && d.v.RoomIDFromCreateEvent {
			continue
		}
		e.AuthEvents = append(e.AuthEvents, id(a))
	}
	e.Depth = maxDepth + 1
	if d.last != "" {
		e.PrevEvents = []string{id(d.last)}
	}
	if typ == eventauth.TypeCreate && d.v.RoomIDFromCreateEvent {
		e.RoomID = ""
	}
	for _, o := range opts {
		o(e)
	}
	d.events[name] = e
	d.last = name
	return e
}

// pl is power levels content with these users; alice is left out in room
// version 12, where creators cannot be listed.
func (d *dag) pl(users map[string]int) string {
	u := map[string]int{}
	for k, v := range users {
		if k == alice && d.v.PrivilegedCreators {
			continue
		}
		u[k] = v
	}
	b, _ := json.Marshal(map[string]any{"users": u})
	return string(b)
}

func (d *dag) fetch(eventID string) (*pdu.PDU, error) {
	return d.events[strings.TrimPrefix(eventID, "$")], nil
}

// state is the state map holding the named events; later names replace
// earlier ones with the same key.
func (d *dag) state(names ...string) stateres.StateMap {
	d.t.Helper()
	m := stateres.StateMap{}
	for _, n := range names {
		e, ok := d.events[n]
		if !ok {
			d.t.Fatalf("unknown event %s", n)
		}
		m[eventauth.StateKey{Type: e.Type, StateKey: *e.StateKey}] = e.EventID
	}
	return m
}

func with(base []string, more ...string) []string { return append(slices.Clone(base), more...) }

// names turns a state map back into event names, for readable diffs.
func names(m stateres.StateMap) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k.Type+"|"+k.StateKey] = strings.TrimPrefix(v, "$")
	}
	return out
}

func stateKey(typ, sk string) eventauth.StateKey { return eventauth.StateKey{Type: typ, StateKey: sk} }
