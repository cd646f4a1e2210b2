package eventauth_test

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

// ruleCase breaks (or keeps) one authorisation rule. want maps each room
// version the case runs in to the rule number that must reject the event,
// or "" if the event must be allowed. The numbers are written out from the
// spec's text for each version, independently of the package's numbering.
type ruleCase struct {
	name  string
	room  func(t testing.TB, vid string) *testRoom // default newRoom
	setup func(r *testRoom)
	event func(r *testRoom) *pdu.PDU
	want  map[string]string
}

const (
	typeMessage = "m.room.message"
	typeName    = "m.room.name"
	typeTopic   = "m.room.topic"
)

func member(r *testRoom, sender, target, content string, opts ...eventOpt) *pdu.PDU {
	r.t.Helper()
	return r.state_(eventauth.TypeMember, sender, target, content, opts...)
}

func powerLevelsEvent(r *testRoom, sender, content string) *pdu.PDU {
	r.t.Helper()
	return r.state_(eventauth.TypePowerLevels, sender, "", content)
}

// plContent builds power levels content: users entries (alice's 100 is
// added before v12) and the other properties.
func plContent(r *testRoom, users, rest string) string {
	if !r.v.PrivilegedCreators {
		if users == "" {
			users = fmt.Sprintf(`%q:100`, alice)
		} else {
			users = fmt.Sprintf(`%q:100,`, alice) + users
		}
	}
	if rest != "" {
		rest = "," + rest
	}
	return `{"users":{` + users + `}` + rest + `}`
}

// stdRest is the non-user part of newRoom's power levels.
const stdRest = `"users_default":0,"events":{"m.room.name":50,"m.room.power_levels":50},"events_default":0,"state_default":50,"ban":50,"kick":50,"redact":50,"invite":0`

func modUsers() string { return fmt.Sprintf(`%q:50`, mod) }

func tpInviteState(r *testRoom, sender, token, content string) {
	r.t.Helper()
	r.put(r.state_(eventauth.TypeThirdPartyInvite, sender, token, content))
}

func tpContent(r *testRoom, target, signed string) string {
	return fmt.Sprintf(`{"membership":"invite","third_party_invite":{"display_name":"c","signed":%s}}`, signed)
}

