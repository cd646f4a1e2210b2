package eventauth_test

import (
	"fmt"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

// memberCases cover rule 5 (4 in v6–v11): m.room.member.
var memberCases = []ruleCase{
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
}
