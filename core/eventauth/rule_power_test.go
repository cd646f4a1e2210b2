package eventauth_test

import (
	"fmt"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

// powerCases cover rules 6–11: membership of the sender, third-party
// invites, required power levels, user state keys, m.room.power_levels and
// (v1, v2) m.room.redaction.
var powerCases = []ruleCase{
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