var ruleCases = []ruleCase{
	// Rule 1: m.room.create.
	{
		name:  "create allowed",
		room:  emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU { return r.create },
		want:  at("1-12", ""),
	},
	{
		name: "1.1 create with prev_events",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.PrevEvents = []string{"$other:a.com"}
			return &e
		},
		want: at("1-12", "1.1"),
	},
	{
		name: "1.2 room_id domain differs from sender (v12: room_id present)",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.RoomID = "!room:elsewhere.org"
			return &e
		},
		want: at("1-12", "1.2"),
	},
	{
		name: "1.3 unknown room_version",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(fmt.Sprintf(`{"creator":%q,"room_version":"99"}`, alice))
			return &e
		},
		want: at("1-12", "1.3"),
	},
	{
		name: "1.3 room_version not a string",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(fmt.Sprintf(`{"creator":%q,"room_version":10}`, alice))
			return &e
		},
		want: at("1-12", "1.3"),
	},
	{
		name: "1.3 no room_version is allowed",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(fmt.Sprintf(`{"creator":%q}`, alice))
			return &e
		},
		want: at("1-12", ""),
	},
	{
		name: "1.4 no creator (v1–v10 only)",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(`{}`)
			return &e
		},
		want: at("1-10", "1.4", "11-12", ""),
	},
	{
		name: "1.4 additional_creators not an array (v12)",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(fmt.Sprintf(`{"creator":%q,"additional_creators":%q}`, alice, bob))
			return &e
		},
		want: at("1-11", "", "12", "1.4"),
	},
	{
		name: "1.4 additional_creators holds a non-user (v12)",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(fmt.Sprintf(`{"creator":%q,"additional_creators":[%q,"bob"]}`, alice, bob))
			return &e
		},
		want: at("1-11", "", "12", "1.4"),
	},
	{
		name: "1.4 additional_creators valid (v12)",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(fmt.Sprintf(`{"creator":%q,"additional_creators":[%q,%q]}`, alice, bob, "@:x.org"))
			return &e
		},
		want: at("1-12", ""),
	},

	// Rule 2 (v12): the room ID names an accepted create event.
	{
		name: "2 room_id does not name the create event (v12)",
		event: func(r *testRoom) *pdu.PDU {
			return r.message(typeMessage, bob, `{}`, withRoom("!someotherroom"))
		},
		want: at("12", "2"),
	},
	{
		name: "2 create event rejected (v12); 2.4 no create in state (v1–v11)",
		setup: func(r *testRoom) {
			if r.v.RoomIDFromCreateEvent {
				c := *r.create
				c.Internal.Rejected = "bad"
				r.put(&c)
			} else {
				delete(r.state, eventauth.StateKey{Type: eventauth.TypeCreate})
			}
		},
		event: func(r *testRoom) *pdu.PDU { return r.message(typeMessage, bob, `{}`) },
		want:  at("1-11", "2.4", "12", "2"),
	},

	// Rule 3 (4 in v12): m.federate.
	{
		name: "3 m.federate false refuses other servers",
		setup: func(r *testRoom) {
			c := *r.create
			c.Content = []byte(fmt.Sprintf(`{"creator":%q,"m.federate":false}`, alice))
			r.put(&c)
		},
		event: func(r *testRoom) *pdu.PDU { return r.message(typeMessage, bob, `{}`) },
		want:  at("1-11", "3", "12", "4"),
	},
	{
		name: "3 m.federate false allows the creator's server",
		setup: func(r *testRoom) {
			c := *r.create
			c.Content = []byte(fmt.Sprintf(`{"creator":%q,"m.federate":false}`, alice))
			r.put(&c)
		},
		event: func(r *testRoom) *pdu.PDU { return r.message(typeMessage, mod, `{}`) },
		want:  at("1-12", ""),
	},

	// Rule 4 (v1–v5): m.room.aliases.
	{
		name: "4 aliases for the sender's domain need no power (v1–v5)",
		event: func(r *testRoom) *pdu.PDU {
			return r.state_(eventauth.TypeAliases, bob, "b.org", `{"aliases":["#x:b.org"]}`)
		},
		want: at("1-5", "", "6-11", "7", "12", "8"),
	},
	{
		name:  "4.1 aliases without state_key",
		event: func(r *testRoom) *pdu.PDU { return r.message(eventauth.TypeAliases, bob, `{}`) },
		want:  at("1-5", "4.1", "6-12", ""),
	},
	{
		name:  "4.2 aliases for another domain",
		event: func(r *testRoom) *pdu.PDU { return r.state_(eventauth.TypeAliases, bob, "a.com", `{}`) },
		want:  at("1-5", "4.2"),
	},
	{
		name:  "4 aliases from a non-member (v1–v5)",
		event: func(r *testRoom) *pdu.PDU { return r.state_(eventauth.TypeAliases, carol, "c.net", `{}`) },
		want:  at("1-5", "", "6-11", "5", "12", "6"),
	},

	// Rule 5 (4 in v6–v11): m.room.member.
	{
		name:  "5.1 member without membership",
		event: func(r *testRoom) *pdu.PDU { return member(r, bob, bob, `{"displayname":"b"}`) },
		want:  at("1-5", "5.1", "6-11", "4.1", "12", "5.1"),
	},
	{
		name:  "5.1 member without state_key",
		event: func(r *testRoom) *pdu.PDU { return member(r, bob, bob, `{"membership":"join"}`, withoutStateKey()) },
		want:  at("1-5", "5.1", "6-11", "4.1", "12", "5.1"),
	},
	{
		name:  "5.2.1 join_authorised_via_users_server not signed by that server",
		setup: func(r *testRoom) { r.joinRule("public") },
		event: func(r *testRoom) *pdu.PDU {
			return member(r, carol, carol, fmt.Sprintf(`{"membership":"join","join_authorised_via_users_server":%q}`, mod))
		},
		want: at("1-7", "", "8-11", "4.2.1", "12", "5.2.1"),
	},
	{
		name:  "5.2.1 join_authorised_via_users_server not a user ID",
		setup: func(r *testRoom) { r.joinRule("public") },
		event: func(r *testRoom) *pdu.PDU {
			return member(r, carol, carol, `{"membership":"join","join_authorised_via_users_server":42}`)
		},
		want: at("1-7", "", "8-11", "4.2.1", "12", "5.2.1"),
	},
	{
		name:  "5.2.1 join_authorised_via_users_server signed",
		setup: func(r *testRoom) { r.joinRule("public") },
		event: func(r *testRoom) *pdu.PDU {
			return member(r, carol, carol, fmt.Sprintf(`{"membership":"join","join_authorised_via_users_server":%q}`, mod), signedBy("a.com"))
		},
		want: at("1-12", ""),
	},

	// Joins.
	{
		name: "5.3.1 creator's first join",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			return member(r, alice, alice, `{"membership":"join"}`)
		},
		want: at("1-12", ""),
	},
	{
		name: "5.3.1 creator's join after other events falls to the join rule",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			return member(r, alice, alice, `{"membership":"join"}`, withPrev(r.create.EventID, "$x:a.com"))
		},
		want: at("1-5", "5.2.6", "6-7", "4.2.6", "8-11", "4.3.7", "12", "5.3.7"),
	},
	{
		name: "5.3.1 another user's join right after create",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			return member(r, bob, bob, `{"membership":"join"}`)
		},
		want: at("1-5", "5.2.6", "6-7", "4.2.6", "8-11", "4.3.7", "12", "5.3.7"),
	},
	{
		name:  "5.3.2 join for somebody else",
		setup: func(r *testRoom) { r.joinRule("public") },
		event: func(r *testRoom) *pdu.PDU { return member(r, alice, carol, `{"membership":"join"}`) },
		want:  at("1-5", "5.2.2", "6-7", "4.2.2", "8-11", "4.3.2", "12", "5.3.2"),
	},
	{
		name:  "5.3.3 banned user joins a public room",
		setup: func(r *testRoom) { r.joinRule("public") },
		event: func(r *testRoom) *pdu.PDU { return member(r, eve, eve, `{"membership":"join"}`) },
		want:  at("1-5", "5.2.3", "6-7", "4.2.3", "8-11", "4.3.3", "12", "5.3.3"),
	},
	{
		name:  "5.3.4 invited user joins an invite-only room",
		event: func(r *testRoom) *pdu.PDU { return member(r, ivan, ivan, `{"membership":"join"}`) },
		want:  at("1-12", ""),
	},
	{
		name:  "5.3.4 joined user re-joins (profile change) an invite-only room",
		event: func(r *testRoom) *pdu.PDU { return member(r, bob, bob, `{"membership":"join","displayname":"B"}`) },
		want:  at("1-12", ""),
	},
	{
		name:  "5.3.4 uninvited user joins an invite-only room",
		event: func(r *testRoom) *pdu.PDU { return member(r, carol, carol, `{"membership":"join"}`) },
		want:  at("1-5", "5.2.6", "6-7", "4.2.6", "8-11", "4.3.7", "12", "5.3.7"),
	},
	{
		name:  "5.3.4 invited user joins a knock room (knock is a join rule from v7)",
		setup: func(r *testRoom) { r.joinRule("knock") },
		event: func(r *testRoom) *pdu.PDU { return member(r, ivan, ivan, `{"membership":"join"}`) },
		want:  at("1-5", "5.2.6", "6", "4.2.6", "7-12", ""),
	},
	{
		name:  "5.3.4 knocking user joins a knock room",
		setup: func(r *testRoom) { r.joinRule("knock") },
		event: func(r *testRoom) *pdu.PDU { return member(r, kate, kate, `{"membership":"join"}`) },
		want:  at("1-5", "5.2.6", "6-7", "4.2.6", "8-11", "4.3.7", "12", "5.3.7"),
	},
	{
		name:  "5.3.5.1 invited user joins a restricted room",
		setup: func(r *testRoom) { r.joinRule("restricted") },
		event: func(r *testRoom) *pdu.PDU { return member(r, ivan, ivan, `{"membership":"join"}`) },
		want:  at("1-5", "5.2.6", "6-7", "4.2.6", "8-12", ""),
	},
	{
		name:  "5.3.5.2 restricted join without an authorising user",
		setup: func(r *testRoom) { r.joinRule("restricted") },
		event: func(r *testRoom) *pdu.PDU { return member(r, carol, carol, `{"membership":"join"}`) },
		want:  at("1-5", "5.2.6", "6-7", "4.2.6", "8-11", "4.3.5.2", "12", "5.3.5.2"),
	},
	{
		name:  "5.3.5.2 restricted join authorised by a user who is not joined",
		setup: func(r *testRoom) { r.joinRule("restricted") },
		event: func(r *testRoom) *pdu.PDU {
			return member(r, carol, carol, fmt.Sprintf(`{"membership":"join","join_authorised_via_users_server":%q}`, ivan), signedBy("i.net"))
		},
		want: at("1-5", "5.2.6", "6-7", "4.2.6", "8-11", "4.3.5.2", "12", "5.3.5.2"),
	},
	{
		name: "5.3.5.2 restricted join authorised by a user below the invite level",
		setup: func(r *testRoom) {
			r.joinRule("restricted")
			r.powerLevels(plContent(r, modUsers(), `"invite":50`))
		},
		event: func(r *testRoom) *pdu.PDU {
			return member(r, carol, carol, fmt.Sprintf(`{"membership":"join","join_authorised_via_users_server":%q}`, bob), signedBy("b.org"))
		},
		want: at("1-5", "5.2.6", "6-7", "4.2.6", "8-11", "4.3.5.2", "12", "5.3.5.2"),
	},
	{
		name: "5.3.5.3 restricted join authorised by a joined user with invite power",
		setup: func(r *testRoom) {
			r.joinRule("restricted")
			r.powerLevels(plContent(r, modUsers(), `"invite":50`))
		},
		event: func(r *testRoom) *pdu.PDU {
			return member(r, carol, carol, fmt.Sprintf(`{"membership":"join","join_authorised_via_users_server":%q}`, mod), signedBy("a.com"))
		},
		want: at("1-5", "5.2.6", "6-7", "4.2.6", "8-12", ""),
	},
	{
		name: "5.3.5.3 restricted join authorised by a creator (infinite power in v12)",
		setup: func(r *testRoom) {
			r.joinRule("restricted")
			r.powerLevels(plContent(r, modUsers(), `"invite":1000`))
		},
		event: func(r *testRoom) *pdu.PDU {
			return member(r, carol, carol, fmt.Sprintf(`{"membership":"join","join_authorised_via_users_server":%q}`, alice), signedBy("a.com"))
		},
		want: at("8-11", "4.3.5.2", "12", ""),
	},
	{
		name:  "5.3.5 knock_restricted join (v10+)",
		setup: func(r *testRoom) { r.joinRule("knock_restricted") },
		event: func(r *testRoom) *pdu.PDU {
			return member(r, carol, carol, fmt.Sprintf(`{"membership":"join","join_authorised_via_users_server":%q}`, mod), signedBy("a.com"))
		},
		want: at("1-5", "5.2.6", "6-7", "4.2.6", "8-9", "4.3.7", "10-12", ""),
	},
	{
		name:  "5.3.6 join a public room",
		setup: func(r *testRoom) { r.joinRule("public") },
		event: func(r *testRoom) *pdu.PDU { return member(r, carol, carol, `{"membership":"join"}`) },
		want:  at("1-12", ""),
	},
	{
		name:  "5.3.7 join with no join rules",
		setup: func(r *testRoom) { delete(r.state, eventauth.StateKey{Type: eventauth.TypeJoinRules}) },
		event: func(r *testRoom) *pdu.PDU { return member(r, carol, carol, `{"membership":"join"}`) },
		want:  at("1-5", "5.2.6", "6-7", "4.2.6", "8-11", "4.3.7", "12", "5.3.7"),
	},
	{
		name:  "5.3.7 join with an unknown join rule",
		setup: func(r *testRoom) { r.joinRule("private") },
		event: func(r *testRoom) *pdu.PDU { return member(r, ivan, ivan, `{"membership":"join"}`) },
		want:  at("1-5", "5.2.6", "6-7", "4.2.6", "8-11", "4.3.7", "12", "5.3.7"),
	},

	// Invites.
	{
		name:  "5.4.4 invite by a joined user with invite power",
		event: func(r *testRoom) *pdu.PDU { return member(r, bob, carol, `{"membership":"invite"}`) },
		want:  at("1-12", ""),
	},
	{
		name:  "5.4.2 invite by a non-member",
		event: func(r *testRoom) *pdu.PDU { return member(r, ivan, carol, `{"membership":"invite"}`) },
		want:  at("1-5", "5.3.2", "6-7", "4.3.2", "8-11", "4.4.2", "12", "5.4.2"),
	},
	{
		name:  "5.4.3 invite a joined user",
		event: func(r *testRoom) *pdu.PDU { return member(r, alice, bob, `{"membership":"invite"}`) },
		want:  at("1-5", "5.3.3", "6-7", "4.3.3", "8-11", "4.4.3", "12", "5.4.3"),
	},
	{
		name:  "5.4.3 invite a banned user",
		event: func(r *testRoom) *pdu.PDU { return member(r, alice, eve, `{"membership":"invite"}`) },
		want:  at("1-5", "5.3.3", "6-7", "4.3.3", "8-11", "4.4.3", "12", "5.4.3"),
	},
	{
		name:  "5.4.5 invite below the invite level",
		setup: func(r *testRoom) { r.powerLevels(plContent(r, modUsers(), `"invite":50`)) },
		event: func(r *testRoom) *pdu.PDU { return member(r, bob, carol, `{"membership":"invite"}`) },
		want:  at("1-5", "5.3.5", "6-7", "4.3.5", "8-11", "4.4.5", "12", "5.4.5"),
	},

	// Third-party invites.
	{
		name:  "5.4.1.7 third-party invite with a valid signature",
		setup: tpSetup,
		event: func(r *testRoom) *pdu.PDU {
			return member(r, alice, carol, tpContent(r, carol, signedBlock(r.t, carol, "tok", tpPriv)))
		},
		want: at("1-12", ""),
	},
	{
		name: "5.4.1.7 third-party invite signed by a key in public_keys",
		setup: func(r *testRoom) {
			other := publicKeyOf(otherKey)
			tpInviteState(r, alice, "tok", fmt.Sprintf(`{"display_name":"c","public_key":%q,"public_keys":[{"public_key":%q}]}`, other, tpPub))
		},
		event: func(r *testRoom) *pdu.PDU {
			return member(r, alice, carol, tpContent(r, carol, signedBlock(r.t, carol, "tok", tpPriv)))
		},
		want: at("1-12", ""),
	},
	{
		name:  "5.4.1.1 third-party invite for a banned user",
		setup: tpSetup,
		event: func(r *testRoom) *pdu.PDU {
			return member(r, alice, eve, tpContent(r, eve, signedBlock(r.t, eve, "tok", tpPriv)))
		},
		want: at("1-5", "5.3.1.1", "6-7", "4.3.1.1", "8-11", "4.4.1.1", "12", "5.4.1.1"),
	},
	{
		name:  "5.4.1.2 third-party invite without signed",
		setup: tpSetup,
		event: func(r *testRoom) *pdu.PDU {
			return member(r, alice, carol, `{"membership":"invite","third_party_invite":{"display_name":"c"}}`)
		},
		want: at("1-5", "5.3.1.2", "6-7", "4.3.1.2", "8-11", "4.4.1.2", "12", "5.4.1.2"),
	},
	{
		name:  "5.4.1.3 signed without token",
		setup: tpSetup,
		event: func(r *testRoom) *pdu.PDU {
			return member(r, alice, carol, tpContent(r, carol, fmt.Sprintf(`{"mxid":%q,"signatures":{}}`, carol)))
		},
		want: at("1-5", "5.3.1.3", "6-7", "4.3.1.3", "8-11", "4.4.1.3", "12", "5.4.1.3"),
	},
	{
		name:  "5.4.1.4 signed mxid differs from state_key",
		setup: tpSetup,
		event: func(r *testRoom) *pdu.PDU {
			return member(r, alice, carol, tpContent(r, carol, signedBlock(r.t, "@dave:d.org", "tok", tpPriv)))
		},
		want: at("1-5", "5.3.1.4", "6-7", "4.3.1.4", "8-11", "4.4.1.4", "12", "5.4.1.4"),
	},
	{
		name:  "5.4.1.5 no m.room.third_party_invite for the token",
		setup: tpSetup,
		event: func(r *testRoom) *pdu.PDU {
			return member(r, alice, carol, tpContent(r, carol, signedBlock(r.t, carol, "other", tpPriv)))
		},
		want: at("1-5", "5.3.1.5", "6-7", "4.3.1.5", "8-11", "4.4.1.5", "12", "5.4.1.5"),
	},
	{
		name:  "5.4.1.6 sender differs from the third-party invite's sender",
		setup: tpSetup,
		event: func(r *testRoom) *pdu.PDU {
			return member(r, mod, carol, tpContent(r, carol, signedBlock(r.t, carol, "tok", tpPriv)))
		},
		want: at("1-5", "5.3.1.6", "6-7", "4.3.1.6", "8-11", "4.4.1.6", "12", "5.4.1.6"),
	},
	{
		name:  "5.4.1.8 signature by an unknown key",
		setup: tpSetup,
		event: func(r *testRoom) *pdu.PDU {
			return member(r, alice, carol, tpContent(r, carol, signedBlock(r.t, carol, "tok", otherKey)))
		},
		want: at("1-5", "5.3.1.8", "6-7", "4.3.1.8", "8-11", "4.4.1.8", "12", "5.4.1.8"),
	},

	// Leaves and kicks.
	{
		name:  "5.5.1 joined user leaves",
		event: func(r *testRoom) *pdu.PDU { return member(r, bob, bob, `{"membership":"leave"}`) },
		want:  at("1-12", ""),
	},
	{
		name:  "5.5.1 invited user rejects",
		event: func(r *testRoom) *pdu.PDU { return member(r, ivan, ivan, `{"membership":"leave"}`) },
		want:  at("1-12", ""),
	},
	{
		name:  "5.5.1 knocking user retracts (v7+)",
		event: func(r *testRoom) *pdu.PDU { return member(r, kate, kate, `{"membership":"leave"}`) },
		want:  at("1-5", "5.4.1", "6", "4.4.1", "7-12", ""),
	},
	{
		name:  "5.5.1 non-member leaves",
		event: func(r *testRoom) *pdu.PDU { return member(r, carol, carol, `{"membership":"leave"}`) },
		want:  at("1-5", "5.4.1", "6-7", "4.4.1", "8-11", "4.5.1", "12", "5.5.1"),
	},
	{
		name:  "5.5.1 banned user leaves",
		event: func(r *testRoom) *pdu.PDU { return member(r, eve, eve, `{"membership":"leave"}`) },
		want:  at("1-5", "5.4.1", "6-7", "4.4.1", "8-11", "4.5.1", "12", "5.5.1"),
	},
	{
		name:  "5.5.2 kick by a non-member",
		event: func(r *testRoom) *pdu.PDU { return member(r, ivan, bob, `{"membership":"leave"}`) },
		want:  at("1-5", "5.4.2", "6-7", "4.4.2", "8-11", "4.5.2", "12", "5.5.2"),
	},
	{
		name:  "5.5.3 unban below the ban level",
		setup: func(r *testRoom) { r.powerLevels(plContent(r, modUsers(), `"ban":75`)) },
		event: func(r *testRoom) *pdu.PDU { return member(r, mod, eve, `{"membership":"leave"}`) },
		want:  at("1-5", "5.4.3", "6-7", "4.4.3", "8-11", "4.5.3", "12", "5.5.3"),
	},
	{
		name:  "5.5.4 unban with ban and kick power",
		event: func(r *testRoom) *pdu.PDU { return member(r, mod, eve, `{"membership":"leave"}`) },
		want:  at("1-12", ""),
	},
	{
		name:  "5.5.4 kick a lower user",
		event: func(r *testRoom) *pdu.PDU { return member(r, mod, bob, `{"membership":"leave"}`) },
		want:  at("1-12", ""),
	},
	{
		name:  "5.5.5 kick below the kick level",
		event: func(r *testRoom) *pdu.PDU { return member(r, bob, mod, `{"membership":"leave"}`) },
		want:  at("1-5", "5.4.5", "6-7", "4.4.5", "8-11", "4.5.5", "12", "5.5.5"),
	},
	{
		name:  "5.5.5 kick a higher user",
		event: func(r *testRoom) *pdu.PDU { return member(r, mod, alice, `{"membership":"leave"}`) },
		want:  at("1-5", "5.4.5", "6-7", "4.4.5", "8-11", "4.5.5", "12", "5.5.5"),
	},
	{
		name: "5.5.5 kick an equal user",
		setup: func(r *testRoom) {
			r.powerLevels(plContent(r, modUsers()+fmt.Sprintf(`,%q:50`, bob), stdRest))
		},
		event: func(r *testRoom) *pdu.PDU { return member(r, mod, bob, `{"membership":"leave"}`) },
		want:  at("1-5", "5.4.5", "6-7", "4.4.5", "8-11", "4.5.5", "12", "5.5.5"),
	},

	// Bans.
	{
		name:  "5.6.2 ban a lower user",
		event: func(r *testRoom) *pdu.PDU { return member(r, mod, bob, `{"membership":"ban"}`) },
		want:  at("1-12", ""),
	},
	{
		name:  "5.6.1 ban by a non-member",
		event: func(r *testRoom) *pdu.PDU { return member(r, ivan, bob, `{"membership":"ban"}`) },
		want:  at("1-5", "5.5.1", "6-7", "4.5.1", "8-11", "4.6.1", "12", "5.6.1"),
	},
	{
		name:  "5.6.3 ban below the ban level",
		event: func(r *testRoom) *pdu.PDU { return member(r, bob, carol, `{"membership":"ban"}`) },
		want:  at("1-5", "5.5.3", "6-7", "4.5.3", "8-11", "4.6.3", "12", "5.6.3"),
	},
	{
		name:  "5.6.3 ban a higher user",
		event: func(r *testRoom) *pdu.PDU { return member(r, mod, alice, `{"membership":"ban"}`) },
		want:  at("1-5", "5.5.3", "6-7", "4.5.3", "8-11", "4.6.3", "12", "5.6.3"),
	},

	// Knocks.
	{
		name:  "5.7.3 knock on a knock room",
		setup: func(r *testRoom) { r.joinRule("knock") },
		event: func(r *testRoom) *pdu.PDU { return member(r, carol, carol, `{"membership":"knock"}`) },
		want:  at("1-5", "5.6", "6", "4.6", "7-12", ""),
	},
	{
		name:  "5.7.3 knock on a knock_restricted room (v10+)",
		setup: func(r *testRoom) { r.joinRule("knock_restricted") },
		event: func(r *testRoom) *pdu.PDU { return member(r, carol, carol, `{"membership":"knock"}`) },
		want:  at("7", "4.6.1", "8-9", "4.7.1", "10-12", ""),
	},
	{
		name:  "5.7.1 knock on an invite-only room",
		event: func(r *testRoom) *pdu.PDU { return member(r, carol, carol, `{"membership":"knock"}`) },
		want:  at("7", "4.6.1", "8-11", "4.7.1", "12", "5.7.1"),
	},
	{
		name:  "5.7.2 knock for somebody else",
		setup: func(r *testRoom) { r.joinRule("knock") },
		event: func(r *testRoom) *pdu.PDU { return member(r, bob, carol, `{"membership":"knock"}`) },
		want:  at("7", "4.6.2", "8-11", "4.7.2", "12", "5.7.2"),
	},
	{
		name:  "5.7.4 knock while joined",
		setup: func(r *testRoom) { r.joinRule("knock") },
		event: func(r *testRoom) *pdu.PDU { return member(r, bob, bob, `{"membership":"knock"}`) },
		want:  at("7", "4.6.4", "8-11", "4.7.4", "12", "5.7.4"),
	},
	{
		name:  "5.7.4 knock while banned",
		setup: func(r *testRoom) { r.joinRule("knock") },
		event: func(r *testRoom) *pdu.PDU { return member(r, eve, eve, `{"membership":"knock"}`) },
		want:  at("7", "4.6.4", "8-11", "4.7.4", "12", "5.7.4"),
	},
	{
		name:  "5.8 unknown membership",
		event: func(r *testRoom) *pdu.PDU { return member(r, bob, bob, `{"membership":"dance"}`) },
		want:  at("1-5", "5.6", "6", "4.6", "7", "4.7", "8-11", "4.8", "12", "5.8"),
	},
	{
		name:  "5.8 membership not a string",
		event: func(r *testRoom) *pdu.PDU { return member(r, bob, bob, `{"membership":["join"]}`) },
		want:  at("1-5", "5.6", "6", "4.6", "7", "4.7", "8-11", "4.8", "12", "5.8"),
	},

	// Rule 6 (5 in v6–v11): the sender must be joined.
	{
		name:  "6 message from a non-member",
		event: func(r *testRoom) *pdu.PDU { return r.message(typeMessage, carol, `{}`) },
		want:  at("1-5", "6", "6-11", "5", "12", "6"),
	},
	{
		name:  "6 message from an invited user",
		event: func(r *testRoom) *pdu.PDU { return r.message(typeMessage, ivan, `{}`) },
		want:  at("1-5", "6", "6-11", "5", "12", "6"),
	},
	{
		name:  "6 message from a member",
		event: func(r *testRoom) *pdu.PDU { return r.message(typeMessage, bob, `{}`) },
		want:  at("1-12", ""),
	},

	// Rule 7 (6 in v6–v11): m.room.third_party_invite.
	{
		name:  "7.1 third-party invite event at the invite level",
		event: func(r *testRoom) *pdu.PDU { return r.state_(eventauth.TypeThirdPartyInvite, bob, "tok", `{}`) },
		want:  at("1-12", ""),
	},
	{
		name:  "7.1 third-party invite event below the invite level",
		setup: func(r *testRoom) { r.powerLevels(plContent(r, modUsers(), `"invite":50`)) },
		event: func(r *testRoom) *pdu.PDU { return r.state_(eventauth.TypeThirdPartyInvite, bob, "tok", `{}`) },
		want:  at("1-5", "7.1", "6-11", "6.1", "12", "7.1"),
	},

	// Rule 8 (7 in v6–v11): required power level.
	{
		name:  "8 state event below state_default",
		event: func(r *testRoom) *pdu.PDU { return r.state_(typeTopic, bob, "", `{"topic":"x"}`) },
		want:  at("1-5", "8", "6-11", "7", "12", "8"),
	},
	{
		name:  "8 event below its events level",
		event: func(r *testRoom) *pdu.PDU { return r.state_(typeName, bob, "", `{"name":"x"}`) },
		want:  at("1-5", "8", "6-11", "7", "12", "8"),
	},
	{
		name:  "8 message below events_default",
		setup: func(r *testRoom) { r.powerLevels(plContent(r, modUsers(), `"events_default":10`)) },
		event: func(r *testRoom) *pdu.PDU { return r.message(typeMessage, bob, `{}`) },
		want:  at("1-5", "8", "6-11", "7", "12", "8"),
	},
	{
		name:  "8 state event at its level",
		event: func(r *testRoom) *pdu.PDU { return r.state_(typeName, mod, "", `{"name":"x"}`) },
		want:  at("1-12", ""),
	},
	{
		name:  "8 state_default is 50 without power levels",
		setup: func(r *testRoom) { delete(r.state, eventauth.StateKey{Type: eventauth.TypePowerLevels}) },
		event: func(r *testRoom) *pdu.PDU { return r.state_(typeTopic, mod, "", `{"topic":"x"}`) },
		want:  at("1-5", "8", "6-11", "7", "12", "8"),
	},
	{
		name:  "8 creator has 100 (v12: infinite) without power levels",
		setup: func(r *testRoom) { delete(r.state, eventauth.StateKey{Type: eventauth.TypePowerLevels}) },
		event: func(r *testRoom) *pdu.PDU { return r.state_(typeTopic, alice, "", `{"topic":"x"}`) },
		want:  at("1-12", ""),
	},

	// Rule 9 (8 in v6–v11): state keys naming users.
	{
		name:  "9 state_key of another user",
		event: func(r *testRoom) *pdu.PDU { return r.state_("com.example.x", mod, bob, `{}`) },
		want:  at("1-5", "9", "6-11", "8", "12", "9"),
	},
	{
		name:  "9 state_key of the sender",
		event: func(r *testRoom) *pdu.PDU { return r.state_("com.example.x", mod, mod, `{}`) },
		want:  at("1-12", ""),
	},

	// Rule 10 (9 in v6–v11): m.room.power_levels.
	{
		name: "10 power levels change within the sender's power",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers()+fmt.Sprintf(`,%q:20`, bob), `"kick":40`))
		},
		want: at("1-12", ""),
	},
	{
		name: "10.1 users key not a user ID",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers()+`,"bob":10`, stdRest))
		},
		want: at("1-5", "10.1", "6-9", "9.1", "10-11", "9.3", "12", "10.3"),
	},
	{
		name: "10.1 users value not a number",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers()+fmt.Sprintf(`,%q:true`, bob), stdRest))
		},
		want: at("1-5", "10.1", "6-9", "9.1", "10-11", "9.3", "12", "10.3"),
	},
	{
		name: "10.1 users value a string integer (v1–v9)",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers()+fmt.Sprintf(`,%q:" +010 "`, bob), stdRest))
		},
		want: at("1-9", "", "10-11", "9.3", "12", "10.3"),
	},
	{
		name: "10.1 users value a string that is not an integer",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers()+fmt.Sprintf(`,%q:"10.5"`, bob), stdRest))
		},
		want: at("1-5", "10.1", "6-9", "9.1", "10-11", "9.3", "12", "10.3"),
	},
	{
		name: "10.1 users value a float (v1–v5 truncate)",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers()+fmt.Sprintf(`,%q:10.9`, bob), stdRest))
		},
		want: at("1-5", "", "6-9", "9.1", "10-11", "9.3", "12", "10.3"),
	},
	{
		name: "10.1 top-level level a string (v10+)",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers(), `"users_default":0,"events":{"m.room.name":50,"m.room.power_levels":50},"events_default":0,"state_default":50,"ban":"50","kick":50,"redact":50,"invite":0`))
		},
		want: at("1-9", "", "10-11", "9.1", "12", "10.1"),
	},
	{
		name: "10.2 events value a string (v10+)",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers(), `"users_default":0,"events":{"m.room.name":"50","m.room.power_levels":50},"events_default":0,"state_default":50,"ban":50,"kick":50,"redact":50,"invite":0`))
		},
		want: at("1-9", "", "10-11", "9.2", "12", "10.2"),
	},
	{
		name: "10.2 notifications not an object (v10+)",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers(), stdRest+`,"notifications":50`))
		},
		want: at("1-9", "", "10-11", "9.2", "12", "10.2"),
	},
	{
		name: "10.4 creator listed in users (v12)",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, fmt.Sprintf(`{"users":{%q:50,%q:50},%s}`, mod, alice, stdRest))
		},
		want: at("12", "10.4"),
	},
	{
		name: "10.4 additional creator listed in users (v12)",
		setup: func(r *testRoom) {
			c := *r.create
			c.Content = []byte(fmt.Sprintf(`{"additional_creators":[%q]}`, bob))
			r.put(&c)
		},
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, bob, fmt.Sprintf(`{"users":{%q:50,%q:10},%s}`, mod, bob, stdRest))
		},
		want: at("12", "10.4"),
	},
	{
		name:  "10.5 first power levels are not compared",
		setup: func(r *testRoom) { delete(r.state, eventauth.StateKey{Type: eventauth.TypePowerLevels}) },
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, alice, plContent(r, fmt.Sprintf(`%q:1000`, bob), `"ban":1000`))
		},
		want: at("1-12", ""),
	},
	{
		name: "10.6.1 change a top-level level above the sender",
		setup: func(r *testRoom) {
			r.powerLevels(plContent(r, modUsers(), `"events":{"m.room.power_levels":50},"redact":75`))
		},
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers(), `"events":{"m.room.power_levels":50},"redact":40`))
		},
		want: at("1-5", "10.3.1", "6-9", "9.3.1", "10-11", "9.5.1", "12", "10.6.1"),
	},
	{
		name: "10.6.1 remove a top-level level above the sender",
		setup: func(r *testRoom) {
			r.powerLevels(plContent(r, modUsers(), `"events":{"m.room.power_levels":50},"redact":75`))
		},
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers(), `"events":{"m.room.power_levels":50}`))
		},
		want: at("1-5", "10.3.1", "6-9", "9.3.1", "10-11", "9.5.1", "12", "10.6.1"),
	},
	{
		name: "10.6.2 add a top-level level above the sender",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers(), `"users_default":0,"events":{"m.room.name":50,"m.room.power_levels":50},"events_default":0,"state_default":50,"ban":50,"kick":50,"redact":50,"invite":60`))
		},
		want: at("1-5", "10.3.2", "6-9", "9.3.2", "10-11", "9.5.2", "12", "10.6.2"),
	},
	{
		name: "10.6 a string level equal to the integer is no change (v1–v9)",
		setup: func(r *testRoom) {
			r.powerLevels(plContent(r, modUsers(), `"events":{"m.room.power_levels":50},"ban":100`))
		},
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers(), `"events":{"m.room.power_levels":50},"ban":"100"`))
		},
		want: at("1-9", "", "10-11", "9.1", "12", "10.1"),
	},
	{
		name: "10.7.1 remove an events entry above the sender",
		setup: func(r *testRoom) {
			r.powerLevels(plContent(r, modUsers(), `"events":{"m.room.power_levels":50,"m.room.tombstone":100}`))
		},
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers(), `"events":{"m.room.power_levels":50}`))
		},
		want: at("1-5", "10.4.1", "6-9", "9.4.1", "10-11", "9.6.1", "12", "10.7.1"),
	},
	{
		name: "10.8.1 add an events entry above the sender",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers(), `"users_default":0,"events":{"m.room.name":50,"m.room.power_levels":50,"m.room.topic":60},"events_default":0,"state_default":50,"ban":50,"kick":50,"redact":50,"invite":0`))
		},
		want: at("1-5", "10.5.1", "6-9", "9.5.1", "10-11", "9.7.1", "12", "10.8.1"),
	},
	{
		name: "10.7.1 change a notifications entry above the sender (v6+)",
		setup: func(r *testRoom) {
			r.powerLevels(plContent(r, modUsers(), `"events":{"m.room.power_levels":50},"notifications":{"room":100}`))
		},
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers(), `"events":{"m.room.power_levels":50},"notifications":{"room":0}`))
		},
		want: at("1-5", "", "6-9", "9.4.1", "10-11", "9.6.1", "12", "10.7.1"),
	},
	{
		name: "10.8.1 add a notifications entry above the sender (v6+)",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers(), stdRest+`,"notifications":{"room":60}`))
		},
		want: at("1-5", "", "6-9", "9.5.1", "10-11", "9.7.1", "12", "10.8.1"),
	},
	{
		name: "10.9.1 demote a user of equal power",
		setup: func(r *testRoom) {
			r.powerLevels(plContent(r, modUsers()+fmt.Sprintf(`,%q:50`, bob), stdRest))
		},
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers()+fmt.Sprintf(`,%q:10`, bob), stdRest))
		},
		want: at("1-5", "10.6.1", "6-9", "9.6.1", "10-11", "9.8.1", "12", "10.9.1"),
	},
	{
		name: "10.9.1 demote a higher user",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, fmt.Sprintf(`{"users":{%q:50,%q:10},%s}`, mod, alice, stdRest))
		},
		want: at("1-5", "10.6.1", "6-9", "9.6.1", "10-11", "9.8.1", "12", "10.4"),
	},
	{
		name: "10.9 demote oneself",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, fmt.Sprintf(`%q:10`, mod), stdRest))
		},
		want: at("1-12", ""),
	},
	{
		name: "10.10.1 promote above the sender",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, modUsers()+fmt.Sprintf(`,%q:51`, bob), stdRest))
		},
		want: at("1-5", "10.7.1", "6-9", "9.7.1", "10-11", "9.9.1", "12", "10.10.1"),
	},
	{
		name: "10.10.1 promote oneself",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, mod, plContent(r, fmt.Sprintf(`%q:51`, mod), stdRest))
		},
		want: at("1-5", "10.7.1", "6-9", "9.7.1", "10-11", "9.9.1", "12", "10.10.1"),
	},
	{
		name: "10 creator changes anything (v12: infinite power)",
		event: func(r *testRoom) *pdu.PDU {
			return powerLevelsEvent(r, alice, plContent(r, fmt.Sprintf(`%q:9000`, bob), `"ban":9000`))
		},
		want: at("1-5", "10.3.2", "6-9", "9.3.2", "10-11", "9.5.2", "12", ""),
	},

	// Rule 11 (v1, v2): m.room.redaction.
	{
		name: "11.1 redaction at the redact level",
		event: func(r *testRoom) *pdu.PDU {
			return r.message(eventauth.TypeRedaction, mod, `{}`, withRedacts("$x:b.org"))
		},
		want: at("1-12", ""),
	},
	{
		name: "11.2 redaction of an event from the sender's server",
		event: func(r *testRoom) *pdu.PDU {
			return r.message(eventauth.TypeRedaction, bob, `{}`, withRedacts("$x:b.org"), withID("$r:b.org"))
		},
		want: at("1-12", ""),
	},
	{
		name: "11.3 redaction of another server's event below the redact level",
		event: func(r *testRoom) *pdu.PDU {
			return r.message(eventauth.TypeRedaction, bob, `{}`, withRedacts("$x:a.com"), withID("$r:b.org"))
		},
		want: at("1-2", "11.3", "3-12", ""),
	},
}

func emptyRoomOnly(t testing.TB, vid string) *testRoom { return emptyRoom(t, vid) }

func tpSetup(r *testRoom) {
	tpInviteState(r, alice, "tok", fmt.Sprintf(`{"display_name":"c","public_key":%q}`, tpPub))
}

func TestAuthorizeRules(t *testing.T) {
	for _, tc := range ruleCases {
		versions := make([]string, 0, len(tc.want))
		for v := range tc.want {
			versions = append(versions, v)
		}
		sort.Slice(versions, func(i, j int) bool {
			return len(versions[i]) < len(versions[j]) || len(versions[i]) == len(versions[j]) && versions[i] < versions[j]
		})
		for _, vid := range versions {
			t.Run(tc.name+"/v"+vid, func(t *testing.T) {
				room := tc.room
				if room == nil {
					room = newRoom
				}
				r := room(t, vid)
				if tc.setup != nil {
					tc.setup(r)
				}
				ev := tc.event(r)
				err := eventauth.Authorize(r.v, ev, r.state.Lookup, testOptions)
				if got, want := ruleOf(t, err), tc.want[vid]; got != want {
					t.Errorf("Authorize() = %v, want rule %q", err, want)
				}
				if err != nil && !errors.Is(err, eventauth.ErrUnauthorized) {
					t.Errorf("errors.Is(%v, ErrUnauthorized) = false", err)
				}
			})
		}
	}
}

// rejectingRules lists, per room version, every rule of the spec that can
// reject an event, written out from rooms/v*.md. Rules that allow "if and
// only if" are listed under their own number; "allow if … otherwise fall
// through" rules under the "Otherwise, reject" that follows.
var rejectingRules = map[string][]string{
	"1-2": {"1.1", "1.2", "1.3", "1.4", "2.4", "3", "4.1", "4.2", "5.1",
		"5.2.2", "5.2.3", "5.2.6",
		"5.3.1.1", "5.3.1.2", "5.3.1.3", "5.3.1.4", "5.3.1.5", "5.3.1.6", "5.3.1.8", "5.3.2", "5.3.3", "5.3.5",
		"5.4.1", "5.4.2", "5.4.3", "5.4.5", "5.5.1", "5.5.3", "5.6",
		"6", "7.1", "8", "9", "10.1", "10.3.1", "10.3.2", "10.4.1", "10.5.1", "10.6.1", "10.7.1", "11.3"},
	"3-5": {"1.1", "1.2", "1.3", "1.4", "2.4", "3", "4.1", "4.2", "5.1",
		"5.2.2", "5.2.3", "5.2.6",
		"5.3.1.1", "5.3.1.2", "5.3.1.3", "5.3.1.4", "5.3.1.5", "5.3.1.6", "5.3.1.8", "5.3.2", "5.3.3", "5.3.5",
		"5.4.1", "5.4.2", "5.4.3", "5.4.5", "5.5.1", "5.5.3", "5.6",
		"6", "7.1", "8", "9", "10.1", "10.3.1", "10.3.2", "10.4.1", "10.5.1", "10.6.1", "10.7.1"},
	"6": {"1.1", "1.2", "1.3", "1.4", "2.4", "3", "4.1",
		"4.2.2", "4.2.3", "4.2.6",
		"4.3.1.1", "4.3.1.2", "4.3.1.3", "4.3.1.4", "4.3.1.5", "4.3.1.6", "4.3.1.8", "4.3.2", "4.3.3", "4.3.5",
		"4.4.1", "4.4.2", "4.4.3", "4.4.5", "4.5.1", "4.5.3", "4.6",
		"5", "6.1", "7", "8", "9.1", "9.3.1", "9.3.2", "9.4.1", "9.5.1", "9.6.1", "9.7.1"},
	"7": {"1.1", "1.2", "1.3", "1.4", "2.4", "3", "4.1",
		"4.2.2", "4.2.3", "4.2.6",
		"4.3.1.1", "4.3.1.2", "4.3.1.3", "4.3.1.4", "4.3.1.5", "4.3.1.6", "4.3.1.8", "4.3.2", "4.3.3", "4.3.5",
		"4.4.1", "4.4.2", "4.4.3", "4.4.5", "4.5.1", "4.5.3", "4.6.1", "4.6.2", "4.6.4", "4.7",
		"5", "6.1", "7", "8", "9.1", "9.3.1", "9.3.2", "9.4.1", "9.5.1", "9.6.1", "9.7.1"},
	"8-9": {"1.1", "1.2", "1.3", "1.4", "2.4", "3", "4.1", "4.2.1",
		"4.3.2", "4.3.3", "4.3.5.2", "4.3.7",
		"4.4.1.1", "4.4.1.2", "4.4.1.3", "4.4.1.4", "4.4.1.5", "4.4.1.6", "4.4.1.8", "4.4.2", "4.4.3", "4.4.5",
		"4.5.1", "4.5.2", "4.5.3", "4.5.5", "4.6.1", "4.6.3", "4.7.1", "4.7.2", "4.7.4", "4.8",
		"5", "6.1", "7", "8", "9.1", "9.3.1", "9.3.2", "9.4.1", "9.5.1", "9.6.1", "9.7.1"},
	"10": {"1.1", "1.2", "1.3", "1.4", "2.4", "3", "4.1", "4.2.1",
		"4.3.2", "4.3.3", "4.3.5.2", "4.3.7",
		"4.4.1.1", "4.4.1.2", "4.4.1.3", "4.4.1.4", "4.4.1.5", "4.4.1.6", "4.4.1.8", "4.4.2", "4.4.3", "4.4.5",
		"4.5.1", "4.5.2", "4.5.3", "4.5.5", "4.6.1", "4.6.3", "4.7.1", "4.7.2", "4.7.4", "4.8",
		"5", "6.1", "7", "8", "9.1", "9.2", "9.3", "9.5.1", "9.5.2", "9.6.1", "9.7.1", "9.8.1", "9.9.1"},
	"11": {"1.1", "1.2", "1.3", "2.4", "3", "4.1", "4.2.1",
		"4.3.2", "4.3.3", "4.3.5.2", "4.3.7",
		"4.4.1.1", "4.4.1.2", "4.4.1.3", "4.4.1.4", "4.4.1.5", "4.4.1.6", "4.4.1.8", "4.4.2", "4.4.3", "4.4.5",
		"4.5.1", "4.5.2", "4.5.3", "4.5.5", "4.6.1", "4.6.3", "4.7.1", "4.7.2", "4.7.4", "4.8",
		"5", "6.1", "7", "8", "9.1", "9.2", "9.3", "9.5.1", "9.5.2", "9.6.1", "9.7.1", "9.8.1", "9.9.1"},
	"12": {"1.1", "1.2", "1.3", "1.4", "2", "4", "5.1", "5.2.1",
		"5.3.2", "5.3.3", "5.3.5.2", "5.3.7",
		"5.4.1.1", "5.4.1.2", "5.4.1.3", "5.4.1.4", "5.4.1.5", "5.4.1.6", "5.4.1.8", "5.4.2", "5.4.3", "5.4.5",
		"5.5.1", "5.5.2", "5.5.3", "5.5.5", "5.6.1", "5.6.3", "5.7.1", "5.7.2", "5.7.4", "5.8",
		"6", "7.1", "8", "9", "10.1", "10.2", "10.3", "10.4", "10.6.1", "10.6.2", "10.7.1", "10.8.1", "10.9.1", "10.10.1"},
}

// TestEveryRuleBroken checks that every rejecting rule of every room version
// is broken by at least one case of TestAuthorizeRules (rules on the
// auth_events list are covered by TestCheckAuthEvents).
func TestEveryRuleBroken(t *testing.T) {
	tested := map[string]map[string]bool{}
	for _, tc := range ruleCases {
		for v, rule := range tc.want {
			if tested[v] == nil {
				tested[v] = map[string]bool{}
			}
			tested[v][rule] = true
		}
	}
	for span, rules := range rejectingRules {
		for _, v := range versionsIn(span) {
			var missing []string
			for _, rule := range rules {
				if strings := tested[v]; !strings[rule] {
					missing = append(missing, rule)
				}
			}
			if len(missing) > 0 {
				t.Errorf("room version %s: no case breaks rules %v", v, missing)
			}
			for rule := range tested[v] {
				if rule != "" && !slices.Contains(rules, rule) {
					t.Errorf("room version %s: a case expects rule %q, which the spec does not list", v, rule)
				}
			}
		}
	}
}
